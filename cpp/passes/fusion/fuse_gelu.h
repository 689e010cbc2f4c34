// fuse-gelu — recognises GELU written out with Erf or Tanh and replaces it by one Gelu
// (opset 20; ONNX output below 20 expands it back, see legalize/expand_fused_ops.h). OpenVINO
// gets its Gelu op instead of five to nine elementwise layers.
//
// Math: erf form   y = 0.5 x (1 + erf(x / sqrt 2))                         → Gelu(x)
//       tanh form  y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))     → Gelu(x, approximate="tanh")
// The products are matched in any order and grouping (x*0.5*(1+e), (x*(1+e))*0.5, (x*(1+e))/2,
// x/sqrt2 or x*(1/sqrt2), x*x*x or Pow(x,3), x*(1 + 0.044715 x^2)); constants must equal their
// exact values within 1e-5 relative (4e-3 for 16-bit floats).
//
//   x ─┬─ Div(√2) ─ Erf ─ Add(1) ─┐
//      └────────────────────────── Mul ─ Mul(0.5) ─ y      ⇒      x ─ Gelu ─ y
//
// Must not fire when: an intermediate is used outside the pattern or is a graph output; a
// constant differs (e.g. 0.5 → 0.6) or is not a one-element constant; a constant's rank would
// broadcast x to a bigger shape; the erf/tanh argument is not built from the same x.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseGelu final : public Pass {
 public:
  const char* name() const override { return "fuse-gelu"; }
  const char* summary() const override { return "recognise decomposed GELU (erf and tanh forms) as one Gelu op"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
