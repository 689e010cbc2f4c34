#include "passes/legalize/expand_fused_ops.h"

#include <cstring>

#include "passes/fusion/fuse_attention.h"

namespace irforge::passes {

const std::vector<ExpanderEntry>& expanders() {
  // One line per fused op: {domain, op_type, since_opset, expander}.
  static const std::vector<ExpanderEntry> kExpanders = {
      {"", "Attention", 23, expand_attention},
  };
  return kExpanders;
}

namespace {

const ExpanderEntry* find_expander(const Node& n) {
  for (const auto& e : expanders())
    if (n.op_type() == e.op_type && n.domain() == e.domain) return &e;
  return nullptr;
}

}  // namespace

int64_t expand_ops_above_opset(Model& model, int64_t opset) {
  int64_t expanded = 0;
  std::vector<Graph*> graphs;
  for_each_graph(*model.graph, [&](Graph& g) { graphs.push_back(&g); });
  for (Graph* g : graphs) {
    std::vector<std::pair<Node*, const ExpanderEntry*>> todo;
    for (auto& n : g->nodes())
      if (const ExpanderEntry* e = find_expander(*n); e && e->since_opset > opset) todo.push_back({n.get(), e});
    for (auto& [node, e] : todo) {
      e->expand(*g, node, opset);
      ++expanded;
    }
  }
  return expanded;
}

}  // namespace irforge::passes
