// A structural copy of a Model that shares tensor storage with the original: nodes, values,
// attributes and subgraphs are new objects, weight bytes are not copied (Tensors are immutable
// once read and are held by shared_ptr). Cheap enough to run before every ONNX write that must
// rewrite the graph (e.g. expanding fused ops) without touching the user's Model.
#pragma once

#include <memory>

#include "ir/graph.h"

namespace irforge {

std::unique_ptr<Model> clone_model(const Model& model);

}  // namespace irforge
