// Op-level validation at the border (STYLE.md habit 12, like MLIR's op verifiers and OpenVINO's
// validate_and_infer_types): every default-domain node is checked against the ONNX schema of the
// model's opset (arity, required inputs, attribute names and types) and against hand-written
// semantic rules for what passes and lowerings trust (strides > 0, group divides channels, axes
// within the rank, perm a permutation, Reshape with at most one -1, If/Loop/Scan body arity, ...).
// Readers call validate_ops() right after building a model, so a pass may trust its input and an
// invalid model is a message naming the node, never a crash.
//
// Ranks and dims come only from what the model states: declared value types (inputs, outputs,
// value_info) and constant initializers / Constant nodes. Nothing is inferred or guessed, so a
// rule whose facts are unknown is skipped, never failed.
// Nodes of other domains (com.microsoft, custom) have no schema here; the only rule for them is
// that a node has at least one output.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace irforge {

// All op-level problems of the model (empty when valid), each "node 'n' (Op, #i in graph 'g'): rule".
std::vector<std::string> op_problems(const Model& model);
// Throws Error(ErrorKind::kInvalidModel) "<source_path>: <first problem> (and N more)".
void validate_ops(const Model& model);
// The semantic rules alone (ranks, axes, windows, ...), without the schema table: for models
// passes have rewritten, which may hold ops in forms newer than the model's opset import
// (compressed weights' blocked DequantizeLinear, fused Gelu); the writers legalize those.
void validate_op_rules(const Model& model);

}  // namespace irforge
