// merge-unstack-concat — a tensor unstacked along one axis (a Slice of width 1 and a Squeeze per
// index) and concatenated again along the last axis: one Transpose and one Reshape.
//
// Why: tf2onnx writes a Keras Bidirectional RNN's output this way (and Paddle2ONNX its
// bidirectional LSTM): Y [seq, 2, batch, hidden] → Y[:, 0], Y[:, 1] → Concat(axis=-1) gives
// [seq, batch, 2·hidden]; 5 layers (2 Slices, 2 Squeezes, a Concat) where a Transpose that puts
// the unstacked axis just before the last one and a Reshape merging the two do the same, and the
// Transpose then composes with the RNN lowering's own layout Transpose.
// The math, X of rank r, unstacked axis d of static size n, L = X's axes without d:
//    Concat_{k<n}(Squeeze(Slice(X, k, k+1, axis d), d), axis = r-2)
//      == Reshape(Transpose(X, L[..r-2] + [d] + [L[r-2]]), [0, .., 0, n·X[L[r-2]]])
//    out[.., k·m + j] = X[.., k (axis d), .., j (axis L[r-2])]   (block k of the Concat is slice k)
//    Y[s, 2, b, h] → Transpose(Y, [0, 2, 1, 3]) [s, b, 2, h] → Reshape([0, 0, 2h]) [s, b, 2h]
// The target's leading 0s copy the transposed dims at the same index (allowzero=0), which are
// L's; the last entry is static, so no -1 is left for a 0-sized dim to make ambiguous.
// Must not fire: slices not in index order 0..n-1 or not covering the axis, steps other than 1,
// another reader of a Slice or Squeeze output, a Concat on another axis than the last, unknown
// rank, a non-static size of axis d or of the last kept axis.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class MergeUnstackConcat final : public Pass {
 public:
  const char* name() const override { return "merge-unstack-concat"; }
  const char* summary() const override { return "Slice+Squeeze per index of an axis, concatenated on the last axis -> Transpose + Reshape"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
