// merge-reshape-transpose-reshape — Reshape that merges leading dims, a Transpose that keeps the
// merged axis first, and a Reshape that splits the leading dims again: one Transpose.
//
// Why: the dynamo exporter's scaled_dot_product_attention decomposition transposes the key as
// k.reshape(-1, seq, 64).transpose(1, 2).reshape(batch, heads, 64, seq), each target computed
// from Shape/Slice/Concat of k (BERT, GPT-2: 2 Reshapes per layer plus 4 shape layers; ovc keeps
// them too). The leading dims never move, so the three ops are k.transpose(-1, -2).
// The math, x of rank r, the middle of rank k (axis 0 = x's dims 0..r-k merged, axis j = x's
// axis r-k+j), perm p with p[0] = 0:
//    Reshape(Transpose(Reshape(x, [-1, d1.. ]), p), [x0.., d_p1..])  ==  Transpose(x, [0..r-k, r-k+p1, ..])
//    k[b, h, s, 64] -> [b*h, s, 64] -> [b*h, 64, s] -> [b, h, 64, s]   ==  Transpose(k, [0, 1, 3, 2])
// Checked on the inferred shapes (named dims compare by name): the first Reshape's dims 1.. are
// x's trailing dims, the second Reshape's output is x's leading dims followed by the transposed
// trailing ones. Must not fire: unknown dims where the check needs them, p[0] != 0 (the merged
// axis moves), a middle value with other users, or a merged axis of one dim (nothing merged).
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class MergeReshapeTransposeReshape final : public Pass {
 public:
  const char* name() const override { return "merge-reshape-transpose-reshape"; }
  const char* summary() const override { return "Reshape (merge leading dims) -> Transpose -> Reshape (split them) -> one Transpose"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
