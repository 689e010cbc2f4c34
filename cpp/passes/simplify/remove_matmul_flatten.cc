#include "passes/simplify/remove_matmul_flatten.h"

#include <vector>

#include "passes/shape/infer_shapes.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

const Shape* shape_of(const Value* v) {
  if (!v || !v->type().is_tensor() || !v->type().shape) return nullptr;
  return &*v->type().shape;
}

bool same_dim(const Dim& a, const Dim& b) {
  if (a.is_static() && b.is_static()) return a.value == b.value;
  return a.kind == Dim::Kind::kParam && b.kind == Dim::Kind::kParam && a.param == b.param;
}

bool static_dim(const Dim& d, int64_t v) { return d.is_static() && d.value == v; }

bool plain_op(const Node* n, const char* op) { return n && n->op_type() == op && n->domain().empty(); }

struct Match {
  Node* flatten;    // Reshape x → [M, K]
  Node* linear;     // Gemm or MatMul
  Node* unflatten;  // Reshape → [d0..dk, N]
  Value* x;
  Value* b;
  bool trans_b = false;
  Value* c = nullptr;  // bias added along rows, or nullptr
};

using Contents = std::unordered_map<const Value*, std::vector<Dim>>;

// `unflatten` is the last Reshape of the pattern; returns the match or nullopt. `contents` gives
// the symbolic contents of shape values (computed on first use: it costs an inference run).
std::optional<Match> match(Node* unflatten, const std::function<const Contents&()>& contents) {
  if (!plain_op(unflatten, "Reshape") || unflatten->num_outputs() != 1 || !unflatten->input(0)) return std::nullopt;
  Value* y = unflatten->input(0);
  Node* linear = y->producer();
  if (!linear || linear->graph() != unflatten->graph() || !used_once(y)) return std::nullopt;
  Match m{nullptr, linear, unflatten, nullptr, nullptr};
  if (plain_op(linear, "Gemm")) {
    if (linear->attr_int("transA", 0) != 0 || linear->attr_float("alpha", 1.0f) != 1.0f) return std::nullopt;
    m.trans_b = linear->attr_int("transB", 0) != 0;
    if (linear->input(2)) {
      if (linear->attr_float("beta", 1.0f) != 1.0f) return std::nullopt;
      m.c = linear->input(2);
    }
  } else if (!plain_op(linear, "MatMul")) {
    return std::nullopt;
  }
  if (!linear->input(0) || !linear->input(1)) return std::nullopt;
  Value* flat = linear->input(0);
  Node* flatten = flat->producer();
  if (!plain_op(flatten, "Reshape") || flatten->graph() != unflatten->graph() || !used_once(flat) || !flatten->input(0))
    return std::nullopt;
  m.flatten = flatten;
  m.x = flatten->input(0);
  m.b = linear->input(1);
  const Shape *xs = shape_of(m.x), *fs = shape_of(flat), *bs = shape_of(m.b), *ys = shape_of(unflatten->output(0));
  if (!xs || !fs || !bs || !ys || xs->size() < 2 || fs->size() != 2 || bs->size() != 2 || ys->size() != xs->size())
    return std::nullopt;
  // Flattening keeps the last dim: then the first is the product of x's leading dims, row-major.
  const Dim& k = xs->back();
  if (!k.is_static() || k.value <= 0 || !static_dim((*fs)[1], k.value)) return std::nullopt;
  const Dim& bk = (*bs)[m.trans_b ? 1 : 0];
  const Dim& n = (*bs)[m.trans_b ? 0 : 1];
  if (!static_dim(bk, k.value) || !n.is_static() || !static_dim(ys->back(), n.value)) return std::nullopt;
  bool leading_dims_match = true;
  for (size_t i = 0; i + 1 < xs->size(); ++i) leading_dims_match &= same_dim((*xs)[i], (*ys)[i]);
  // A graph output keeps the dim names its exporter declared (tf2onnx: a fresh "unk__N" per
  // dim), which say nothing about x's: then the target's own content decides.
  if (!leading_dims_match) {
    if (!unflatten->output(0)->is_graph_output() || !unflatten->input(1)) return std::nullopt;
    const Contents& known = contents();
    auto it = known.find(unflatten->input(1));
    if (it == known.end() || it->second.size() != xs->size() || !static_dim(it->second.back(), n.value)) return std::nullopt;
    for (size_t i = 0; i + 1 < xs->size(); ++i)
      if (!same_dim((*xs)[i], it->second[i])) return std::nullopt;
  }
  if (m.c) {
    const Shape* cs = shape_of(m.c);
    if (!cs || cs->size() > 2) return std::nullopt;
    if (cs->size() == 2 && !static_dim((*cs)[0], 1)) return std::nullopt;
    if (!cs->empty() && !(static_dim(cs->back(), n.value) || static_dim(cs->back(), 1))) return std::nullopt;
  }
  return m;
}

int64_t rewrite(Graph& g, Node* node, NameGen& names, const std::function<const Contents&()>& contents) {
  auto m = match(node, contents);
  if (!m) return 0;
  Value* out = m->unflatten->output(0);
  const std::string base = m->linear->name().empty() ? out->name() : m->linear->name();
  Value* b = m->b;
  if (m->trans_b) {  // a constant B is folded by the next fold
    Node* t = g.insert_node_before(m->unflatten, "Transpose");
    t->set_name(names.fresh(base + "/transpose_b"));
    t->add_input(m->b);
    set_ints_attr(t, "perm", {1, 0});
    b = t->add_output(names.fresh(base + "/b_transposed"));
    const Shape& bs = *m->b->type().shape;
    b->set_type(Type::tensor(m->b->type().elem_type, Shape{bs[1], bs[0]}));
  }
  Node* mm = g.insert_node_before(m->unflatten, "MatMul");
  mm->set_name(names.fresh(base + "/matmul"));
  mm->add_input(m->x);
  mm->add_input(b);
  Value* result = mm->add_output(names.fresh(base + "/matmul_output"));
  result->set_type(out->type());
  if (m->c) {
    Node* add = g.insert_node_before(m->unflatten, "Add");
    add->set_name(names.fresh(base + "/bias"));
    add->add_input(result);
    add->add_input(m->c);
    result = add->add_output(names.fresh(base + "/bias_output"));
    result->set_type(out->type());
  }
  replace_value(g, out, result);  // result is a fresh internal value: it can take an output's name
  g.remove_node(m->unflatten);
  g.remove_node(m->linear);
  g.remove_node(m->flatten);
  return 1;
}

}  // namespace

PassResult RemoveMatMulFlatten::run(Model& model, const PassOptions&) {
  NameGen names(model);
  std::optional<Contents> known;
  auto contents = [&]() -> const Contents& {
    if (!known) known = infer_shape_values(model);
    return *known;
  };
  return rewrite_model(model, [&](Graph& g, Node* n) -> int64_t {
    int64_t r = rewrite(g, n, names, contents);
    if (r) known.reset();  // the rewrite deleted values the map may key
    return r;
  });
}

}  // namespace irforge::passes
