#include "passes/legalize/expand_fused_ops.h"

#include <cstring>

#include "passes/legalize/expand_activations_norms.h"
#include "passes/util.h"
#include "support/error.h"
#include "passes/fusion/fuse_attention.h"

namespace irforge::passes {

const std::vector<ExpanderEntry>& expanders() {
  // One line per fused op: {domain, op_type, since_opset, expander}.
  static const std::vector<ExpanderEntry> kExpanders = {
      {"", "HardSigmoid", 6, expand_hard_sigmoid},
      {"", "HardSwish", 14, expand_hard_swish},
      {"", "LayerNormalization", 17, expand_layer_normalization},
      {"", "Mish", 18, expand_mish},
      {"", "Gelu", 20, expand_gelu},
      {"", "RMSNormalization", 23, expand_rms_normalization},
      {"", "Swish", 24, expand_swish},
      {"", "Attention", 23, expand_attention, attention_runs_in_onnxruntime},
  };
  return kExpanders;
}

namespace {

thread_local NameGen* g_names = nullptr;

const ExpanderEntry* find_expander(const Node& n) {
  for (const auto& e : expanders())
    if (n.op_type() == e.op_type && n.domain() == e.domain) return &e;
  return nullptr;
}

}  // namespace

std::string expansion_name(const std::string& base) {
  if (!g_names) fail(ErrorKind::kInternal, "expansion_name() called outside expand_ops_above_opset()");
  return g_names->fresh(base);
}

bool needs_expansion(const Node& n, int64_t opset) {
  const ExpanderEntry* e = find_expander(n);
  return e && (e->since_opset > opset || (e->runs_in_onnxruntime && !e->runs_in_onnxruntime(n)));
}

int64_t expand_ops_above_opset(Model& model, int64_t opset) {
  int64_t expanded = 0;
  NameGen names(model);
  struct Scope {
    NameGen* prev;
    ~Scope() { g_names = prev; }
  } scope{g_names};
  g_names = &names;
  std::vector<Graph*> graphs;
  for_each_graph(*model.graph, [&](Graph& g) { graphs.push_back(&g); });
  for (Graph* g : graphs) {
    std::vector<std::pair<Node*, const ExpanderEntry*>> todo;
    for (auto& n : g->nodes())
      if (needs_expansion(*n, opset)) todo.push_back({n.get(), find_expander(*n)});
    for (auto& [node, e] : todo) {
      e->expand(*g, node, opset);
      ++expanded;
    }
  }
  return expanded;
}

}  // namespace irforge::passes
