// simplify-shapes — uses the symbolic shape values of infer-shapes (what a Shape → Gather →
// Unsqueeze → Concat chain holds: static numbers and named dims such as "batch") to make
// dynamic-shape subgraphs constant or shared, as ovc's symbolic shape optimizations do.
//
// Why: exporters, TorchScript most of all, compute every Reshape/Expand target at run time from
// Shape of the activations, once per layer and per use. When the model has dynamic dims
// nothing of that folds, so the IR carries dozens of ShapeOf/Gather/Concat layers.
// Rewrites (a value's "content" is the symbolic value infer-shapes propagated):
//  1. a shape value whose content is all static numbers becomes a constant;
//  2. Reshape(x, t), t computed: each named dim of t equal to x's dim at the same index becomes
//     0 (ONNX: copy that dim; needs allowzero=0), static entries stay, and one remaining
//     unknown entry becomes -1 — the target is then a constant:
//        Reshape(q[batch,seq,64], Concat(batch, seq, 4, 16))  ->  Reshape(q, [0, 0, 4, 16])
//  3. Expand(x, t), t computed: entries equal to x's (right-aligned) dim become 1; the target
//     is then a constant when nothing else is left;
//  4. Flatten of a known-rank input becomes a Reshape by a constant ([0, -1] for axis 1);
//  5. shape values with the same fully known content (same type and rank) are merged into the
//     first one, so per-layer copies of "[seq, seq]" and everything built on them (causal
//     masks) become one, and cse/dce clean up.
// Named dims are taken as ONNX defines them: the same dim_param name is the same size.
// Must not: touch values whose content has an unknown element where the rewrite needs it, a
// Reshape with allowzero=1 (0 would then mean an empty dim), graph outputs' names, or values of
// another graph. It never removes nodes (dce does), so the symbolic map stays valid.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class SimplifyShapes final : public Pass {
 public:
  const char* name() const override { return "simplify-shapes"; }
  const char* summary() const override { return "make dynamic-shape computations constant or shared, using symbolic dims"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
