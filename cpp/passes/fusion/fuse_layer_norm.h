// fuse-layer-norm — recognises layer normalization written out with ReduceMean (what torch
// exports below opset 17, and hand-written "TF-style" LayerNorm modules) and replaces it by one
// LayerNormalization (opset 17; expanded back for ONNX output below 17). OpenVINO lowers it to
// MVN + Multiply + Add.
//
// Math, over the last k axes:  m = mean(x);  d = x - m;  v = mean(d^2)
//   y = d / sqrt(v + eps) * gamma + beta     → LayerNormalization(x, gamma, beta, axis=-k, epsilon=eps)
// Accepted: d^2 as Pow(d, 2) or d*d; x - m computed once or twice; d / sqrt(.) as Div, as
// d * Reciprocal(sqrt(.)), d * (1 / sqrt(.)) or d * Pow(., -0.5); no eps (eps = 0); gamma and
// beta optional and in either operand order.
//
// Must not fire when: the two ReduceMeans differ in axes, the axes are not the trailing axes,
// keepdims is 0 or axes are not constant; an intermediate is used outside the pattern; gamma /
// beta are not float32 constants whose dims are exactly the normalized dims (a broadcasting
// gamma such as [1, 1, H] would change the op); x is not float32 (LayerNormalization computes
// in float32, so a float16 pattern would change numerics).
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseLayerNorm final : public Pass {
 public:
  const char* name() const override { return "fuse-layer-norm"; }
  const char* summary() const override { return "recognise decomposed LayerNorm (ReduceMean/Sub/Pow/.../Div/Mul/Add) as LayerNormalization"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
