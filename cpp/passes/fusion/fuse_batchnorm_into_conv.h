// fuse-batchnorm-into-conv — folds an inference BatchNormalization that follows a Conv or
// ConvTranspose with constant weights into the convolution's weights and bias.
//
// Math, per output channel o, with s[o] = scale[o] / sqrt(var[o] + epsilon):
//   W'[o, ...] = W[o, ...] * s[o]          (ConvTranspose: the output channel is axis 1 within
//                                            each group)
//   B'[o]      = (B[o] - mean[o]) * s[o] + bias[o]      (B = 0 when the conv has no bias)
// Computed in double, stored as float32. A W above 64 KiB is computed while the writer streams it
// (passes/fold/lazy_weights.h), so no second copy of the kernels is held.
//
//   x → Conv(W, B) → BN(scale, bias, mean, var) → y      ⇒      x → Conv(W', B') → y
//
// Must not fire when: the conv output has another user or is a graph output; any parameter is
// not a float32 constant; BN runs in training mode or its mean/var outputs are used.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseBatchNormIntoConv final : public Pass {
 public:
  const char* name() const override { return "fuse-batchnorm-into-conv"; }
  const char* summary() const override { return "fold BatchNormalization into the preceding Conv/ConvTranspose weights"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
