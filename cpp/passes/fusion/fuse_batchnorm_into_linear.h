// fuse-batchnorm-into-linear — folds an inference BatchNormalization that follows a Gemm, or a
// MatMul with a constant 2-D weight (alone or with its bias Add), into the weight and bias.
// (Conv/ConvTranspose + BatchNormalization is fuse-batchnorm-into-conv.)
//
// BatchNormalization normalizes axis 1; after a Gemm or a MatMul with a rank-2 result that is
// the output-feature axis N, so with s[n] = scale[n] / sqrt(var[n] + epsilon):
//   W'[:, n] = W[:, n] * s[n]   (the row with transB)
//   b'[n]    = (b[n] - mean[n]) * s[n] + bias[n]      (Gemm: b = beta * C; MatMul: b = 0)
// Computed in double, stored as float32. A bare MatMul gets its bias as an Add.
//
//   x → Gemm(W, C) → BN → y          ⇒      x → Gemm(W', b') → y
//   x → MatMul(W) [→ Add(b)] → BN → y  ⇒    x → MatMul(W') → Add(b') → y
//
// Must not fire when: the MatMul result's rank is not known to be 2 (a rank-3 [B, S, N] result
// would normalize S, not the features); BN runs in training mode or its extra outputs are read;
// any parameter is not a float32 constant of N values; the weight/bias is read elsewhere; the
// intermediate value has another user or is a graph output; a Gemm's C varies by row.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseBatchNormIntoLinear final : public Pass {
 public:
  const char* name() const override { return "fuse-batchnorm-into-linear"; }
  const char* summary() const override { return "fold BatchNormalization into the preceding Gemm/MatMul weights"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
