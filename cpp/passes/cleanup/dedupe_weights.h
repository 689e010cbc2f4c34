// dedupe-weights — constants (initializers and Constant nodes) with the same element type,
// dims and bytes are merged into one value, so no weight is stored twice.
//
// Why: tied weights (input/output embeddings, shared projections) are often exported as
// separate copies, and exporters emit the same small constant (axes, shapes, scalars) once per
// use. One copy shrinks the written model, and cse can then merge nodes reading them.
// How, without reading weights needlessly: candidates are grouped by (dtype, dims, size); only
// groups of two or more are fingerprinted, from 16 small windows spread over the bytes (not
// the whole tensor); only equal fingerprints are compared in full, in chunks whose mapped
// pages are handed back afterwards, so peak memory does not grow with the model. Nothing is
// copied: the survivor is one of the existing tensors.
// Order: initializers before Constant nodes (in topological order), so the survivor always
// dominates the uses it takes over.
// Must not: merge graph inputs with defaults (the user may override them), a constant that is
// a graph output into another (its name is the interface), or values of different subgraphs.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class DedupeWeights final : public Pass {
 public:
  const char* name() const override { return "dedupe-weights"; }
  const char* summary() const override { return "store identical constants (same dtype, dims and bytes) once"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
