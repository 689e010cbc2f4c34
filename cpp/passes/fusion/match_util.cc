#include "passes/fusion/match_util.h"
#include "passes/legalize/expand_util.h"

#include <algorithm>
#include <cmath>

namespace irforge::passes::fusion {

Node* producer_is(const Value* v, const char* op_type) {
  Node* p = v ? v->producer() : nullptr;
  return p && p->op_type() == op_type && p->domain().empty() ? p : nullptr;
}

int64_t rank_of(const Value* v) {
  if (!v || !v->type().is_tensor() || !v->type().shape) return -1;
  return static_cast<int64_t>(v->type().shape->size());
}

namespace {
// One-element constant: its value and rank.
std::optional<std::pair<double, int64_t>> one_element(const Value* v) {
  const Tensor* t = constant_of(v);
  if (!t || t->element_count() != 1) return std::nullopt;
  if (t->dtype() != DataType::kFloat && t->dtype() != DataType::kDouble && t->dtype() != DataType::kFloat16 && t->dtype() != DataType::kBfloat16)
    return std::nullopt;
  auto d = tensor_as_doubles(*t);
  if (!d || d->size() != 1) return std::nullopt;
  return std::make_pair((*d)[0], static_cast<int64_t>(t->dims().size()));
}
}  // namespace

std::optional<double> scalar_constant(const Value* v, const Value* like) {
  auto c = one_element(v);
  if (!c) return std::nullopt;
  if (like && like->type().elem_type != DataType::kUndefined && constant_of(v)->dtype() != like->type().elem_type) return std::nullopt;
  if (c->second > 0 && (!like || rank_of(like) < c->second)) return std::nullopt;
  return c->first;
}

bool near(double value, double exact, DataType t) {
  double rtol = (t == DataType::kFloat16 || t == DataType::kBfloat16) ? 4e-3 : 1e-5;
  return std::fabs(value - exact) <= rtol * std::fabs(exact);
}

bool used_only_by(const Value* v, const std::vector<Node*>& allowed) {
  if (v->is_graph_output()) return false;
  for (const Use& u : v->uses())
    if (std::find(allowed.begin(), allowed.end(), u.node) == allowed.end()) return false;
  return true;
}

namespace {
void flatten_into(Value* v, bool is_root, Product& p, int64_t& const_rank) {
  if (auto c = one_element(v)) {
    p.scale *= c->first;
    const_rank = std::max(const_rank, c->second);
    return;
  }
  Node* n = v->producer();
  bool single = is_root || (v->uses().size() == 1 && !v->is_graph_output());
  if (single && n && n->domain().empty() && n->inputs().size() == 2 && n->input(0) && n->input(1)) {
    if (n->op_type() == "Mul") {
      p.nodes.push_back(n);
      flatten_into(n->input(0), false, p, const_rank);
      flatten_into(n->input(1), false, p, const_rank);
      return;
    }
    auto d = one_element(n->input(1));
    if (n->op_type() == "Div" && d && d->first != 0) {
      p.nodes.push_back(n);
      p.scale /= d->first;
      const_rank = std::max(const_rank, d->second);
      flatten_into(n->input(0), false, p, const_rank);
      return;
    }
    if (n->op_type() == "Pow" && d && (d->first == 2 || d->first == 3)) {
      p.nodes.push_back(n);
      const_rank = std::max(const_rank, d->second);
      for (int k = 0; k < static_cast<int>(d->first); ++k) p.factors.push_back(n->input(0));
      return;
    }
  }
  p.factors.push_back(v);
}
}  // namespace

bool match_gated_mul(Node* mul, const char* op_type, const std::function<bool(Value* x, Node* gate)>& fn) {
  if (!mul->domain().empty() || mul->op_type() != "Mul" || mul->inputs().size() != 2) return false;
  for (int i = 0; i < 2; ++i) {
    Value* x = mul->input(i);
    Value* g = mul->input(1 - i);
    Node* gate = producer_is(g, op_type);
    if (!gate || !is_float(x) || !used_once(g) || x == g) continue;
    if (fn(x, gate)) return true;
  }
  return false;
}

bool match_gated_product(Node* root, const std::function<bool(Value* x, Value* g, const Product& p)>& fn) {
  if (!root->domain().empty() || (root->op_type() != "Mul" && root->op_type() != "Div")) return false;
  Product p = flatten_product(root->output(0));
  if (p.factors.size() != 2) return false;
  for (int i = 0; i < 2; ++i) {
    Value* x = p.factors[i];
    Value* g = p.factors[1 - i];
    if (!is_float(x) || !keeps_shape(p, x) || !used_once(g)) continue;
    if (fn(x, g, p)) return true;
  }
  return false;
}

Product flatten_product(Value* root) {
  Product p;
  flatten_into(root, true, p, p.const_rank);
  return p;
}

bool keeps_shape(const Product& p, const Value* x) { return p.const_rank == 0 || rank_of(x) >= p.const_rank; }

bool is_float(const Value* x) {
  DataType t = x ? x->type().elem_type : DataType::kUndefined;
  return t == DataType::kFloat || t == DataType::kFloat16 || t == DataType::kBfloat16 || t == DataType::kDouble;
}

Value* other_input(const Node* n, const Value* v) {
  if (n->inputs().size() != 2) return nullptr;
  if (n->input(0) == v) return n->input(1);
  if (n->input(1) == v) return n->input(0);
  return nullptr;
}

std::optional<ScalarOperand> scalar_operand(const Node* n, const Value* like) {
  if (n->inputs().size() != 2 || !n->input(0) || !n->input(1)) return std::nullopt;
  for (int k = 0; k < 2; ++k)
    if (auto c = scalar_constant(n->input(k), like ? like : n->input(1 - k))) return ScalarOperand{n->input(1 - k), *c};
  return std::nullopt;
}

std::optional<std::vector<int64_t>> kept_reduce_axes(const Node* r, int64_t rank_hint) {
  if (r->attr_int("keepdims", 1) != 1) return std::nullopt;
  std::vector<int64_t> axes;
  if (r->attr("axes")) {
    axes = r->attr_ints("axes");
  } else {
    auto c = constant_ints(r->input(1));
    if (!c) return std::nullopt;
    axes = *c;
  }
  if (axes.empty()) return std::nullopt;
  int64_t rank = rank_of(r->input(0)) >= 0 ? rank_of(r->input(0)) : rank_hint;
  for (int64_t& a : axes) {
    if (a >= 0) {
      if (rank < 0 || a >= rank) return std::nullopt;
      a -= rank;
    } else if (rank >= 0 && a < -rank) {
      return std::nullopt;
    }
  }
  return axes;
}

bool are_trailing(std::vector<int64_t> axes) {
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != -static_cast<int64_t>(axes.size()) + static_cast<int64_t>(i)) return false;
  return true;
}

std::optional<std::vector<int64_t>> trailing_dims(const Value* x, int64_t k) {
  int64_t rank = rank_of(x);
  if (rank < k) return std::nullopt;
  std::vector<int64_t> dims;
  for (int64_t i = rank - k; i < rank; ++i) {
    const Dim& d = (*x->type().shape)[i];
    if (!d.is_static()) return std::nullopt;
    dims.push_back(d.value);
  }
  return dims;
}

bool matches_trailing_dims(const Value* w, const Value* x, int64_t k) {
  const Tensor* t = constant_of(w);
  auto dims = trailing_dims(x, k);
  return t && dims && t->dims() == *dims && t->dtype() == x->type().elem_type;
}

PassResult fuse_everywhere(Model& m, const char* pass_name, const std::function<bool(FusionContext&, Node*)>& try_fuse) {
  NameGen names(m);
  std::vector<Graph*> graphs;
  for_each_graph(*m.graph, [&](Graph& g) { graphs.push_back(&g); });
  int64_t count = 0;
  for (Graph* g : graphs) {
    FusionContext cx{*g, names, pass_name, {}};
    std::vector<Node*> nodes;
    for (const auto& n : g->nodes()) nodes.push_back(n.get());
    for (Node* n : nodes)
      if (!cx.removed.count(n) && try_fuse(cx, n)) ++count;
  }
  PassResult r;
  r.rewrites = count;
  r.changed = count > 0;
  return r;
}

Node* replace_with_fused(FusionContext& cx, Node* anchor, Value* replaced, const std::string& op_type,
                         const std::vector<Value*>& inputs, std::vector<Attribute> attrs, const std::vector<Node*>& pattern) {
  Graph& g = cx.g;
  NameGen& names = cx.names;
  const char* pass_name = cx.pass_name;
  Node* n = g.insert_node_before(anchor, op_type);
  n->set_name(names.fresh(anchor->name().empty() ? replaced->name() + "/" + op_type : anchor->name() + "/" + op_type));
  for (Value* v : inputs) n->add_input(v);
  n->attributes() = std::move(attrs);
  // Provenance: which nodes this one stands for.
  std::vector<Node*> left;
  for (Node* p : pattern)
    if (std::find(left.begin(), left.end(), p) == left.end()) left.push_back(p);
  std::string from;
  for (Node* p : left) from += (from.empty() ? "" : ", ") + (p->name().empty() ? p->op_type() : p->name());
  n->doc_string() = std::string(pass_name) + " from: " + from;
  Value* out = n->add_output(names.fresh(replaced->name() + "_fused"));
  out->set_type(replaced->type());
  replace_value(g, replaced, out);
  // Remove the pattern (consumers first); any node still used elsewhere stays.
  for (bool progress = true; progress;) {
    progress = false;
    for (auto it = left.begin(); it != left.end();) {
      bool unused = true;
      for (size_t k = 0; k < (*it)->num_outputs(); ++k)
        unused = unused && !(*it)->output(k)->has_uses() && !(*it)->output(k)->is_graph_output();
      if (unused) {
        cx.removed.insert(*it);
        g.remove_node(*it);
        it = left.erase(it);
        progress = true;
      } else {
        ++it;
      }
    }
  }
  return n;
}

Value* ones_f32(FusionContext& cx, const std::string& base, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return add_f32_initializer(cx.g, cx.names.fresh(base), dims, std::vector<float>(static_cast<size_t>(n), 1.f));
}

}  // namespace irforge::passes::fusion

namespace irforge::passes::fusion {

namespace {

// ve^(sign * 1/2) where `v` is Sqrt(ve) (sign +1) or Pow(ve, ±0.5).
Value* root_of(Value* v, int sign, std::vector<Node*>& nodes) {
  if (!used_once(v)) return nullptr;
  if (Node* s = producer_is(v, "Sqrt"); s && sign > 0) {
    nodes.push_back(s);
    return s->input(0);
  }
  if (Node* p = producer_is(v, "Pow")) {
    auto e = scalar_constant(p->input(1), p->input(0));
    if (e && *e == 0.5 * sign) {
      nodes.push_back(p);
      return p->input(0);
    }
  }
  return nullptr;
}
}  // namespace

std::optional<Normalize> match_normalize(Node* n) {
  if (!n->domain().empty() || n->inputs().size() != 2 || !n->input(0) || !n->input(1)) return std::nullopt;
  for (int k = 0; k < 2; ++k) {
    Normalize r{nullptr, nullptr, 0.0, {n}};
    Value* ve = nullptr;
    Value* den = n->input(1 - k);
    if (n->op_type() == "Div") {
      if (k == 1) break;
      ve = root_of(den, +1, r.nodes);
    } else if (n->op_type() == "Mul" && used_once(den)) {
      if (Node* rec = producer_is(den, "Reciprocal")) {
        r.nodes.push_back(rec);
        ve = root_of(rec->input(0), +1, r.nodes);
      } else if (Node* div = producer_is(den, "Div")) {
        auto one = scalar_constant(div->input(0), div->input(1));
        r.nodes.push_back(div);
        if (one && *one == 1.0) ve = root_of(div->input(1), +1, r.nodes);
      } else {
        ve = root_of(den, -1, r.nodes);
      }
    }
    if (!used_once(ve)) continue;
    r.numerator = n->input(k);
    Value* mean = ve;
    if (Node* add = producer_is(ve, "Add")) {
      auto eps = scalar_operand(add, nullptr);
      if (!eps || eps->value < 0) continue;
      r.eps = eps->value;
      r.nodes.push_back(add);
      mean = eps->other;
    }
    r.mean = producer_is(mean, "ReduceMean");
    if (!r.mean || !used_once(mean)) continue;
    return r;
  }
  return std::nullopt;
}

}  // namespace irforge::passes::fusion

namespace irforge::passes::fusion {

Node* sole_user(const Value* v, const char* op_type) {
  if (v->uses().size() != 1 || v->is_graph_output()) return nullptr;
  Node* u = v->uses()[0].node;
  return u->op_type() == op_type && u->domain().empty() ? u : nullptr;
}

Value* squared(Node* sq) {
  if (!sq || !sq->domain().empty() || sq->inputs().size() != 2) return nullptr;
  if (sq->op_type() == "Mul" && sq->input(0) == sq->input(1)) return sq->input(0);
  if (sq->op_type() == "Pow") {
    auto e = scalar_constant(sq->input(1), sq->input(0));
    if (e && *e == 2.0) return sq->input(0);
  }
  return nullptr;
}

std::optional<SquareNormalize> match_square_normalize(Node* n) {
  auto nm = match_normalize(n);
  if (!nm || !nm->numerator) return std::nullopt;
  Value* s = nm->mean->input(0);
  if (!s) return std::nullopt;
  Node* sq = s->producer();
  Value* a = squared(sq);
  if (!a || s->uses().size() != 1 || s->is_graph_output()) return std::nullopt;
  return SquareNormalize{std::move(*nm), a, sq};
}

Value* absorb_trailing_operand(const char* op_type, const Value* x, int64_t k, std::vector<Node*>& pattern,
                               Node*& last, Value*& out) {
  Node* m = sole_user(out, op_type);
  if (!m) return nullptr;
  Value* w = other_input(m, out);
  if (!w || w == out || !matches_trailing_dims(w, x, k)) return nullptr;
  pattern.push_back(m);
  last = m;
  out = m->output(0);
  return w;
}

std::vector<Attribute> norm_attrs(int64_t k, double eps) {
  std::vector<Attribute> attrs;
  attrs.push_back(int_attr("axis", -k));
  attrs.push_back(float_attr("epsilon", static_cast<float>(eps)));
  return attrs;
}

}  // namespace irforge::passes::fusion

namespace irforge::passes::fusion {

namespace {

// a * x + b (see AffineClamp).
void match_affine(Value* u, AffineClamp& r) {
  r.x = u;
  if (!used_once(u)) return;
  Node* n = u->producer();
  if (!n || !n->domain().empty()) return;
  auto scale_of = [&](Node* m, double& a) -> Value* {  // Mul by c / Div by c
    if (m && m->op_type() == "Mul") {
      if (auto c = scalar_operand(m, nullptr)) {
        a = c->value;
        return c->other;
      }
    }
    if (m && m->op_type() == "Div" && m->inputs().size() == 2) {
      auto c = scalar_constant(m->input(1), m->input(0));
      if (c && *c != 0) {
        a = 1.0 / *c;
        return m->input(0);
      }
    }
    return nullptr;
  };
  if (n->op_type() == "Add") {
    auto b = scalar_operand(n, nullptr);
    if (!b) return;
    r.nodes.push_back(n);
    r.affine = true;
    r.b = b->value;
    r.x = b->other;
    double a = 1;
    if (used_once(b->other))
      if (Value* x = scale_of(b->other->producer(), a)) {
        r.nodes.push_back(b->other->producer());
        r.a = a;
        r.x = x;
      }
    return;
  }
  double a = 1;
  if (Value* q = scale_of(n, a)) {
    r.nodes.push_back(n);
    r.affine = true;
    r.a = a;
    r.x = q;
    if (Node* add = producer_is(q, "Add"); add && used_once(q))
      if (auto b = scalar_operand(add, nullptr)) {
        r.nodes.push_back(add);
        r.b = a * b->value;
        r.x = b->other;
      }
  }
}
}  // namespace

std::optional<AffineClamp> match_affine_clamp(Value* v) {
  AffineClamp r;
  Node* n = v ? v->producer() : nullptr;
  if (!n || !n->domain().empty()) return std::nullopt;
  Value* u = nullptr;
  if (n->op_type() == "Clip") {
    if (n->attr("min") || n->attr("max")) {
      if (!n->attr("min") || !n->attr("max")) return std::nullopt;
      r.lo = n->attr_float("min", 0.f);
      r.hi = n->attr_float("max", 0.f);
    } else {
      auto lo = n->input(1) ? scalar_constant(n->input(1), n->input(0)) : std::nullopt;
      auto hi = n->input(2) ? scalar_constant(n->input(2), n->input(0)) : std::nullopt;
      if (!lo || !hi) return std::nullopt;
      r.lo = *lo;
      r.hi = *hi;
    }
    u = n->input(0);
    r.nodes.push_back(n);
  } else if (n->op_type() == "Min" || n->op_type() == "Max") {
    auto outer = scalar_operand(n, nullptr);
    if (!outer || !used_once(outer->other)) return std::nullopt;
    Node* inner = outer->other->producer();
    if (!inner || !inner->domain().empty()) return std::nullopt;
    r.nodes.push_back(n);
    r.nodes.push_back(inner);
    bool is_min = n->op_type() == "Min";
    if (is_min && inner->op_type() == "Relu") {
      r.lo = 0;
      r.hi = outer->value;
      u = inner->input(0);
    } else if (inner->op_type() == (is_min ? "Max" : "Min")) {
      auto in = scalar_operand(inner, nullptr);
      if (!in) return std::nullopt;
      r.lo = is_min ? in->value : outer->value;
      r.hi = is_min ? outer->value : in->value;
      u = in->other;
    } else {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (!u || r.lo >= r.hi) return std::nullopt;
  match_affine(u, r);
  return r;
}

}  // namespace irforge::passes::fusion
