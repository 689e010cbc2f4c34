// remove-neutral-elements — drops ops that return one of their inputs unchanged:
//   x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1, x ^ 1      → x   (the constant all zeros / ones)
//   Where(c, a, b), c a constant all true (all false)    → a (b)
//   Expand(x, s), every s[i] 1 or x's dim                 → x
//   Tile(x, r), every r[i] == 1                           → x
//   Concat(x)                                             → x   (one input)
//   Slice(x, ...) covering every element, steps 1         → x
//   Reshape(x, s) to x's own shape                        → x   (0 / -1 resolving to x's dims)
//   Gemm(a, b, C), C all zero                             → Gemm(a, b)   (opset >= 11)
//   Conv / ConvTranspose(x, w, B), B all zero             → Conv(x, w)
//   ("all zero" also sees through Cast and a DequantizeLinear of its own zero point)
//
// Why: freshly initialized, pruned or partially trained models carry zero biases and unit
// scales (72 `MatMul + 0` in a 12-layer BERT), exporters wrap no-op broadcasts, slices and
// reshapes around dynamic dims; each is a layer the runtime schedules, and ovc drops them.
// Exact: x + 0 only flips a -0 to +0, which compares equal; the rest return x's elements as
// they are.
// Must not fire when broadcasting would change the output: the constant (or the other Where
// branch, the condition) has a higher rank than x or a dim that is neither 1 nor x's own
// (dims compared statically or by symbol); when x's rank or a dim the rule needs is unknown;
// when the output type differs from x's; when the bypass would rename a graph input or merge
// two graph outputs. Cast to its own type is remove-identity's job.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class RemoveNeutralElements final : public Pass {
 public:
  const char* name() const override { return "remove-neutral-elements"; }
  const char* summary() const override {
    return "drop x+0, x*1, x/1, x^1, zero Conv/Gemm biases, constant-condition Where, same-shape Expand/Tile/Reshape, whole Slice, one-input Concat";
  }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
