// Registration entry points of binding files other than module.cc (pybind11 allows one
// PYBIND11_MODULE; each file adds its classes to that module through one of these).
#pragma once

#include <pybind11/pybind11.h>

namespace irforge::bindings {

// irforge._core.Builder and friends (cpp/bindings/builder.cc).
void register_builder(pybind11::module_& m);
// irforge._core.SafetensorsCheckpoint (cpp/bindings/safetensors.cc).
void register_safetensors(pybind11::module_& m);

// irforge._core.tf_* (cpp/bindings/tensorflow.cc).
void register_tensorflow(pybind11::module_& m);

// irforge._core.pd_* (cpp/bindings/paddle.cc).
void register_paddle(pybind11::module_& m);

}  // namespace irforge::bindings
