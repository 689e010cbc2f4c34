// fuse-batchnorm-into-next-linear — folds an inference BatchNormalization into the Conv, Gemm
// or 2-D MatMul (with its bias Add) that reads it, when nothing pads between them.
// (A BN after its linear op is fuse-batchnorm-into-conv / -into-linear.)
//
// BN is y = x * s + t per channel (axis 1), s = scale / sqrt(var + eps), t = B - mean * s; axis 1
// is the linear op's input-channel axis (Conv: C of [N, C, ...]; Gemm/MatMul on [N, K]: K), so
//   W'[.., c, ..] = W[.., c, ..] * s[c]
//   b'[o]         = b[o] + Σ_c t[c] · Σ_(kernel) W[o, c, kernel]          (Gemm/MatMul: Σ_k t[k] W[k, n])
// Computed in double, stored as float32.
//
//   x → BN → Conv(W, b) → y          ⇒      x → Conv(W', b') → y
//   x → BN → MatMul(W) → Add(b) → y  ⇒      x → MatMul(W') → Add(b') → y
//
// Why: BN before a linear layer (BatchNorm1d heads of MLPs, BN-first stems, 1x1 transition
// convs) stayed a BatchNormInference layer; ovc folds it.
// Must not fire when: the Conv pads (a padded border would see 0, not t) or has groups; BN runs
// in training mode or its extra outputs are read; BN's output has another user or is a graph
// output; any parameter is not a float32 constant of C values; the weight/bias is read
// elsewhere; Gemm has transA or alpha != 1; a MatMul's input is not rank 2 or has no bias Add
// (BN + MatMul would become MatMul + Add: no layer saved).
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseBatchNormIntoNextLinear final : public Pass {
 public:
  const char* name() const override { return "fuse-batchnorm-into-next-linear"; }
  const char* summary() const override { return "fold BatchNormalization into the Conv/Gemm/MatMul that reads it (no padding between)"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
