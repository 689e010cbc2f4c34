#pragma once

#include <pybind11/pybind11.h>

namespace irforge::bindings {

void register_caffe(pybind11::module_& m);

}  // namespace irforge::bindings
