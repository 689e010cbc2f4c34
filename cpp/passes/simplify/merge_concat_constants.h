// merge-concat-constants — neighbouring constant inputs of a Concat become one constant:
//   Concat(x, [12], [64], y)  →  Concat(x, [12, 64], y)          (any rank, along the axis)
//   Concat(c1, c2)            →  fold's job (every input constant)
//
// Why: TorchScript builds Reshape targets as Concat(Unsqueeze(batch), Unsqueeze(seq), [12],
// [64]); once the Unsqueezes of constant scalars fold, the constants stay separate inputs, and
// a shape value with fewer pieces is what simplify-shapes and cse compare and merge. The bytes
// are copied as they are: exact.
// Must not fire when: the axis or a constant's rank/dims do not line up (the validator already
// refused those), a merged constant would be larger than the fold size limit, the element type
// is not a whole number of bytes (string, int4), or no two constants are adjacent.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class MergeConcatConstants final : public Pass {
 public:
  const char* name() const override { return "merge-concat-constants"; }
  const char* summary() const override { return "merge adjacent constant inputs of a Concat into one constant"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
