#include "passes/util.h"

#include <cstring>
#include <functional>

#include "support/fp16.h"

namespace irforge::passes {

namespace {
std::shared_ptr<Tensor> constant_node_value(const Node& n) {
  for (const auto& a : n.attributes()) {
    if (a.name == "value" && a.t) return a.t;
  }
  return nullptr;
}

}  // namespace

const Tensor* constant_of(const Value* v) {
  if (!v) return nullptr;
  if (v->initializer() && !v->is_graph_input()) return v->initializer().get();
  const Node* p = v->producer();
  if (p && p->op_type() == "Constant" && p->domain().empty()) return constant_node_value(*p).get();
  return nullptr;
}

void release_mapped_pages(const Tensor& t, const uint8_t* p, size_t n) {
  if (t.is_mapped()) t.storage()->mapping()->release_around(p, n);
}

std::optional<std::vector<double>> constant_doubles(const Value* v) {
  const Tensor* t = constant_of(v);
  if (!t) return std::nullopt;
  return tensor_as_doubles(*t);
}

std::optional<std::vector<int64_t>> constant_ints(const Value* v) {
  const Tensor* t = constant_of(v);
  if (!t) return std::nullopt;
  if (t->dtype() == DataType::kInt64) {
    std::vector<int64_t> out(t->element_count());
    if (!out.empty()) std::memcpy(out.data(), t->data(), out.size() * 8);
    return out;
  }
  if (t->dtype() != DataType::kInt32) return std::nullopt;
  auto d = constant_doubles(v);
  if (!d) return std::nullopt;
  return std::vector<int64_t>(d->begin(), d->end());
}

NameGen::NameGen(const Model& m) {
  std::function<void(const Graph&)> collect = [&](const Graph& g) {
    for (const Value* v : g.inputs()) used_.insert(v->name());
    for (const Value* v : g.initializers()) used_.insert(v->name());
    for (const auto& n : g.nodes()) {
      if (!n->name().empty()) used_.insert(n->name());
      for (size_t k = 0; k < n->num_outputs(); ++k) used_.insert(n->output(k)->name());
      for (Graph* sub : n->subgraphs()) collect(*sub);
    }
  };
  if (m.graph) collect(*m.graph);
}

std::string NameGen::fresh(const std::string& base) {
  if (used_.insert(base).second) return base;
  for (int i = 1;; ++i) {
    std::string c = base + "_" + std::to_string(i);
    if (used_.insert(c).second) return c;
  }
}

Value* add_f32_initializer(Graph& g, const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values) {
  auto t = std::make_shared<Tensor>(name, DataType::kFloat, dims);
  std::vector<uint8_t> bytes(values.size() * 4);
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  t->set_owned(std::move(bytes));
  return g.add_initializer(std::move(t));
}

bool single_use_by(const Value* v, const Node* user) {
  return v->uses().size() == 1 && v->uses()[0].node == user && !v->is_graph_output();
}

bool used_once(const Value* v) { return v && v->uses().size() == 1 && !v->is_graph_output(); }

bool replace_value(Graph& g, Value* old, Value* replacement) {
  if (old->is_graph_output()) {
    // The replacement takes over the output's name; it must be free to be renamed.
    if (!replacement->producer() || replacement->is_graph_output() || replacement->graph() != old->graph()) return false;
    std::string name = old->name();
    old->set_name(name + "__replaced");
    replacement->set_name(name);
    if (!replacement->type().known()) replacement->set_type(old->type());
  }
  g.replace_all_uses(old, replacement);
  return true;
}

namespace {

// The attribute `name` of `n` (made if missing) with kind `kind`, for the caller to fill.
Attribute& attr_to_set(Node* n, const char* name, AttrKind kind) {
  Attribute* a = n->attr(name);
  if (!a) {
    Attribute fresh;
    fresh.name = name;
    n->attributes().push_back(std::move(fresh));
    a = &n->attributes().back();
  }
  a->kind = kind;
  return *a;
}

}  // namespace

void set_int_attr(Node* n, const char* name, int64_t v) { attr_to_set(n, name, AttrKind::kInt).i = v; }

void set_ints_attr(Node* n, const char* name, const std::vector<int64_t>& v) { attr_to_set(n, name, AttrKind::kInts).ints = v; }

int64_t rewrite_nodes(Graph& g, const std::function<int64_t(Graph&, Node*)>& visit) {
  int64_t count = 0;
  std::vector<Node*> nodes;
  for (const auto& n : g.nodes()) nodes.push_back(n.get());
  for (Node* n : nodes) {
    for (Graph* sub : n->subgraphs()) count += rewrite_nodes(*sub, visit);
    count += visit(g, n);
  }
  return count;
}

PassResult rewrite_model(Model& m, const std::function<int64_t(Graph&, Node*)>& visit) {
  PassResult r;
  if (!m.graph) return r;
  r.rewrites = rewrite_nodes(*m.graph, visit);
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
