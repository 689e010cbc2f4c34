// fuse-mul-add-into-linear — folds multiplications/divisions and additions/subtractions by
// constants that sit next to a Conv, ConvTranspose, Gemm or MatMul with a constant float32
// weight into that weight and bias.
//
// Math (per channel; s, t are the constant broadcast to one value per channel):
//   after:  (x ⊛ W + b) * s  = x ⊛ (W * s[out]) + b * s        Mul, Div (s = 1/c)
//           (x ⊛ W + b) + t  = x ⊛ W + (b + t)                  Add, Sub (t = -c)
//           MatMul + Add(b) followed by Mul/Div/Add/Sub: the same into W and the Add's b
//   before: (x * s) ⊛ W      = x ⊛ (W * s[in])                  Mul, Div; zero padding stays 0
// New weights are computed in double and rounded once, so results differ only by fp rounding.
//
//   x → Conv(W, b) → Mul(s) → Add(t) → y      ⇒      x → Conv(W·s, b·s + t) → y
//
// Must not fire when: the constant varies along any axis but the channel axis, or has a rank
// above the tensor's (it would broadcast the result to a new shape); the before-Mul would
// broadcast x along the channel axis; a divisor is 0; a constant (or its reciprocal) is not
// finite; any tensor is not float32; for a Mul/Div, the weight or
// bias is read by another node (no weight is ever stored twice; an Add/Sub gives the op a new
// bias of its own and leaves the shared weight, as in both branches of an If); the intermediate value has
// another user or is a graph output; Add after a bare MatMul (that pair is already the bias
// form); ranks needed to line up the broadcast are unknown.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseMulAddIntoLinear final : public Pass {
 public:
  const char* name() const override { return "fuse-mul-add-into-linear"; }
  const char* summary() const override { return "fold per-channel Mul/Div/Add/Sub by constants into Conv/ConvTranspose/Gemm/MatMul weights and bias"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
