// shape-of-range — Shape(Range(0, n, 1)) is [n] when n is a dim.
//
// Why: paddle2onnx writes paddle.meshgrid (a YOLO decode's grid over the feature map) as
// Expand(Reshape(Range(0, float(h), 1)), Concat(Shape(range_h), Shape(range_w))): two ShapeOf
// layers of the Ranges where the sizes are h and w, which the graph already holds.
// The math: Range(0, n, 1) has max(ceil(n), 0) elements; for a dim n >= 0 that is n. A float
// limit Cast(n, float) is n exactly while n <= 2^24 (beyond, a float32 range cannot tell its
// own positions apart, so no model counts on it); double limits are exact to 2^53.
//    r = Range(0.0, Cast(h, float), 1.0); s = Shape(r)   ->   s = Unsqueeze(h, 0)
// (simplify-layout then cancels Unsqueeze(Squeeze(x)) into x where h was squeezed from a shape).
// Legacy Paddle programs take h from an int32 Cast of the Shape (Squeeze(Slice(Cast(Shape(x),
// int32)))): then s = Unsqueeze(Cast(h, int64), 0), and remove-shape-cast-roundtrip takes that
// Cast's selection from the int64 Shape.
// Must not fire when: start is not a constant 0 or delta not a constant 1, the limit is not a
// scalar dim (holds_dims, or int32 selected from Cast(int32) of
// dims) or a float/double Cast of one, or the Shape has start/end.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class ShapeOfRange final : public Pass {
 public:
  const char* name() const override { return "shape-of-range"; }
  const char* summary() const override { return "Shape(Range(0, n, 1)) -> [n] when n is a dim"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
