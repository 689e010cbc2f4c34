// fuse-pad-into-conv — moves an explicit constant-mode Pad of the spatial dims into the pads of
// the Conv, AveragePool or MaxPool that reads it.
//
//   x → Pad(pads p, value v) → Conv(pads q) → y        ⇒      x → Conv(pads p + q) → y
//   x → Pad(p) → Transpose(perm) → Conv(q)             ⇒      x → Transpose(perm) → Conv(perm(p) + q)
//   (NHWC exports pad before their Transpose to NCHW; the pads move with the axes)
//
// Exact because the op's own padding is the same as the Pad's:
//   Conv:        its padding is zeros                          → needs v = 0
//   AveragePool: count_include_pad=1 averages padded zeros     → needs v = 0
//   MaxPool:     its padding never wins a max, as -inf          → needs v = -inf
// Must not fire when: the Pad mode is not constant; pads are negative or touch the batch or
// channel dims; pads/value/axes are not constants; the op uses auto_pad SAME_* (VALID is pads 0);
// a pool has ceil_mode=1 or count_include_pad=0 (AveragePool), or the merged pads would reach the
// (dilated) kernel extent (pools reject that); MaxPool's Indices output is read (it indexes the
// padded tensor); the padded (or transposed) tensor has another user or is a graph output.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FusePadIntoConv final : public Pass {
 public:
  const char* name() const override { return "fuse-pad-into-conv"; }
  const char* summary() const override { return "merge constant-mode Pad into Conv/AveragePool/MaxPool pads"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
