#include "passes/simplify/merge_unstack_concat.h"

#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

bool is_op(const Node* n, const char* op) { return n && n->op_type() == op && n->domain().empty(); }

int64_t normalized(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

struct Unstack {
  Value* x = nullptr;
  int64_t axis = 0;                          // d, in X's rank
  std::vector<Node*> squeezes, slices;      // per index
  std::vector<int64_t> perm, target;
};

// Axis d when `v` is Squeeze(Slice(X, [k], [k+1], [d]), [d]) read only by `concat` (X and the Slice set).
std::optional<int64_t> unstacked_axis(const Node* concat, Value* v, int64_t k, Value** x, Node** slice_out) {
  Node* sq = v ? v->producer() : nullptr;
  if (!is_op(sq, "Squeeze") || !single_use_by(v, concat) || !sq->input(0)) return std::nullopt;
  Node* sl = sq->input(0)->producer();
  if (!is_op(sl, "Slice") || !single_use_by(sq->input(0), sq) || sl->inputs().size() < 3 || !sl->input(0)) return std::nullopt;
  const Type& t = sl->input(0)->type();
  if (!t.is_tensor() || !t.shape) return std::nullopt;
  const int64_t r = static_cast<int64_t>(t.shape->size());
  std::optional<std::vector<int64_t>> sq_axes = sq->input(1) ? constant_ints(sq->input(1)) : std::nullopt;
  if (!sq_axes && sq->inputs().size() < 2 && sq->attr("axes")) sq_axes = sq->attr_ints("axes");
  auto starts = constant_ints(sl->input(1)), ends = constant_ints(sl->input(2));
  auto axes = sl->input(3) ? constant_ints(sl->input(3)) : std::optional<std::vector<int64_t>>(std::vector<int64_t>{0});
  auto steps = sl->input(4) ? constant_ints(sl->input(4)) : std::optional<std::vector<int64_t>>(std::vector<int64_t>{1});
  if (!sq_axes || !starts || !ends || !axes || !steps || sq_axes->size() != 1 || starts->size() != 1 || ends->size() != 1 ||
      axes->size() != 1 || steps->size() != 1 || (*steps)[0] != 1)
    return std::nullopt;
  const int64_t d = normalized((*axes)[0], r);
  if (d < 0 || d >= r || normalized((*sq_axes)[0], r) != d) return std::nullopt;
  const Dim& size = (*t.shape)[static_cast<size_t>(d)];
  if (!size.is_static()) return std::nullopt;
  // [k, k+1) of the axis, as written (an end past the axis is clamped to it).
  int64_t start = normalized((*starts)[0], size.value), end = (*ends)[0];
  if (end < 0) end += size.value;
  if (start != k || !(end == k + 1 || (k + 1 == size.value && end >= size.value))) return std::nullopt;
  *x = sl->input(0);
  *slice_out = sl;
  return d;
}

std::optional<Unstack> match(const Node& c) {
  if (!is_op(&c, "Concat") || c.inputs().size() < 2) return std::nullopt;
  Unstack u;
  const int64_t n = static_cast<int64_t>(c.inputs().size());
  for (int64_t k = 0; k < n; ++k) {
    Value* x = nullptr;
    Node* slice = nullptr;
    auto d = unstacked_axis(&c, c.input(static_cast<size_t>(k)), k, &x, &slice);
    if (!d || (k > 0 && (x != u.x || *d != u.axis))) return std::nullopt;
    u.x = x;
    u.axis = *d;
    u.squeezes.push_back(c.input(static_cast<size_t>(k))->producer());
    u.slices.push_back(slice);
  }
  const Shape& xs = *u.x->type().shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  if (r < 2 || xs[static_cast<size_t>(u.axis)].value != n) return std::nullopt;  // the slices cover the axis
  if (normalized(c.attr_int("axis", 0), r - 1) != r - 2) return std::nullopt;
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < r; ++i)
    if (i != u.axis) kept.push_back(i);
  const Dim& last = xs[static_cast<size_t>(kept.back())];
  if (!last.is_static()) return std::nullopt;
  u.perm.assign(kept.begin(), kept.end() - 1);
  u.perm.push_back(u.axis);
  u.perm.push_back(kept.back());
  u.target.assign(static_cast<size_t>(r - 2), 0);
  u.target.push_back(n * last.value);
  return u;
}

Value* int64_initializer(Graph& g, NameGen& names, const std::string& base, const std::vector<int64_t>& values) {
  auto tensor = std::make_shared<Tensor>(names.fresh(base), DataType::kInt64, std::vector<int64_t>{static_cast<int64_t>(values.size())});
  std::vector<uint8_t> bytes(values.size() * 8);
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  tensor->set_owned(std::move(bytes));
  return g.add_initializer(std::move(tensor));
}

}  // namespace

PassResult MergeUnstackConcat::run(Model& model, const PassOptions&) {
  if (!model.graph) return {};
  NameGen names(model);
  return rewrite_model(model, [&](Graph& g, Node* c) -> int64_t {
    auto u = match(*c);
    if (!u) return 0;
    Value* moved = u->x;
    bool identity = true;
    for (size_t i = 0; i < u->perm.size(); ++i) identity = identity && u->perm[i] == static_cast<int64_t>(i);
    if (!identity) {
      Node* t = g.insert_node_before(c, "Transpose");
      t->set_name(names.fresh(c->name().empty() ? "unstack/transpose" : c->name() + "/transpose"));
      t->add_input(u->x);
      set_ints_attr(t, "perm", u->perm);
      moved = t->add_output(names.fresh(c->output(0)->name() + "_unstacked"));
      Shape shape;
      for (int64_t p : u->perm) shape.push_back((*u->x->type().shape)[static_cast<size_t>(p)]);
      moved->set_type(Type::tensor(u->x->type().elem_type, shape));
    }
    // The Concat becomes the Reshape: its output value (name, type, users) stays.
    c->set_op_type("Reshape");
    c->attributes().clear();
    c->clear_inputs();
    c->add_input(moved);
    c->add_input(int64_initializer(g, names, c->output(0)->name() + "_shape", u->target));
    for (size_t k = 0; k < u->squeezes.size(); ++k) {
      u->squeezes[k]->clear_inputs();
      g.remove_node(u->squeezes[k]);
      u->slices[k]->clear_inputs();
      g.remove_node(u->slices[k]);
    }
    return 1;
  });
}

}  // namespace irforge::passes
