// fuse-rms-norm — recognises RMS normalization written out (Llama/T5 style) and replaces it by
// one RMSNormalization (opset 23; expanded back for ONNX output below 23).
//
// Math, over the last k axes:   y = x / sqrt(mean(x^2) + eps) * w
//   → RMSNormalization(x, w, axis=-k, epsilon=eps, stash_type=1)
// Accepted: x^2 as Pow(x, 2) or x*x; the division as Div, x * Reciprocal(sqrt), x * (1/sqrt)
// or x * Pow(., -0.5); no eps; no weight (w = ones); and the Llama form that computes in float32:
//   h = Cast(x, float) … n = h / sqrt(mean(h^2) + eps); y = w * Cast(n, type of x)
// which is exactly RMSNormalization's stash_type=1 behaviour.
//
// Must not fire when: the axes are not trailing, keepdims is 0 or axes are not constant; an
// intermediate is used outside the pattern; w is not a constant of the normalized dims and x's
// type; x is not float32 without the Cast pair; the casts do not go to float32 and back to
// x's own type.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseRmsNorm final : public Pass {
 public:
  const char* name() const override { return "fuse-rms-norm"; }
  const char* summary() const override { return "recognise decomposed RMSNorm (Pow/ReduceMean/Add/Sqrt/Div/Mul, Llama casts) as RMSNormalization"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
