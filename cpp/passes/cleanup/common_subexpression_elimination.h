// cse — common subexpression elimination: two nodes with the same op (domain, type, overload),
// the same attributes and the same input values compute the same outputs, so the later one is
// replaced by the earlier one.
//
// Why: exporters repeat work per layer or per use (Shape of the same tensor, the same
// Unsqueeze of a constant, the same causal-mask subgraph in every attention block). Merging
// them makes the graph smaller and lets folding and fusion see one producer.
// Sketch:  a = Shape(x); b = Shape(x); c = Add(a, b)   ->   a = Shape(x); c = Add(a, a)
// Runs in topological order, so whole duplicated chains collapse in one sweep. Binary
// commutative ops (Add, Mul, And, Or, Xor, Equal, Max, Min) match with swapped inputs.
// Must not: merge non-deterministic ops (Random*, Multinomial, Bernoulli, Dropout), nodes of
// non-standard domains (their side effects are unknown), nodes holding subgraphs (If, Loop,
// Scan: their bodies would have to be compared), nodes without outputs, or two nodes whose
// outputs are both graph outputs (each keeps its name). Constant nodes and initializers are
// merged by dedupe-weights, which compares bytes; this pass compares values by identity.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class CommonSubexpressionElimination final : public Pass {
 public:
  const char* name() const override { return "cse"; }
  const char* summary() const override { return "merge nodes computing the same op on the same inputs"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
