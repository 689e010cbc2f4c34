// onnxruntime's transformers-optimizer contrib ops (domain com.microsoft) that models passed
// through onnxruntime.transformers.optimizer carry: the GELU family (Gelu, FastGelu, BiasGelu,
// QuickGelu), BiasAdd and the fused normalizations (SkipLayerNormalization,
// SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization). Semantics from onnxruntime's
// ContribOperators.md; each lowers to the OpenVINO ops the CPU plugin fuses (Gelu-7, MVN-6, the
// RMS pattern of norm.cc). The ONNX writer keeps these nodes as they are.
#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

namespace {

using namespace nn;

const char kMs[] = "com.microsoft";

PortRef gelu(NodeContext& c, PortRef x, bool tanh) {
  return c.op("Gelu", "opset7", {x}, {{"approximation_mode", tanh ? "TANH" : "ERF"}});
}

// Input i added to x when present (an optional bias).
PortRef plus_optional(NodeContext& c, PortRef x, size_t i) { return c.has_input(i) ? binary(c, "Add", x, c.input(i)) : x; }

// Gelu: x · Φ(x) (erf form). BiasGelu: Gelu(A + B). FastGelu: the tanh form of Gelu(X + bias).
void lower_gelu(NodeContext& c) { c.set_output(0, gelu(c, c.input(0), false)); }
void lower_bias_gelu(NodeContext& c) { c.set_output(0, gelu(c, binary(c, "Add", c.input(0), c.input(1)), false)); }
void lower_fast_gelu(NodeContext& c) { c.set_output(0, gelu(c, plus_optional(c, c.input(0), 1), true)); }

// QuickGelu: x · sigmoid(alpha · x).
void lower_quick_gelu(NodeContext& c) {
  PortRef x = c.input(0);
  PortRef scaled = binary(c, "Multiply", x, c.scalar(c.type(x), c.attr_float("alpha", 1.702f)));
  c.set_output(0, binary(c, "Multiply", x, c.op("Sigmoid", "opset1", {scaled})));
}

// BiasAdd: X + bias + skip.
void lower_bias_add(NodeContext& c) { c.set_output(0, binary(c, "Add", binary(c, "Add", c.input(0), c.input(1)), c.input(2))); }

// 1 / sqrt(v + eps).
PortRef inv_sqrt(NodeContext& c, PortRef v, double eps) {
  ElemType t = c.type(v);
  return binary(c, "Divide", c.scalar(t, 1.0), c.op("Sqrt", "opset1", {binary(c, "Add", v, c.scalar(t, eps))}));
}

// RMS normalization over `axes`, in the shape norm.cc writes (OpenVINO's RMS fusion).
struct Rms {
  PortRef y, inv_std;
};
Rms rms(NodeContext& c, PortRef x, PortRef axes, double eps, bool need_inv_std) {
  ElemType t = c.type(x);
  PortRef ms = reduce(c, "ReduceMean", c.op("Power", "opset1", {x, c.scalar(t, 2.0)}, {{"auto_broadcast", "numpy"}}), axes);
  PortRef y = binary(c, "Divide", x, c.op("Sqrt", "opset1", {binary(c, "Add", ms, c.scalar(t, eps))}));
  return {y, need_inv_std ? inv_sqrt(c, ms, eps) : PortRef{}};
}

// SkipLayerNormalization(input, skip, gamma, beta?, bias?) → (output, mean?, inv_std_var?,
// input_skip_bias_sum?): LayerNormalization over the last axis of input + skip (+ bias).
// SkipSimplifiedLayerNormalization(input, skip, gamma, bias?): the RMS form, no beta.
void lower_skip_norm(NodeContext& c, bool simplified) {
  PortRef x = c.input(0);
  double eps = c.attr_float("epsilon", simplified ? 1e-5f : 1e-12f);
  PortRef sum = plus_optional(c, binary(c, "Add", x, c.input(1)), simplified ? 3 : 4);
  PortRef axes = c.const_i64({-1});
  if (simplified) {
    Rms r = rms(c, sum, axes, eps, c.output_used(2));
    c.set_output(0, binary(c, "Multiply", r.y, c.input(2)));
    if (c.output_used(2)) c.set_output(2, r.inv_std);
  } else {
    PortRef y = binary(c, "Multiply", c.op("MVN", "opset6", {sum, axes}, {{"eps", fmt_float(eps)}, {"normalize_variance", "true"}, {"eps_mode", "INSIDE_SQRT"}}),
                       c.input(2));
    c.set_output(0, plus_optional(c, y, 3));
    if (c.output_used(1) || c.output_used(2)) {
      PortRef mean = reduce(c, "ReduceMean", sum, axes);
      PortRef d = binary(c, "Subtract", sum, mean);
      if (c.output_used(1)) c.set_output(1, mean);
      if (c.output_used(2)) c.set_output(2, inv_sqrt(c, reduce(c, "ReduceMean", binary(c, "Multiply", d, d), axes), eps));
    }
  }
  if (c.output_used(3)) c.set_output(3, sum);
}

// SimplifiedLayerNormalization(X, scale) → (Y, inv_std_var?): RMS normalization over
// [axis, rank) times scale.
void lower_simplified_norm(NodeContext& c) {
  Rms r = rms(c, c.input(0), trailing_axes(c, 0, c.attr_int("axis", -1)), c.attr_float("epsilon", 1e-5f), c.output_used(1));
  c.set_output(0, binary(c, "Multiply", r.y, c.input(1)));
  if (c.output_used(1)) c.set_output(1, r.inv_std);
}

}  // namespace

void register_ms_transformer_ops(LowerRegistry& r) {
  r.add("Gelu", lower_gelu, kMs);
  r.add("BiasGelu", lower_bias_gelu, kMs);
  r.add("FastGelu", lower_fast_gelu, kMs);
  r.add("QuickGelu", lower_quick_gelu, kMs);
  r.add("BiasAdd", lower_bias_add, kMs);
  r.add("SkipLayerNormalization", [](NodeContext& c) { lower_skip_norm(c, false); }, kMs);
  r.add("SkipSimplifiedLayerNormalization", [](NodeContext& c) { lower_skip_norm(c, true); }, kMs);
  r.add("SimplifiedLayerNormalization", lower_simplified_norm, kMs);
  // onnxruntime registers (and its optimizer writes) this one in the default domain.
  r.add("SimplifiedLayerNormalization", lower_simplified_norm);
}

}  // namespace irforge::ov
