// MXNet frontend: a symbol file (<prefix>-symbol.json, the graph) plus its parameters
// (<prefix>-NNNN.params, MXNet's NDArray-list binary container) read without MXNet. The params
// file is memory-mapped and float32 arrays become constants viewing it in place. MXNet symbols
// carry no input shapes: data inputs get unknown shapes, which the caller fixes (input=).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace irforge {

// `params_path` may be empty (a symbol without parameters).
std::unique_ptr<Model> read_mxnet_files(const std::string& symbol_path, const std::string& params_path);

// The same from memory (fuzzing, tests). `params` may be null.
std::unique_ptr<Model> read_mxnet(std::string_view symbol_json, const std::string& symbol_label, std::shared_ptr<const Storage> params,
                                  const std::string& params_label);

}  // namespace irforge
