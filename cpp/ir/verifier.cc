#include "ir/verifier.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "support/error.h"

namespace irforge {

namespace {

class Verifier {
 public:
  std::vector<std::string> problems;

  // `visible` holds values defined so far in enclosing scopes.
  void graph(const Graph& g, std::unordered_set<const Value*>& visible, const std::string& where, bool nested = false) {
    std::vector<const Value*> added;
    auto define = [&](const Value* v) {
      if (v->graph() != &g) report(where, "value '" + v->name() + "' belongs to another graph");
      if (!visible.insert(v).second) report(where, "value '" + v->name() + "' is defined twice");
      added.push_back(v);
      // A subgraph's formal inputs may reuse an outer name (valid ONNX: they shadow it).
      bool shadowing_allowed = nested && v->is_graph_input();
      if (!v->name().empty() && !shadowing_allowed) {
        auto [it, inserted] = names_.emplace(v->name(), v);
        if (!inserted && it->second != v) report(where, "two values are named '" + v->name() + "'");
      }
    };
    for (const Value* v : g.inputs()) define(v);
    for (const Value* v : g.initializers()) {
      if (!v->initializer() && !v->sparse_initializer()) report(where, "initializer '" + v->name() + "' has no data");
      if (!v->is_graph_input()) define(v);
    }
    for (const auto& up : g.nodes()) {
      const Node* n = up.get();
      if (n->graph() != &g) report(where, n->describe() + " points at another graph");
      for (size_t i = 0; i < n->inputs().size(); ++i) {
        const Value* v = n->inputs()[i];
        if (!v) continue;
        if (!visible.count(v)) report(where, n->describe() + " input " + std::to_string(i) + " '" + v->name() + "' is not defined before it");
        const auto& uses = v->uses();
        if (std::find(uses.begin(), uses.end(), Use{const_cast<Node*>(n), i}) == uses.end())
          report(where, "value '" + v->name() + "' does not list its use by " + n->describe());
      }
      for (Graph* sub : n->subgraphs()) graph(*sub, visible, where + " > " + n->describe(), true);
      for (size_t k = 0; k < n->num_outputs(); ++k) {
        const Value* v = n->output(k);
        if (v->producer() != n || v->output_index() != k)
          report(where, n->describe() + " output " + std::to_string(k) + " has a wrong producer link");
        define(v);
      }
    }
    for (const Value* v : g.outputs()) {
      if (!visible.count(v)) report(where, "graph output '" + v->name() + "' is not defined");
      const auto& of = v->output_of();
      if (std::find(of.begin(), of.end(), &g) == of.end()) report(where, "graph output '" + v->name() + "' lost its output link");
    }
    // Every recorded use must be a real input slot.
    for (const Value* v : added)
      for (const Use& u : v->uses())
        if (!u.node || u.input_index >= u.node->inputs().size() || u.node->inputs()[u.input_index] != v)
          report(where, "value '" + v->name() + "' lists a stale use");
    for (const Value* v : added) {
      visible.erase(v);
      auto it = names_.find(v->name());
      if (it != names_.end() && it->second == v) names_.erase(it);
    }
  }

 private:
  void report(const std::string& where, const std::string& what) {
    if (problems.size() < 50) problems.push_back(where + ": " + what);
  }
  std::unordered_map<std::string, const Value*> names_;
};

}  // namespace

std::vector<std::string> verify(const Model& model) {
  Verifier v;
  std::unordered_set<const Value*> visible;
  if (!model.graph) return {"model has no graph"};
  v.graph(*model.graph, visible, "graph");
  for (const auto& f : model.functions) {
    std::unordered_set<const Value*> fvisible;
    Verifier fv;
    fv.graph(*f.body, fvisible, "function '" + f.name + "'");
    v.problems.insert(v.problems.end(), fv.problems.begin(), fv.problems.end());
  }
  return v.problems;
}

void verify_or_throw(const Model& model, const std::string& context) {
  auto problems = verify(model);
  if (problems.empty()) return;
  std::string msg = context + ": the IR is inconsistent:";
  for (size_t i = 0; i < problems.size() && i < 10; ++i) msg += "\n  " + problems[i];
  fail(ErrorKind::kInternal, msg);
}

}  // namespace irforge
