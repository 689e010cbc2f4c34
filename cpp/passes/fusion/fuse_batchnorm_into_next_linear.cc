#include "passes/fusion/fuse_batchnorm_into_next_linear.h"

#include <cmath>
#include <vector>

#include "passes/fusion/weight_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

struct Match {
  Node* bn;
  LinearOp op;
  Node* bias_add = nullptr;  // a MatMul's bias Add
  size_t bias_slot = 0;      // which input of bias_add is the constant
  std::vector<double> s, t;  // BN: y = x * s + t, per input channel
};

bool zero_padding(const Node* conv) {
  const std::string pad = conv->attr_string("auto_pad", "NOTSET");
  if (pad != "NOTSET" && pad != "VALID") return false;
  for (int64_t p : conv->attr_ints("pads"))
    if (p != 0) return false;
  return true;
}

std::optional<Match> match(Node* bn) {
  if (!is_op(bn, "BatchNormalization") || bn->inputs().size() != 5 || !bn->input(0)) return std::nullopt;
  if (bn->attr_int("training_mode", 0) != 0) return std::nullopt;
  for (size_t k = 1; k < bn->num_outputs(); ++k)
    if (bn->output(k)->has_uses() || bn->output(k)->is_graph_output()) return std::nullopt;
  Value* y = bn->output(0);
  if (y->is_graph_output() || y->uses().size() != 1) return std::nullopt;
  Node* user = y->uses()[0].node;
  if (y->uses()[0].input_index != 0 || user->graph() != bn->graph()) return std::nullopt;
  auto op = linear_op(user);
  if (!op) return std::nullopt;
  Match m{bn, *op};
  const std::string& type = user->op_type();
  const int64_t x_rank = known_rank(bn->input(0));
  if (type == "Conv") {
    if (user->attr_int("group", 1) != 1 || !zero_padding(user) || x_rank < 3) return std::nullopt;
  } else if (type == "Gemm") {
    if (user->attr_int("transA", 0) != 0 || user->attr_float("alpha", 1.0f) != 1.0f || x_rank != 2) return std::nullopt;
    if (user->input(2) && !per_axis_values(user->input(2), 2, 1, op->out_channels)) return std::nullopt;  // C varies by row
  } else if (type == "MatMul") {
    if (x_rank != 2) return std::nullopt;
    Value* out = user->output(0);
    if (out->is_graph_output() || out->uses().size() != 1) return std::nullopt;
    Node* add = out->uses()[0].node;
    if (!is_op(add, "Add") || add->graph() != user->graph() || add->inputs().size() != 2) return std::nullopt;
    size_t slot = add->input(0) == out ? 1 : 0;
    if (add->input(1 - slot) != out || !is_f32_constant(add->input(slot)) || !used_only_by(add->input(slot), add)) return std::nullopt;
    if (!per_axis_values(add->input(slot), 2, 1, op->out_channels)) return std::nullopt;
    m.bias_add = add;
    m.bias_slot = slot;
  } else {
    return std::nullopt;  // ConvTranspose: its bias would need the output size; left alone
  }
  const int64_t c = op->in_channels;
  std::vector<std::vector<float>> params;
  for (size_t i = 1; i < 5; ++i) {
    auto v = f32_constant(bn->input(i));
    if (!v || static_cast<int64_t>(v->size()) != c || known_rank(bn->input(i)) != 1) return std::nullopt;
    params.push_back(std::move(*v));
  }
  const double eps = bn->attr_float("epsilon", 1e-5f);
  m.s.resize(static_cast<size_t>(c));
  m.t.resize(static_cast<size_t>(c));
  for (size_t i = 0; i < m.s.size(); ++i) {
    m.s[i] = params[0][i] / std::sqrt(static_cast<double>(params[3][i]) + eps);
    m.t[i] = params[1][i] - params[2][i] * m.s[i];
  }
  return m;
}

// Σ_c t[c] · Σ_kernel W[o, c, kernel] for each output channel o, from the original weight.
std::optional<std::vector<double>> shift_through_weight(const Match& m) {
  auto w = f32_constant(m.op.node->input(1));
  if (!w) return std::nullopt;
  const auto& d = m.op.weight_dims;
  const int64_t out = m.op.out_channels, in = m.op.in_channels;
  std::vector<double> shift(static_cast<size_t>(out), 0.0);
  const std::string& type = m.op.node->op_type();
  if (type == "Conv") {
    int64_t kernel = 1;
    for (size_t i = 2; i < d.size(); ++i) kernel *= d[i];
    for (int64_t o = 0; o < out; ++o)
      for (int64_t c = 0; c < in; ++c) {
        double sum = 0;
        const float* p = w->data() + (o * in + c) * kernel;
        for (int64_t k = 0; k < kernel; ++k) sum += p[k];
        shift[static_cast<size_t>(o)] += m.t[static_cast<size_t>(c)] * sum;
      }
    return shift;
  }
  const bool trans_b = type == "Gemm" && m.op.node->attr_int("transB", 0) != 0;
  for (int64_t k = 0; k < in; ++k)
    for (int64_t n = 0; n < out; ++n)
      shift[static_cast<size_t>(n)] += m.t[static_cast<size_t>(k)] * (*w)[static_cast<size_t>(trans_b ? n * in + k : k * out + n)];
  return shift;
}

bool rewrite(Graph& g, NameGen& names, const Match& m) {
  auto shift = shift_through_weight(m);
  if (!shift) return false;
  std::vector<double> bias;
  if (m.bias_add) {
    auto b = per_axis_values(m.bias_add->input(m.bias_slot), 2, 1, m.op.out_channels);
    if (!b) return false;
    bias.assign(b->begin(), b->end());
  } else {
    bias = effective_bias(m.op);
  }
  for (size_t o = 0; o < bias.size(); ++o) bias[o] += (*shift)[o];
  set_scaled_weight(g, names, m.op, false, m.s);
  if (m.bias_add) {
    std::vector<float> b(bias.begin(), bias.end());
    Value* bv = add_f32_initializer(g, names.fresh(m.bn->name().empty() ? "bn_folded_bias" : m.bn->name() + "_bias"), {m.op.out_channels}, b);
    bv->set_type(Type::tensor(DataType::kFloat, {Dim::of(m.op.out_channels)}));
    m.bias_add->set_input(m.bias_slot, bv);
  } else {
    set_bias(g, names, m.op, bias);
  }
  m.op.node->set_input(0, m.bn->input(0));
  g.remove_node(m.bn);
  return true;
}

}  // namespace

PassResult FuseBatchNormIntoNextLinear::run(Model& model, const PassOptions&) {
  if (!model.graph) return {};
  NameGen names(model);
  return rewrite_model(model, [&names](Graph& g, Node* n) -> int64_t {
    auto m = match(n);
    return m && rewrite(g, names, *m) ? 1 : 0;
  });
}

}  // namespace irforge::passes
