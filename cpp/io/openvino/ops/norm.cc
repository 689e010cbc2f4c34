// Normalizations: BatchNormalization, InstanceNormalization, LayerNormalization,
// GroupNormalization, RMSNormalization, MeanVarianceNormalization, LpNormalization, LRN.
// Normalizing over a set of axes is OpenVINO's MVN-6 (eps inside or outside the square root);
// the CPU plugin runs it as one kernel and fuses the following scale/shift.
#include <cfloat>
#include <cmath>

#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

namespace {

using namespace nn;

PortRef mvn(NodeContext& c, PortRef x, PortRef axes, double eps, bool inside_sqrt) {
  return c.op("MVN", "opset6", {x, axes},
              {{"eps", fmt_float(eps)}, {"normalize_variance", "true"}, {"eps_mode", inside_sqrt ? "INSIDE_SQRT" : "OUTSIDE_SQRT"}});
}

// Batch statistics over `axes`: returns (x - mean, mean, var) with keep_dims means.
struct Moments {
  PortRef centered, mean, var;
};
Moments moments(NodeContext& c, PortRef x, PortRef axes) {
  PortRef mean = reduce(c, "ReduceMean", x, axes);
  PortRef d = binary(c, "Subtract", x, mean);
  PortRef var = reduce(c, "ReduceMean", binary(c, "Multiply", d, d), axes);
  return {d, mean, var};
}

PortRef inv_std(NodeContext& c, PortRef var, double eps) {
  ElemType t = c.type(var);
  PortRef s = c.op("Sqrt", "opset1", {binary(c, "Add", var, c.scalar(t, eps))});
  return binary(c, "Divide", c.scalar(t, 1.0), s);
}

// Inference uses the running statistics (BatchNormInference). Training mode (opset 14+) uses
// the batch statistics over all axes but the channel and also outputs the updated running
// mean/var: running * momentum + batch * (1 - momentum), with the population variance. Before
// opset 9, spatial=0 means statistics per activation: scale, bias, mean and var are [C, D1, ...].
void lower_batch_norm(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  double eps = c.attr_float("epsilon", 1e-5f);
  bool training = c.opset() >= 14 && c.attr_int("training_mode", 0) != 0;
  if (!training)
    for (size_t k = 1; k < c.num_outputs(); ++k)
      if (c.output_used(k))
        c.unsupported("output " + std::to_string(k) + " (mean/var statistics) is only defined in training mode");
  auto param = [&](size_t i) { return c.convert_like(c.input(i), x); };
  if (training) {
    PortRef axes = c.const_i64({0});
    axes = c.op("Concat", "opset1", {axes, trailing_axes(c, 0, 2)}, {{"axis", "0"}});
    Moments m = moments(c, x, axes);
    PortRef y = binary(c, "Multiply", m.centered, inv_std(c, m.var, eps));
    y = binary(c, "Multiply", y, per_channel(c, param(1), std::nullopt));
    c.set_output(0, binary(c, "Add", y, per_channel(c, param(2), std::nullopt)));
    double momentum = c.attr_float("momentum", 0.9f);
    auto running = [&](size_t input, PortRef batch) {
      PortRef old = binary(c, "Multiply", param(input), c.scalar(t, momentum));
      PortRef now = binary(c, "Multiply", reshape(c, batch, Ints{-1}), c.scalar(t, 1.0 - momentum));
      return binary(c, "Add", old, now);
    };
    if (c.output_used(1)) c.set_output(1, running(3, m.mean));
    if (c.output_used(2)) c.set_output(2, running(4, m.var));
    return;
  }
  if (c.opset() < 9 && c.attr_int("spatial", 1) == 0) {
    auto p = [&](size_t i) { return c.op("Unsqueeze", "opset1", {param(i), c.const_i64({0})}); };
    PortRef y = binary(c, "Multiply", binary(c, "Subtract", x, p(3)), inv_std(c, p(4), eps));
    y = binary(c, "Multiply", y, p(1));
    c.set_output(0, binary(c, "Add", y, p(2)));
    return;
  }
  c.set_output(0, c.op("BatchNormInference", "opset5", {x, param(1), param(2), param(3), param(4)}, {{"epsilon", fmt_float(eps)}}));
}

void lower_instance_norm(NodeContext& c) {
  PortRef y = mvn(c, c.input(0), trailing_axes(c, 0, 2), c.attr_float("epsilon", 1e-5f), true);
  y = binary(c, "Multiply", y, per_channel(c, c.convert_like(c.input(1), y), std::nullopt));
  c.set_output(0, binary(c, "Add", y, per_channel(c, c.convert_like(c.input(2), y), std::nullopt)));
}

// LayerNormalization normalizes over axes [axis, rank) in stash_type precision, then applies
// Scale and B (broadcast to X's trailing dims) in X's type. Mean and InvStdDev (optional
// outputs) are the statistics with the normalized axes kept as 1.
void lower_layer_norm(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  PortRef xs = c.convert(x, stash_type(c, t, true));
  PortRef axes = trailing_axes(c, 0, c.attr_int("axis", -1));
  double eps = c.attr_float("epsilon", 1e-5f);
  PortRef normalized;
  if (c.output_used(1) || c.output_used(2)) {
    Moments m = moments(c, xs, axes);
    PortRef inv = inv_std(c, m.var, eps);
    normalized = binary(c, "Multiply", m.centered, inv);
    auto declared = [&](size_t k, PortRef p) {
      auto ot = from_onnx(c.node().output(k)->type().elem_type);
      return ot ? c.convert(p, *ot) : p;
    };
    if (c.output_used(1)) c.set_output(1, declared(1, m.mean));
    if (c.output_used(2)) c.set_output(2, declared(2, inv));
  } else {
    normalized = mvn(c, xs, axes, eps, true);
  }
  PortRef y = c.convert(normalized, t);
  // The output has X's shape whatever Scale and B broadcast to, so a scale of ones or a bias of
  // zeros (never-trained models, elementwise_affine=False exports) is left out exactly, as ovc does.
  if (!constant_all(c, 1, 1.0)) y = binary(c, "Multiply", y, c.convert_like(c.input(1), x));
  if (c.has_input(2) && !constant_all(c, 2, 0.0)) y = binary(c, "Add", y, c.convert_like(c.input(2), x));
  c.set_output(0, y);
}

// GroupNormalization-12 takes per-channel scale and bias, as ONNX opset 21 does. Opset 18 has
// one scale/bias value per group: repeat each C/G times. Opset 21 also computes in stash_type.
void lower_group_norm(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  int64_t groups = c.attr_int("num_groups", 0);
  if (groups <= 0) c.unsupported("num_groups must be positive");
  ElemType st = stash_type(c, t, c.opset() >= 21);
  PortRef xs = c.convert(x, st);
  auto param = [&](size_t i) {
    PortRef p = c.convert(c.input(i), st);
    if (c.opset() >= 21) return p;
    PortRef channels = c.op("Gather", "opset8", {shape_of(c, x), c.const_i64({1}), c.scalar_i64(0)}, {{"batch_dims", "0"}});
    PortRef per_group = binary(c, "Divide", channels, c.const_i64({groups}));
    PortRef target = c.op("Concat", "opset1", {c.const_i64({groups}), per_group}, {{"axis", "0"}});
    PortRef tiled = c.op("Broadcast", "opset3", {reshape(c, p, Ints{groups, 1}), target}, {{"mode", "numpy"}});
    return reshape(c, tiled, Ints{-1});
  };
  PortRef y = c.op("GroupNormalization", "opset12", {xs, param(1), param(2)},
                   {{"num_groups", std::to_string(groups)}, {"epsilon", fmt_float(c.attr_float("epsilon", 1e-5f))}});
  c.set_output(0, c.convert(y, t));
}

// RMSNormalization (opset 23): X / sqrt(mean(X^2 over [axis, rank)) + epsilon) * scale, in the
// shape OpenVINO's RMS fusion recognizes.
void lower_rms_norm(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  ElemType st = stash_type(c, t, true);
  PortRef xs = c.convert(x, st);
  PortRef axes = trailing_axes(c, 0, c.attr_int("axis", -1));
  PortRef ms = reduce(c, "ReduceMean", c.op("Power", "opset1", {xs, c.scalar(st, 2.0)}, kNumpy), axes);
  PortRef rms = c.op("Sqrt", "opset1", {binary(c, "Add", ms, c.scalar(st, c.attr_float("epsilon", 1e-5f)))});
  PortRef y = c.convert(binary(c, "Divide", xs, rms), t);
  c.set_output(0, constant_all(c, 1, 1.0) ? y : binary(c, "Multiply", y, c.convert_like(c.input(1), x)));
}

// MeanVarianceNormalization: (X - mean) / (sqrt(var) + 1e-9) over `axes`.
void lower_mvn(NodeContext& c) {
  Ints axes = c.has_attr("axes") ? c.attr_ints("axes") : Ints{0, 2, 3};
  c.set_output(0, mvn(c, c.input(0), c.const_i64(axes), 1e-9, false));
}

// LpNormalization: x / ||x||_p along one axis (p = 1 or 2). A zero vector stays zero, as in
// onnxruntime, hence the tiny floor on the norm.
void lower_lp_norm(NodeContext& c) {
  PortRef x = c.input(0);
  int64_t p = c.attr_int("p", 2);
  PortRef axes = c.const_i64({c.attr_int("axis", -1)});
  if (p == 2) {
    c.set_output(0, c.op("NormalizeL2", "opset1", {x, axes}, {{"eps", fmt_float(FLT_MIN)}, {"eps_mode", "max"}}));
  } else if (p == 1) {
    PortRef norm = reduce(c, "ReduceL1", x, axes);
    norm = binary(c, "Maximum", norm, c.scalar(c.type(x), FLT_MIN));
    c.set_output(0, binary(c, "Divide", x, norm));
  } else {
    c.unsupported("p must be 1 or 2");
  }
}

// LRN across channels; both define the scale as bias + alpha / size * sum(x^2). The CPU plugin
// mishandles a fractional bias (1.5 acts as 1), so a bias other than 1 is factored out:
// x / (b + a/n*S)^beta = x / (1 + (a/b)/n*S)^beta * b^-beta.
void lower_lrn(NodeContext& c) {
  PortRef x = c.input(0);
  double alpha = c.attr_float("alpha", 1e-4f), beta = c.attr_float("beta", 0.75f), bias = c.attr_float("bias", 1.f);
  bool factor = bias > 0 && bias != 1.0;
  PortRef y = c.op("LRN", "opset1", {x, c.const_i64({1})},
                   {{"alpha", fmt_float(factor ? alpha / bias : alpha)},
                    {"beta", fmt_float(beta)},
                    {"bias", fmt_float(factor ? 1.0 : bias)},
                    {"size", std::to_string(c.attr_int("size", 1))}});
  if (factor) y = binary(c, "Multiply", y, c.scalar(c.type(x), std::pow(bias, -beta)));
  c.set_output(0, y);
}

}  // namespace

void register_norm_ops(LowerRegistry& r) {
  r.add("BatchNormalization", lower_batch_norm);
  r.add("InstanceNormalization", lower_instance_norm);
  r.add("LayerNormalization", lower_layer_norm);
  r.add("GroupNormalization", lower_group_norm);
  r.add("RMSNormalization", lower_rms_norm);
  r.add("MeanVarianceNormalization", lower_mvn);
  r.add("LpNormalization", lower_lp_norm);
  r.add("LRN", lower_lrn);
}

}  // namespace irforge::ov
