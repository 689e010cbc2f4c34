#include "passes/cleanup/dead_code_elimination.h"

#include <vector>

namespace irforge::passes {

namespace {

bool used(const Value* v) { return v->has_uses() || v->is_graph_output(); }

int64_t sweep(Graph& g) {
  int64_t removed = 0;
  // Reverse order: removing a consumer can make its producers dead in the same sweep.
  std::vector<Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    bool live = false;
    for (size_t k = 0; k < n->num_outputs() && !live; ++k) live = used(n->output(k));
    if (live || n->num_outputs() == 0) continue;
    g.remove_node(n);
    ++removed;
  }
  for (const auto& n : g.nodes())
    for (Graph* sub : n->subgraphs()) removed += sweep(*sub);
  std::vector<Value*> dead;
  for (Value* v : g.initializers())
    if (!v->is_graph_input() && !used(v)) dead.push_back(v);
  for (Value* v : dead) g.remove_value(v);
  return removed + static_cast<int64_t>(dead.size());
}

}  // namespace

PassResult DeadCodeElimination::run(Model& model, const PassOptions&) {
  PassResult r;
  r.rewrites = sweep(*model.graph);
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
