#include "passes/fold/prune_if.h"

#include <string>
#include <unordered_set>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

bool used(const Value* v) { return v->has_uses() || v->is_graph_output(); }

// The condition's truth when it is a one-element constant.
std::optional<bool> constant_condition(const Node& n) {
  if (n.inputs().empty() || !n.input(0)) return std::nullopt;
  const Tensor* t = constant_of(n.input(0));
  if (!t || t->element_count() != 1) return std::nullopt;
  auto v = tensor_as_doubles(*t);
  if (!v || v->size() != 1) return std::nullopt;
  return (*v)[0] != 0.0;
}

Graph* branch_of(Node& n, const char* name) {
  Attribute* a = n.attr(name);
  return a && a->kind == AttrKind::kGraph && a->g ? a->g.get() : nullptr;
}

// Every value name in `g` and below, except inside `skip`.
void collect_names(const Graph& g, const Graph* skip, std::unordered_set<std::string>& out) {
  if (&g == skip) return;
  for (const Value* v : g.inputs()) out.insert(v->name());
  for (const Value* v : g.initializers()) out.insert(v->name());
  for (const auto& n : g.nodes()) {
    for (size_t k = 0; k < n->num_outputs(); ++k) out.insert(n->output(k)->name());
    for (Graph* sub : n->subgraphs()) collect_names(*sub, skip, out);
  }
}

class Pruner {
 public:
  explicit Pruner(Model& m) : model_(m), names_(m) {}

  int64_t node(Graph& g, Node* n) {
    return n->op_type() == "If" && (n->domain().empty() || n->domain() == "ai.onnx") && inline_if(g, *n) ? 1 : 0;
  }

 private:
  bool inline_if(Graph& g, Node& n) {
    auto cond = constant_condition(n);
    if (!cond) return false;
    Graph* b = branch_of(n, *cond ? "then_branch" : "else_branch");
    if (!b || !b->inputs().empty() || b->outputs().size() != n.num_outputs()) return false;
    for (Value* v : b->initializers())
      if (!v->initializer()) return false;  // sparse: not representable as a plain initializer

    std::unordered_set<std::string> outside;
    collect_names(*model_.graph, b, outside);
    auto name_for = [&](const std::string& name) { return name.empty() || outside.count(name) ? names_.fresh(name.empty() ? "if_value" : name) : name; };

    // Initializers of the branch become initializers of `g` (same bytes, a shallow Tensor).
    std::vector<Value*> inits(b->initializers().begin(), b->initializers().end());
    for (Value* bi : inits) {
      auto t = std::make_shared<Tensor>(*bi->initializer());
      t->set_name(name_for(bi->name()));
      Value* nv = g.add_initializer(std::move(t));
      nv->set_type(bi->type());
      b->replace_all_uses(bi, nv);
    }
    for (const auto& bn : b->nodes())
      for (size_t k = 0; k < bn->num_outputs(); ++k) {
        Value* v = bn->output(k);
        if (!v->name().empty() && outside.count(v->name())) v->set_name(names_.fresh(v->name()));
      }
    g.splice_nodes_before(*b, &n);

    std::vector<Value*> results(b->outputs().begin(), b->outputs().end());
    b->clear_outputs();
    for (size_t k = 0; k < n.num_outputs(); ++k) {
      Value* old = n.output(k);
      Value* val = results[k];
      if (!used(old)) continue;
      if (val->producer() && val->graph() == &g && !val->type().known()) val->set_type(old->type());
      if (old->is_graph_output() && !(val->producer() && val->graph() == &g && !val->is_graph_output())) {
        // The interface name needs a node output of this graph to carry it.
        Node* id = g.insert_node_before(&n, "Identity");
        id->add_input(val);
        Value* out = id->add_output(names_.fresh(old->name() + "_inlined"));
        out->set_type(old->type());
        val = out;
      }
      if (old->is_graph_output()) replace_value(g, old, val);
      else g.replace_all_uses(old, val);
    }
    g.remove_node(&n);
    return true;
  }

  Model& model_;
  NameGen names_;
};

}  // namespace

PassResult PruneIf::run(Model& model, const PassOptions&) {
  if (!model.graph) return {};
  Pruner p(model);
  return rewrite_model(model, [&](Graph& g, Node* n) { return p.node(g, n); });
}

}  // namespace irforge::passes
