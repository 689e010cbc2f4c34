// simplify-layout — merges or cancels chains of data-movement ops that only rearrange a tensor:
//   Transpose(p2) ∘ Transpose(p1)  → Transpose(q), q[i] = p1[p2[i]]; removed when q is identity
//   Transpose(identity perm)       → its input
//   Transpose(p) ∘ Reshape(s)      → Reshape(s permuted by p)  (p moves only dims s spells
//                                                         as 1; a 0 in s must stay in place)
//   Reshape(s2) ∘ Reshape(s1)      → Reshape(s2)        (s2 constant; a 0 in s2 with
//                                                         allowzero=0 copies a dim of the
//                                                         intermediate, so it must be static)
//   Unsqueeze(a) ∘ Squeeze(a)      → its input           (same normalized axes)
//   Squeeze(a) ∘ Unsqueeze(a)      → its input
//
// Why: exporters wrap layout changes around ops (view/transpose/contiguous, unsqueeze for
// broadcasting); every leftover is a layer that copies memory. The results are bit-identical:
// these ops only move elements.
// Must not fire when: a perm/shape/axes is not a constant; a Reshape's 0 refers to a dim that
// is not static; Squeeze has no axes (which dims go depends on run-time shapes); ranks needed
// to normalize negative axes are unknown; a bypass would rename a graph input or merge two
// graph outputs. The first op of a chain stays when something else still reads it.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class SimplifyLayoutChains final : public Pass {
 public:
  const char* name() const override { return "simplify-layout"; }
  const char* summary() const override { return "merge/cancel Transpose, Reshape and Squeeze/Unsqueeze chains; drop identity Transposes"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
