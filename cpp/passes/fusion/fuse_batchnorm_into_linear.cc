#include "passes/fusion/fuse_batchnorm_into_linear.h"

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
  Node* bias_add = nullptr;  // MatMul's bias Add, when there is one
  size_t bias_slot = 0;      // which input of bias_add is the constant
  std::vector<double> s, t;  // y' = y * s + t
};

// Matching has no side effects: it only inspects.
std::optional<Match> match(Node* bn) {
  if (!is_op(bn, "BatchNormalization") || bn->inputs().size() != 5 || !bn->input(0)) return std::nullopt;
  if (bn->attr_int("training_mode", 0) != 0) return std::nullopt;
  for (size_t k = 1; k < bn->num_outputs(); ++k)
    if (bn->output(k)->has_uses() || bn->output(k)->is_graph_output()) return std::nullopt;
  Value* y = bn->input(0);
  if (!used_only_by(y, bn)) return std::nullopt;
  Match m{bn, {}};
  Node* p = local_producer(y, bn);
  auto op = linear_op(p);
  if (!op && is_op(p, "Add") && p->inputs().size() == 2 && p->input(0) && p->input(1)) {
    for (size_t slot = 0; slot < 2 && !op; ++slot) {
      Value* x = p->input(1 - slot);
      if (!is_f32_constant(p->input(slot)) || constant_of(x) || !used_only_by(x, p)) continue;
      auto mm = linear_op(local_producer(x, p));
      if (mm && mm->node->op_type() == "MatMul") {
        op = mm;
        m.bias_add = p;
        m.bias_slot = slot;
      }
    }
  }
  if (!op) return std::nullopt;
  const std::string& t = op->node->op_type();
  if (t != "Gemm" && t != "MatMul") return std::nullopt;
  if (t == "MatMul" && known_rank(op->node->input(0)) != 2) return std::nullopt;
  const int64_t n = op->out_channels;
  std::vector<std::vector<float>> params;
  for (size_t i = 1; i < 5; ++i) {
    auto v = f32_constant(bn->input(i));
    if (!v || static_cast<int64_t>(v->size()) != n || known_rank(bn->input(i)) != 1) return std::nullopt;
    params.push_back(std::move(*v));
  }
  std::vector<double> bias(static_cast<size_t>(n), 0.0);
  if (m.bias_add) {
    auto b = per_axis_values(m.bias_add->input(m.bias_slot), 2, 1, n);
    if (!b) return std::nullopt;
    bias.assign(b->begin(), b->end());
  } else {
    bias = effective_bias(*op);
  }
  const double eps = bn->attr_float("epsilon", 1e-5f);
  m.s.resize(static_cast<size_t>(n));
  m.t.resize(static_cast<size_t>(n));
  for (size_t o = 0; o < m.s.size(); ++o) {
    m.s[o] = params[0][o] / std::sqrt(static_cast<double>(params[3][o]) + eps);
    m.t[o] = (bias[o] - params[2][o]) * m.s[o] + params[1][o];
  }
  m.op = *op;
  return m;
}

void rewrite(Graph& g, NameGen& names, const Match& m) {
  Node* lin = m.op.node;
  set_scaled_weight(g, names, m.op, true, m.s);
  if (lin->op_type() == "Gemm") {
    set_bias(g, names, m.op, m.t);
    absorb_consumer(g, lin->output(0), m.bn);
    return;
  }
  std::vector<float> t(m.t.begin(), m.t.end());
  Value* tv = add_f32_initializer(g, names.fresh(m.bn->name().empty() ? "bn_fused_bias" : m.bn->name() + "_bias"), {m.op.out_channels}, t);
  tv->set_type(Type::tensor(DataType::kFloat, {Dim::of(m.op.out_channels)}));
  if (m.bias_add) {
    m.bias_add->set_input(m.bias_slot, tv);
    absorb_consumer(g, m.bias_add->output(0), m.bn);
    return;
  }
  Node* add = g.insert_node_before(m.bn, "Add");
  add->set_name(names.fresh(m.bn->name().empty() ? "bn_fused_add" : m.bn->name() + "_add"));
  add->add_input(lin->output(0));
  add->add_input(tv);
  Value* out = add->add_output(names.fresh(lin->output(0)->name() + "_biased"));
  out->set_type(m.bn->output(0)->type());
  absorb_consumer(g, out, m.bn);
}

}  // namespace

PassResult FuseBatchNormIntoLinear::run(Model& model, const PassOptions&) {
  if (!model.graph) return {};
  NameGen names(model);
  return rewrite_model(model, [&names](Graph& g, Node* n) -> int64_t {
    auto m = match(n);
    if (!m) return 0;
    rewrite(g, names, *m);
    return 1;
  });
}

}  // namespace irforge::passes
