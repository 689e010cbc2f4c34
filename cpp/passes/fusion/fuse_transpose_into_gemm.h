// fuse-transpose-into-gemm — lets Gemm's transA/transB (OpenVINO: MatMul's transpose_a/b) do
// the work of a 2-D Transpose in front of a matrix product, so no transposed copy of a weight
// is stored and no layer transposes at run time:
//   Gemm(Transpose(A), B, C, transA=t)            → Gemm(A, B, C, transA=!t)   (same for B)
//   MatMul(X, Transpose(W)), X and W both rank 2  → Gemm(X, W, transB=1)       (same for X)
//
// Why: a constant Transpose is usually folded into a pre-transposed weight, but folding refuses
// to store a big weight twice when it is also read elsewhere (tied embeddings: a Gather reads
// the table, the output projection reads its Transpose). Gemm's flags need no copy at all. Only
// ranks 2 qualify: ONNX MatMul broadcasts batch dims, Gemm has none.
// Must not fire when: the Transpose is not a 2-D swap; the ranks are not known to be 2; the
// element type is not a float type (Gemm's and MatMul's integer support differ).
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseTransposeIntoGemm final : public Pass {
 public:
  const char* name() const override { return "fuse-transpose-into-gemm"; }
  const char* summary() const override { return "absorb 2-D Transposes feeding Gemm/MatMul into Gemm's transA/transB"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
