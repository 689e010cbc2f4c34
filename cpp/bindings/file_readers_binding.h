#pragma once

#include <pybind11/pybind11.h>

namespace irforge::bindings {

// irforge._core.read_caffe, read_mxnet and read_kaldi (cpp/bindings/file_readers_binding.cc).
void register_file_readers(pybind11::module_& m);

}  // namespace irforge::bindings
