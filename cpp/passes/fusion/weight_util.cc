#include "passes/fusion/weight_util.h"

#include <cstring>
#include <functional>

#include "passes/fold/lazy_weights.h"
#include "passes/util.h"

namespace irforge::passes::fusion {

std::optional<std::vector<float>> f32_constant(const Value* v) {
  const Tensor* t = constant_of(v);
  if (!t || t->dtype() != DataType::kFloat) return std::nullopt;
  uint64_t n = t->element_count();
  if (t->nbytes() != n * 4 || (n && !t->data())) return std::nullopt;
  std::vector<float> out(n);
  if (n) std::memcpy(out.data(), t->data(), n * 4);
  // One read fault maps a whole 2 MiB page-cache folio of the model file: hand it back, or
  // reading BERT's ~70 small biases keeps ~150 MB of neighbouring weights resident.
  if (n && t->is_mapped()) t->storage()->mapping()->release_around(t->data(), t->nbytes());
  return out;
}

bool is_f32_constant(const Value* v) {
  const Tensor* t = constant_of(v);
  return t && t->dtype() == DataType::kFloat && t->nbytes() == t->element_count() * 4;
}

std::optional<std::vector<int64_t>> f32_constant_dims(const Value* v) {
  const Tensor* t = constant_of(v);
  if (!t || t->dtype() != DataType::kFloat) return std::nullopt;
  return t->dims();
}

int64_t known_rank(const Value* v) {
  if (!v) return -1;
  if (const Tensor* t = constant_of(v)) return static_cast<int64_t>(t->dims().size());
  const Type& t = v->type();
  if (!t.is_tensor() || !t.shape) return -1;
  return static_cast<int64_t>(t.shape->size());
}

bool is_f32(const Value* v) {
  if (!v) return false;
  if (const Tensor* t = constant_of(v)) return t->dtype() == DataType::kFloat;
  return v->type().is_tensor() && v->type().elem_type == DataType::kFloat;
}

bool used_only_by(const Value* v, const Node* user) {
  if (!v || v->is_graph_output() || v->uses().empty()) return false;
  for (const Use& u : v->uses())
    if (u.node != user) return false;
  return true;
}

Node* local_producer(const Value* v, const Node* user) {
  Node* p = v ? v->producer() : nullptr;
  return p && user && p->graph() == user->graph() ? p : nullptr;
}

bool is_op(const Node* n, const char* op) {
  return n && (n->domain().empty() || n->domain() == "ai.onnx") && n->op_type() == op;
}

std::optional<std::vector<float>> per_axis_values(const Value* c, int64_t out_rank, int64_t axis, int64_t channels) {
  auto dims = f32_constant_dims(c);
  auto vals = f32_constant(c);
  if (!dims || !vals || out_rank < 0 || channels < 1 || axis < 0 || axis >= out_rank) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(dims->size());
  if (rank > out_rank) return std::nullopt;  // the constant would raise the result's rank
  const int64_t aligned = axis - (out_rank - rank);  // the constant's dim that lines up with `axis`
  for (int64_t d = 0; d < rank; ++d) {
    int64_t n = (*dims)[d];
    if (d == aligned) {
      if (n != 1 && n != channels) return std::nullopt;
    } else if (n != 1) {
      return std::nullopt;
    }
  }
  if (vals->size() == static_cast<size_t>(channels)) return vals;
  if (vals->size() != 1) return std::nullopt;
  return std::vector<float>(channels, (*vals)[0]);
}

}  // namespace irforge::passes::fusion

namespace irforge::passes::fusion {

namespace {
const Tensor* exclusive_f32_constant(const Value* v, const Node* user, bool shared_ok = false) {
  const Tensor* t = constant_of(v);
  if (!t || t->dtype() != DataType::kFloat || (!shared_ok && !used_only_by(v, user))) return nullptr;
  if (t->nbytes() != t->element_count() * 4) return nullptr;
  return t;
}
}  // namespace

std::optional<LinearOp> linear_op(Node* n, bool shared_ok) {
  if (!n || n->num_outputs() != 1) return std::nullopt;
  const bool conv = is_op(n, "Conv"), convt = is_op(n, "ConvTranspose"), gemm = is_op(n, "Gemm"), matmul = is_op(n, "MatMul");
  if (!conv && !convt && !gemm && !matmul) return std::nullopt;
  // The data input shares the weight's type (ONNX's type constraint), so an unknown type is
  // fine; a stated other type is not.
  if (!n->input(0)) return std::nullopt;
  if (n->input(0)->type().is_tensor() && n->input(0)->type().elem_type != DataType::kUndefined && !is_f32(n->input(0))) return std::nullopt;
  const Tensor* w = exclusive_f32_constant(n->input(1), n, shared_ok);
  if (!w) return std::nullopt;
  LinearOp op;
  op.node = n;
  op.weight_dims = w->dims();
  const auto& d = op.weight_dims;
  for (int64_t x : d)
    if (x < 1) return std::nullopt;
  if (conv || convt) {
    if (d.size() < 3) return std::nullopt;
    int64_t group = n->attr_int("group", 1);
    if (group < 1) return std::nullopt;
    if (conv) {
      if (d[0] % group) return std::nullopt;
      op.out_channels = d[0];
      op.in_channels = d[1] * group;
    } else {
      if (d[0] % group) return std::nullopt;
      op.out_channels = d[1] * group;
      op.in_channels = d[0];
    }
  } else {
    if (d.size() != 2) return std::nullopt;
    bool trans_b = gemm && n->attr_int("transB", 0) != 0;
    op.out_channels = trans_b ? d[0] : d[1];
    op.in_channels = trans_b ? d[1] : d[0];
  }
  if (matmul) {
    if (n->inputs().size() != 2) return std::nullopt;
  } else if (n->input(2)) {
    if (!exclusive_f32_constant(n->input(2), n, shared_ok)) return std::nullopt;
    if (conv || convt) {
      auto b = f32_constant_dims(n->input(2));
      if (b->size() != 1 || (*b)[0] != op.out_channels) return std::nullopt;
    } else if (!per_axis_values(n->input(2), 2, 1, op.out_channels)) {
      return std::nullopt;  // a C that varies by row is not a per-channel bias
    }
  }
  return op;
}

std::vector<float> scaled_weight(const LinearOp& op, bool output, const std::vector<double>& s) {
  auto w = *f32_constant(op.node->input(1));
  const auto& d = op.weight_dims;
  const Node* n = op.node;
  std::vector<float> out(w.size());
  if (d.size() == 2) {  // Gemm / MatMul: [K, N], or [N, K] with transB
    bool trans_b = n->op_type() == "Gemm" && n->attr_int("transB", 0) != 0;
    bool by_row = output == trans_b;  // the row index is the channel
    for (int64_t r = 0; r < d[0]; ++r)
      for (int64_t c = 0; c < d[1]; ++c) {
        size_t i = static_cast<size_t>(r * d[1] + c);
        out[i] = static_cast<float>(w[i] * s[static_cast<size_t>(by_row ? r : c)]);
      }
    return out;
  }
  int64_t inner = 1;
  for (size_t k = 2; k < d.size(); ++k) inner *= d[k];
  const int64_t group = n->attr_int("group", 1);
  const bool convt = n->op_type() == "ConvTranspose";
  for (int64_t a = 0; a < d[0]; ++a)
    for (int64_t b = 0; b < d[1]; ++b) {
      int64_t ch;
      if (!convt) ch = output ? a : (a / (d[0] / group)) * d[1] + b;   // W[m, c/g, ...]
      else ch = output ? (a / (d[0] / group)) * d[1] + b : a;          // W[c, m/g, ...]
      double f = s[static_cast<size_t>(ch)];
      size_t base = static_cast<size_t>((a * d[1] + b) * inner);
      for (int64_t k = 0; k < inner; ++k) out[base + k] = static_cast<float>(w[base + k] * f);
    }
  return out;
}

bool has_bias_slot(const LinearOp& op) { return op.node->op_type() != "MatMul"; }

std::vector<double> effective_bias(const LinearOp& op) {
  std::vector<double> b(static_cast<size_t>(op.out_channels), 0.0);
  const Node* n = op.node;
  if (!has_bias_slot(op) || !n->input(2)) return b;
  bool gemm = n->op_type() == "Gemm";
  auto v = gemm ? per_axis_values(n->input(2), 2, 1, op.out_channels) : f32_constant(n->input(2));
  double beta = gemm ? n->attr_float("beta", 1.f) : 1.0;
  for (size_t o = 0; o < b.size(); ++o) b[o] = beta * (*v)[o];
  return b;
}

void set_scaled_weight(Graph& g, NameGen& names, const LinearOp& op, bool output, const std::vector<double>& s) {
  Value* old = op.node->input(1);
  const std::shared_ptr<Tensor>& src = old->initializer();
  if (!src || old->is_graph_input() || src->nbytes() <= kLazyWeightBytes || src->dtype() != DataType::kFloat ||
      src->nbytes() != src->element_count() * 4) {
    set_weight(g, names, op, scaled_weight(op, output, s));
    return;
  }
  // The channel of element i, as scaled_weight() picks it.
  const auto d = op.weight_dims;
  std::function<size_t(size_t)> channel;
  if (d.size() == 2) {
    bool trans_b = op.node->op_type() == "Gemm" && op.node->attr_int("transB", 0) != 0;
    size_t cols = static_cast<size_t>(d[1]);
    if (output == trans_b) channel = [cols](size_t i) { return i / cols; };
    else channel = [cols](size_t i) { return i % cols; };
  } else {
    size_t inner = 1;
    for (size_t k = 2; k < d.size(); ++k) inner *= static_cast<size_t>(d[k]);
    const size_t d0 = static_cast<size_t>(d[0]), d1 = static_cast<size_t>(d[1]);
    const size_t per_group = d0 / static_cast<size_t>(op.node->attr_int("group", 1));
    const bool convt = op.node->op_type() == "ConvTranspose";
    channel = [=](size_t i) -> size_t {
      size_t ab = i / inner, a = ab / d1, b = ab % d1;
      if (!convt) return output ? a : (a / per_group) * d1 + b;
      return output ? (a / per_group) * d1 + b : a;
    };
  }
  auto t = lazy_scaled_f32(src, s, std::move(channel), names.fresh(old->name() + "_fused"));
  t->set_dims(op.weight_dims);
  Value* nw = g.add_initializer(t);
  nw->set_type(Type::tensor(DataType::kFloat, [&] { Shape sh; for (int64_t x : op.weight_dims) sh.push_back(Dim::of(x)); return sh; }()));
  op.node->set_input(1, nw);
}

void set_weight(Graph& g, NameGen& names, const LinearOp& op, const std::vector<float>& w) {
  Value* old = op.node->input(1);
  Value* nw = add_f32_initializer(g, names.fresh(old->name() + "_fused"), op.weight_dims, w);
  nw->set_type(Type::tensor(DataType::kFloat, [&] { Shape s; for (int64_t x : op.weight_dims) s.push_back(Dim::of(x)); return s; }()));
  op.node->set_input(1, nw);
}

void set_bias(Graph& g, NameGen& names, const LinearOp& op, const std::vector<double>& b) {
  Node* n = op.node;
  std::vector<float> f(b.begin(), b.end());
  std::string base = n->input(2) ? n->input(2)->name() : n->input(1)->name() + "_bias";
  Value* nb = add_f32_initializer(g, names.fresh(base + "_fused"), {op.out_channels}, f);
  nb->set_type(Type::tensor(DataType::kFloat, {Dim::of(op.out_channels)}));
  if (n->inputs().size() < 3) n->add_input(nb);
  else n->set_input(2, nb);
  if (n->op_type() == "Gemm") {
    if (Attribute* a = n->attr("beta")) {
      a->kind = AttrKind::kFloat;
      a->f = 1.f;
    }
  }
}

void absorb_consumer(Graph& g, Value* kept, Node* consumer) {
  Value* out = consumer->output(0);
  consumer->clear_inputs();
  replace_value(g, out, kept);  // cannot fail: `kept` is an internal node output, not an output
  g.remove_node(consumer);
}

}  // namespace irforge::passes::fusion
