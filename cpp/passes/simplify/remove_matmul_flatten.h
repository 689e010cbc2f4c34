// remove-matmul-flatten — a MatMul/Gemm applied to a flattened tensor and unflattened again
// becomes one MatMul on the original tensor:
//   x[d0..dk, K] → Reshape → [M, K] → Gemm(B, C) / MatMul(B) → [M, N] → Reshape → [d0..dk, N]
//     ⇒ x → MatMul(B) (+ C)                         (B transposed first when transB = 1)
//
// Why: TorchScript exports of GPT-2's Conv1D (`addmm` on `x.view(-1, K)`, then
// `view(size_out)` with size_out rebuilt from x's own Shape) and of other `nn.Linear`-as-addmm
// code carry two Reshapes per linear layer and the Shape/Gather/Concat that rebuild the target
// (96 Reshape layers in a 12-layer GPT-2); a MatMul broadcasts over the leading dims itself.
// Exact: each output row is the same dot products in the same order.
// When it fires: the first Reshape keeps x's last dim K (static, non-zero) as its second and
// last dim, so it flattens exactly the leading dims; the last Reshape's shape is x's leading dims
// (the same static values or the same symbols, as shape inference knows them) followed by N;
// Gemm has transA = 0 and alpha = 1, and beta = 1 or no C; C broadcasts along rows ([N],
// [1, N] or a scalar). The intermediate values have no other use and are no graph outputs.
// Must not fire when any dim it compares is unknown, or on anything else.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class RemoveMatMulFlatten final : public Pass {
 public:
  const char* name() const override { return "remove-matmul-flatten"; }
  const char* summary() const override { return "Reshape→Gemm/MatMul→Reshape around flattened leading dims → one MatMul"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
