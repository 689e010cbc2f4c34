// dce — removes nodes none of whose outputs are used (by a node, a subgraph or a graph
// output) and initializers nothing reads, in the main graph and every subgraph.
//
// Why: conversions and other passes leave unreachable computations and orphaned weights
// behind; writing them would cost file size and load time.
// Must not: remove graph inputs (they are the model's interface), or anything a subgraph uses
// from an enclosing scope.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class DeadCodeElimination final : public Pass {
 public:
  const char* name() const override { return "dce"; }
  const char* summary() const override { return "remove unused nodes and initializers"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
