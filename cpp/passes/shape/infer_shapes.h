// infer-shapes — propagates element types and shapes (static and symbolic dims) through the
// graph, filling in what the model does not state.
//
// Why: the OpenVINO writer records port shapes from it, folding of Shape needs static input
// shapes, and fusions check ranks. Rules cover the ops exporters emit for CNNs and
// transformers; an op without a rule leaves its outputs as they are (never guessed).
// Dims: a static value, a named symbol ("batch") propagated through broadcasting, reshapes of
// static parts, matmuls; or unknown. Existing information is only refined, never contradicted:
// a rule whose result conflicts with a stated static dim keeps the stated one.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class InferShapes final : public Pass {
 public:
  const char* name() const override { return "infer-shapes"; }
  const char* summary() const override { return "infer element types and (symbolic) shapes of intermediate values"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
