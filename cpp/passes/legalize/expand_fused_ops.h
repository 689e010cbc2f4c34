// Fusion passes may create standard ONNX ops that are newer than the model's opset (Gelu-20,
// LayerNormalization-17, RMSNormalization-23, Attention-23, ...): the IR is richer than any one
// opset, and the OpenVINO writer lowers them directly. ONNX output must stay valid for the
// model's opset (or --target_opset), so before writing ONNX every such op is expanded back into
// ops available at that opset by the expander registered for it here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace irforge::passes {

// Replaces `node` (in its graph) by an equivalent subgraph of ops available at `opset`; the
// node's outputs must end up produced by the new nodes (replace_all_uses) and `node` removed.
using Expander = void (*)(Graph& graph, Node* node, int64_t opset);

struct ExpanderEntry {
  const char* domain;    // "" for the default ONNX domain
  const char* op_type;
  int64_t since_opset;   // the op exists in the default domain from this opset on
  Expander expand;
  // Optional: false when a node of this op, though valid ONNX at since_opset or later, is a
  // form onnxruntime does not run, so it is expanded even where the opset has the op.
  bool (*runs_in_onnxruntime)(const Node& node) = nullptr;
};

// Every expander, in one explicit list (expand_fused_ops.cc).
const std::vector<ExpanderEntry>& expanders();

// Expands every node (in all graphs and subgraphs) whose op is newer than `opset`; returns how
// many nodes were expanded. Nodes without an expander are left alone.
int64_t expand_ops_above_opset(Model& model, int64_t opset);

// True if `n` is a fused op newer than `opset` that has an expander.
bool needs_expansion(const Node& n, int64_t opset);

// A value/node name not yet used in the model being expanded; for expanders only.
std::string expansion_name(const std::string& base);

}  // namespace irforge::passes
