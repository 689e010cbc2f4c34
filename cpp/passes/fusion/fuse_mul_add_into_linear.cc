#include "passes/fusion/fuse_mul_add_into_linear.h"

#include <cmath>
#include <vector>

#include "passes/fusion/weight_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

// An elementwise op with one constant operand: the other operand, the constant, and which op.
struct ConstOperand {
  Value* x = nullptr;
  Value* c = nullptr;
  bool multiplicative = false;  // Mul/Div vs Add/Sub
  bool inverse = false;         // Div/Sub: apply 1/c or -c
};

std::optional<ConstOperand> const_operand(const Node* n) {
  const bool mul = is_op(n, "Mul"), div = is_op(n, "Div"), add = is_op(n, "Add"), sub = is_op(n, "Sub");
  if ((!mul && !div && !add && !sub) || n->inputs().size() != 2 || n->num_outputs() != 1 || !n->input(0) || !n->input(1)) return std::nullopt;
  ConstOperand r;
  r.multiplicative = mul || div;
  r.inverse = div || sub;
  if (is_f32_constant(n->input(1))) {
    r.x = n->input(0);
    r.c = n->input(1);
  } else if ((mul || add) && is_f32_constant(n->input(0))) {
    r.x = n->input(1);
    r.c = n->input(0);
  } else {
    return std::nullopt;
  }
  if (constant_of(r.x)) return std::nullopt;  // both constant: folding's job
  return r;
}

// Output rank and channel axis of a linear op's result; nullopt when the rank is unknown.
std::optional<std::pair<int64_t, int64_t>> out_layout(const LinearOp& op) {
  const std::string& t = op.node->op_type();
  if (t == "Conv" || t == "ConvTranspose") return std::make_pair(static_cast<int64_t>(op.weight_dims.size()), int64_t{1});
  if (t == "Gemm") return std::make_pair(int64_t{2}, int64_t{1});
  int64_t r = known_rank(op.node->input(0));  // MatMul with a 2-D weight keeps A's rank
  if (r < 1) return std::nullopt;
  return std::make_pair(r, r - 1);
}

// Per-channel values of the constant as doubles, inverted/negated for Div/Sub.
std::optional<std::vector<double>> channel_values(const ConstOperand& k, int64_t rank, int64_t axis, int64_t channels) {
  auto v = per_axis_values(k.c, rank, axis, channels);
  if (!v) return std::nullopt;
  std::vector<double> out(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    double c = (*v)[i];
    if (k.inverse && k.multiplicative && c == 0.0) return std::nullopt;
    out[i] = !k.inverse ? c : k.multiplicative ? 1.0 / c : -c;
    // inf/nan would meet the weights' zeros (0 * inf = nan) where the original met a sum.
    if (!std::isfinite(c) || !std::isfinite(static_cast<float>(out[i]))) return std::nullopt;
  }
  return out;
}

class Fuser {
 public:
  explicit Fuser(Model& m) : names_(m) {}

  int64_t node(Graph& g, Node* n) {
    int64_t count = 0;
    if (linear_op(n)) {
      while (before(g, n)) ++count;  // a chain of Muls in front folds one by one
    } else if (after(g, n)) {
      ++count;
    }
    return count;
  }

 private:
  // m = Mul/Div/Add/Sub(y, c) with y produced by a linear op, or by MatMul + bias Add.
  bool after(Graph& g, Node* m) {
    auto k = const_operand(m);
    if (!k || !used_only_by(k->x, m)) return false;
    Node* p = local_producer(k->x, m);
    // An Add/Sub only replaces the bias by a new one, so the weight and old bias may be shared.
    if (auto op = linear_op(p, !k->multiplicative)) {
      auto layout = out_layout(*op);
      if (!layout) return false;
      auto v = channel_values(*k, layout->first, layout->second, op->out_channels);
      if (!v) return false;
      if (!k->multiplicative && !has_bias_slot(*op)) return false;  // MatMul + Add is the bias form already
      std::vector<double> b = effective_bias(*op);
      if (k->multiplicative) {
        set_scaled_weight(g, names_, *op, true, *v);
        for (size_t o = 0; o < b.size(); ++o) b[o] *= (*v)[o];
      } else {
        for (size_t o = 0; o < b.size(); ++o) b[o] += (*v)[o];
      }
      if (has_bias_slot(*op) && (p->input(2) || !k->multiplicative)) set_bias(g, names_, *op, b);
      absorb_consumer(g, k->x, m);
      return true;
    }
    // MatMul → Add(bias) → m
    auto bias = p ? const_operand(p) : std::nullopt;
    if (!bias || !is_op(p, "Add") || !used_only_by(bias->x, p)) return false;
    auto op = linear_op(local_producer(bias->x, p));
    if (!op || op->node->op_type() != "MatMul") return false;
    auto layout = out_layout(*op);
    if (!layout) return false;
    auto b = per_axis_values(bias->c, layout->first, layout->second, op->out_channels);
    auto v = channel_values(*k, layout->first, layout->second, op->out_channels);
    if (!b || !v) return false;
    std::vector<float> nb(b->size());
    if (k->multiplicative) {
      set_scaled_weight(g, names_, *op, true, *v);
      for (size_t o = 0; o < nb.size(); ++o) nb[o] = static_cast<float>((*b)[o] * (*v)[o]);
    } else {
      for (size_t o = 0; o < nb.size(); ++o) nb[o] = static_cast<float>((*b)[o] + (*v)[o]);
    }
    Value* nbv = add_f32_initializer(g, names_.fresh(bias->c->name() + "_fused"), {op->out_channels}, nb);
    nbv->set_type(Type::tensor(DataType::kFloat, {Dim::of(op->out_channels)}));
    p->set_input(bias->c == p->input(0) ? 0 : 1, nbv);
    absorb_consumer(g, p->output(0), m);
    return true;
  }

  // n = linear op whose data input is Mul/Div(x, c), that product read only by n.
  bool before(Graph& g, Node* n) {
    auto op = linear_op(n);
    Node* p = local_producer(n->input(0), n);
    auto k = p ? const_operand(p) : std::nullopt;
    if (!op || !k || !k->multiplicative || !used_only_by(n->input(0), n)) return false;
    const std::string& t = n->op_type();
    int64_t rank, axis;
    if (t == "Conv" || t == "ConvTranspose") {
      rank = static_cast<int64_t>(op->weight_dims.size());
      axis = 1;
    } else if (t == "Gemm") {
      rank = 2;
      axis = n->attr_int("transA", 0) ? 0 : 1;
    } else {
      rank = known_rank(k->x);
      axis = rank - 1;
      if (rank < 1) return false;
    }
    auto v = channel_values(*k, rank, axis, op->in_channels);
    if (!v) return false;
    // x itself must already have the channels: a constant with C entries along the axis must
    // not be what broadcasts a size-1 x up to C.
    if (constant_of(k->c)->element_count() > 1) {
      const Type& xt = k->x->type();
      if (!xt.is_tensor() || !xt.shape || static_cast<int64_t>(xt.shape->size()) != rank) return false;
      const Dim& d = (*xt.shape)[static_cast<size_t>(axis)];
      if (!d.is_static() || d.value != op->in_channels) return false;
    }
    set_scaled_weight(g, names_, *op, false, *v);
    n->set_input(0, k->x);
    g.remove_node(p);
    return true;
  }

  NameGen names_;
};

}  // namespace

PassResult FuseMulAddIntoLinear::run(Model& model, const PassOptions&) {
  if (!model.graph) return {};
  Fuser f(model);
  return rewrite_model(model, [&](Graph& g, Node* n) { return f.node(g, n); });
}

}  // namespace irforge::passes
