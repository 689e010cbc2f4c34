// A readable text dump of a model, close to onnx.printer's syntax, for --dump_after and debugging.
#pragma once

#include <string>

#include "ir/graph.h"

namespace irforge {

std::string print_model(const Model& model);
std::string print_graph(const Graph& graph, int indent = 0);

}  // namespace irforge
