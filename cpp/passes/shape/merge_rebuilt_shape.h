// merge-rebuilt-shape — a shape rebuilt from pieces of several Shapes is the Shape of one of
// them when every piece agrees with that tensor's dims.
//
// Why: paddle2onnx writes an FPN's Resize sizes as Concat(Shape(x)[0:2], Shape(lateral)[2:]):
// batch and channels of the upsampled input, height and width of the lateral it is added to.
// Batch and channels are the lateral's too, so the sizes are Shape(lateral) and the Shape(x),
// two Slices and the Concat go (ovc gets there through its symbolic shape labels).
// The math: Concat of slices of Shape(A_k) covering indices 0..r-1 in order equals Shape(B)
// when B has rank r and, at every index i, the piece's source dim equals B's dim i — both the
// same static number or the same named dim (ONNX: one dim_param name is one size).
//    Concat(Slice(Shape(x[n,16,h,w]), 0, 2), Slice(Shape(lat[n,16,H,W]), 2, max))  ->  Shape(lat)
// Must not fire when: a piece is not a plain slice (constant starts/ends, axis 0, step 1) of a
// Shape without start/end, the pieces leave a gap or overlap, or a dim differs or is unknown.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class MergeRebuiltShape final : public Pass {
 public:
  const char* name() const override { return "merge-rebuilt-shape"; }
  const char* summary() const override { return "replace a Concat of Shape slices by the one Shape whose dims all pieces share"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
