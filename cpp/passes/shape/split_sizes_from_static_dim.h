// split-sizes-from-static-dim — Split-18 by `num_outputs` on an axis whose size is static becomes
// a Split by constant sizes.
//
// Why: the dynamo exporter writes GPT-2's qkv split as Split(x[batch, seq, 2304], num_outputs=3).
// With batch and seq dynamic the OpenVINO lowering cannot see the split axis as static and
// computes the chunk sizes at run time (ShapeOf, Gather, Add, Divide, Broadcast, Multiply,
// Subtract, Unsqueeze, Concat: 9 layers per Split; ovc writes one Split).
// The math (ONNX Split-18): chunk = ceil(d / n); n-1 chunks of that size, the last d - chunk*(n-1).
//    Split(x[b, s, 2304], axis=2, num_outputs=3)  ->  Split(x, [768, 768, 768], axis=2)
// Must not fire: the axis size is not static, the sizes would leave a negative last chunk (the
// runtime refuses those), num_outputs disagrees with the node's outputs, or the node already has
// sizes (an input, or the attribute before opset 13).
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class SplitSizesFromStaticDim final : public Pass {
 public:
  const char* name() const override { return "split-sizes-from-static-dim"; }
  const char* summary() const override { return "Split by num_outputs on a static axis -> Split by constant sizes"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
