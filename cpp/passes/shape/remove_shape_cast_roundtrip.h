// remove-shape-cast-roundtrip — drops Cast(int64) of Cast(int32) of an int64 value that holds
// dims (Shape, Size and slices, gathers, (un)squeezes and concats of them).
//
// Why: paddle2onnx writes Paddle's int32 shape tensors as Cast(int32) → Cast(int64) pairs on
// every size it rebuilds from a Shape (an FPN's Resize sizes: two Converts per upsampling in the
// IR, where ovc has none).
// The math: for an int64 v with 0 <= v < 2^31, int64(int32(v)) == v. Dims are never negative,
// and a dim of 2^31 or more would already make the original compute a wrapped (negative) size.
//    d = Slice(Shape(x), 2, max); y = Cast(Cast(d, to=int32), to=int64)   ->   y := d
// Legacy Paddle programs cast the Shape to int32 first and select from that:
//    Cast(Slice(Cast(Shape(x), to=int32), 2, max), to=int64)   ->   Slice(Shape(x), 2, max)
// (a new Slice on the int64 dims). The selection may be a chain of Slice, Gather, Squeeze,
// Unsqueeze, Reshape, Flatten and Identity -- a legacy YOLO decode's
//    Cast(Reshape(Squeeze(Slice(Cast(Shape(x), to=int32), 2, 3)), [1]), to=int64)
// becomes Slice(Shape(x), 2, 3): a trailing run of reshaping ops (Squeeze, Unsqueeze, Reshape,
// Flatten, Identity) that ends in the static shape it started from is not replayed.
// The inner Casts stay for other users; dce drops them when none is left.
// Must not fire when: the value may not be a dim (any other producer, a negative or >= 2^31
// constant in a Concat), the inner Cast is to another type than int32 or the outer one does not
// return to the source's type.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class RemoveShapeCastRoundtrip final : public Pass {
 public:
  const char* name() const override { return "remove-shape-cast-roundtrip"; }
  const char* summary() const override { return "drop int64 -> int32 -> int64 Cast pairs on values that hold dims"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
