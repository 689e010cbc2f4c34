// infer-shapes — propagates element types and shapes (static and symbolic dims) through the
// graph, filling in what the model does not state.
//
// Why: the OpenVINO writer records port shapes from it, folding of Shape needs static input
// shapes, and fusions check ranks. Rules cover the ops exporters emit for CNNs and
// transformers; an op without a rule leaves its outputs as they are (never guessed).
// Dims: a static value, a named symbol ("batch") propagated through broadcasting, reshapes of
// static parts, matmuls; or unknown. Existing information is only refined, never contradicted:
// a rule whose result conflicts with a stated static dim keeps the stated one.
//
// Refusals: where the shapes and attributes a rule reads are statically known and describe
// something no runtime can compute — shapes that do not broadcast, MatMul/Gemm inner dims that
// differ, a Reshape with two -1 or another element count, Conv weights that do not match the
// input's channels and group, zero strides/dilations/kernels, windows larger than the padded
// input, axes or perms out of range or repeated, Pad/Slice/Split/Tile lists of the wrong length,
// constant Gather indices out of range, per-channel parameters of the wrong length, control-flow
// bodies of the wrong arity — the pass throws InvalidModelError "<file>: node #i 'name' (Op):
// <rule>". Dynamic dims never trigger a refusal. Inside If branches and loop bodies (which may
// never run) an impossible node is only left uninferred. An inferred output of more than 2^40
// elements (the readers' limit) is a ResourceLimitError.
#pragma once

#include <unordered_map>
#include <vector>

#include "passes/pass.h"

namespace irforge::passes {

class InferShapes final : public Pass {
 public:
  const char* name() const override { return "infer-shapes"; }
  const char* summary() const override { return "infer element types and (symbolic) shapes of intermediate values"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

// Runs the same inference (refining types as the pass does; *refined counts the values changed)
// and returns the symbolic contents it found for small integer shape tensors (Shape → Gather →
// Concat chains): per element a static value, a named dim or unknown. The map keys are only
// valid until a value is deleted.
std::unordered_map<const Value*, std::vector<Dim>> infer_shape_values(Model& model, int64_t* refined = nullptr);

}  // namespace irforge::passes
