// Optimizer update rules of the ai.onnx.preview.training domain: Adagrad, Momentum, Adam. Each
// takes a learning rate R and an update count T (scalars) followed by n tensors of each kind
// (X..., G..., then the optimizer state), and outputs the new X... then the new state. The
// rules are elementwise; every tensor group is updated independently with the same R and T.
#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

namespace {

using namespace nn;

// n = number of optimized tensors given `groups` tensor inputs per tensor after R and T.
size_t tensor_count(NodeContext& c, size_t groups) {
  size_t n = c.num_inputs() >= 2 ? (c.num_inputs() - 2) / groups : 0;
  if (n == 0 || c.num_inputs() != 2 + groups * n) c.unsupported("expects R, T and " + std::to_string(groups) + " inputs per optimized tensor");
  return n;
}

// Common scalars in X's type: R, T, and the regularized gradient norm_coefficient * X + G.
struct Step {
  ElemType t;
  PortRef r, count, x, g;
};

Step step(NodeContext& c, size_t n, size_t i) {
  Step s;
  s.x = c.input(2 + i);
  s.t = c.type(s.x);
  s.r = c.convert(c.input(0), s.t);
  s.count = c.convert(c.input(1), s.t);
  s.g = c.input(2 + n + i);
  double norm = c.attr_float("norm_coefficient", 0.f);
  if (norm != 0.0) s.g = binary(c, "Add", binary(c, "Multiply", s.x, c.scalar(s.t, norm)), s.g);
  return s;
}

PortRef mul(NodeContext& c, PortRef a, PortRef b) { return binary(c, "Multiply", a, b); }

// Adagrad: r = R / (1 + T * decay_factor); H' = H + G^2; X' = X - r * G / (sqrt(H') + epsilon).
void lower_adagrad(NodeContext& c) {
  size_t n = tensor_count(c, 3);
  for (size_t i = 0; i < n; ++i) {
    Step s = step(c, n, i);
    PortRef decay = binary(c, "Add", c.scalar(s.t, 1.0), mul(c, s.count, c.scalar(s.t, c.attr_float("decay_factor", 0.f))));
    PortRef r = binary(c, "Divide", s.r, decay);
    PortRef h = binary(c, "Add", c.input(2 + 2 * n + i), mul(c, s.g, s.g));
    PortRef denom = binary(c, "Add", c.op("Sqrt", "opset1", {h}), c.scalar(s.t, c.attr_float("epsilon", 1e-6f)));
    c.set_output(i, binary(c, "Subtract", s.x, binary(c, "Divide", mul(c, r, s.g), denom)));
    c.set_output(n + i, h);
  }
}

// Momentum: V' = alpha * V + beta' * G with beta' = (T > 0 ? beta : 1); standard X' = X - R * V',
// nesterov X' = X - R * (G + alpha * V').
void lower_momentum(NodeContext& c) {
  size_t n = tensor_count(c, 3);
  std::string mode = c.attr_string("mode", "standard");
  if (mode != "standard" && mode != "nesterov") c.unsupported("mode '" + mode + "' is not standard or nesterov");
  double alpha = c.attr_float("alpha", 0.f), beta = c.attr_float("beta", 0.f);
  for (size_t i = 0; i < n; ++i) {
    Step s = step(c, n, i);
    PortRef started = c.op("Greater", "opset1", {s.count, c.scalar(s.t, 0.0)}, kNumpy, ElemType::kBoolean);
    PortRef beta_adj = c.op("Select", "opset1", {started, c.scalar(s.t, beta), c.scalar(s.t, 1.0)}, kNumpy, s.t);
    PortRef v = binary(c, "Add", mul(c, c.input(2 + 2 * n + i), c.scalar(s.t, alpha)), mul(c, s.g, beta_adj));
    PortRef delta = mode == "standard" ? v : binary(c, "Add", s.g, mul(c, v, c.scalar(s.t, alpha)));
    c.set_output(i, binary(c, "Subtract", s.x, mul(c, s.r, delta)));
    c.set_output(n + i, v);
  }
}

// Adam: V' = alpha V + (1 - alpha) G; H' = beta H + (1 - beta) G^2; with T > 0 the rate is
// R * sqrt(1 - beta^T) / (1 - alpha^T); X' = (1 - norm_coefficient_post) * (X - r V' / (sqrt(H') + epsilon)).
void lower_adam(NodeContext& c) {
  size_t n = tensor_count(c, 4);
  double alpha = c.attr_float("alpha", 0.9f), beta = c.attr_float("beta", 0.999f);
  double eps = c.attr_float("epsilon", 1e-6f), post = c.attr_float("norm_coefficient_post", 0.f);
  for (size_t i = 0; i < n; ++i) {
    Step s = step(c, n, i);
    auto one_minus_pow = [&](double base) {
      PortRef p = c.op("Power", "opset1", {c.scalar(s.t, base), s.count}, kNumpy);
      return binary(c, "Subtract", c.scalar(s.t, 1.0), p);
    };
    PortRef corrected = binary(c, "Divide", mul(c, s.r, c.op("Sqrt", "opset1", {one_minus_pow(beta)})), one_minus_pow(alpha));
    PortRef started = c.op("Greater", "opset1", {s.count, c.scalar(s.t, 0.0)}, kNumpy, ElemType::kBoolean);
    PortRef r = c.op("Select", "opset1", {started, corrected, s.r}, kNumpy, s.t);
    PortRef v = binary(c, "Add", mul(c, c.input(2 + 2 * n + i), c.scalar(s.t, alpha)), mul(c, s.g, c.scalar(s.t, 1.0 - alpha)));
    PortRef h = binary(c, "Add", mul(c, c.input(2 + 3 * n + i), c.scalar(s.t, beta)), mul(c, mul(c, s.g, s.g), c.scalar(s.t, 1.0 - beta)));
    PortRef denom = binary(c, "Add", c.op("Sqrt", "opset1", {h}), c.scalar(s.t, eps));
    PortRef x = binary(c, "Subtract", s.x, mul(c, r, binary(c, "Divide", v, denom)));
    if (post != 0.0) x = mul(c, x, c.scalar(s.t, 1.0 - post));
    c.set_output(i, x);
    c.set_output(n + i, v);
    c.set_output(2 * n + i, h);
  }
}

}  // namespace

void register_training_ops(LowerRegistry& r) {
  const std::string domain = "ai.onnx.preview.training";
  r.add("Adagrad", lower_adagrad, domain);
  r.add("Momentum", lower_momentum, domain);
  r.add("Adam", lower_adam, domain);
}

}  // namespace irforge::ov
