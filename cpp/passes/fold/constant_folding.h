// fold — constant folding: evaluates, with the reference kernels of passes/fold/kernels.h, every
// node whose inputs are all constant, and replaces its outputs by initializers.
//
// Why: exporters leave whole subgraphs that compute constants at run time — weight casts and
// transposes, Constant nodes, and the shape arithmetic of transformers
// (Shape → Gather → Unsqueeze → Concat → Reshape). Folding them shrinks the graph and lets the
// fusions that need constant operands fire.
//
//   W(init) → Transpose → Cast → MatMul(x, ·)      ⇒   W'(init) → MatMul(x, ·)
//   x[2,3,4] → Shape → Gather(1) → Unsqueeze → Concat(·, [-1]) → Reshape(x, ·)
//                                                  ⇒   [3, -1](init) → Reshape(x, ·)
//
// What folds: a node of the default ONNX domain with a kernel (deterministic ops only), in
// topological order through the main graph and every subgraph, when each present input is a
// constant (an initializer that is not a graph input, a Constant node, or an output folded
// earlier in the same sweep) — so a whole constant chain folds in one run. Shape and Size also
// fold when their input is not constant but its IR type is static enough: every dim for Size,
// the dims selected by start/end for Shape (Shape(x, start=1) of x[batch, 128, 768] folds).
// Each output keeps its name, uses and, for graph outputs, its declared type; the node is
// removed. Inputs left unused stay for dce to remove.
//
// Must not fire when: an input is not constant (graph inputs, even with a default value, are
// not); the op is from another domain, has no kernel, or the kernel does not handle the types
// or attributes (it never fails the pass); no output of the node is used (dead nodes are dce's);
// or the outputs would be larger than PassOptions::fold_size_limit AND larger than the node's
// inputs together — folding never grows the model, so Expand / Tile / ConstantOfShape / Range
// with big outputs stay as they are; or an input over 4 KiB is still read elsewhere (kept after
// folding) and the outputs exceed both 4 KiB and the constant inputs only this node reads.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class ConstantFolding final : public Pass {
 public:
  const char* name() const override { return "fold"; }
  const char* summary() const override { return "evaluate nodes with constant inputs (and static Shape/Size) into initializers, size-limited"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
