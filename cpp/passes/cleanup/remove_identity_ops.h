// remove-identity — bypasses nodes that return their input unchanged at inference:
//   Identity(x) → x
//   Dropout(x) → x            when the mask output is unused and training_mode is absent or
//                             a constant false (Dropout is the identity at inference)
//   Cast(x, to=T) → x         when x is already of type T
//
// Why: exporters leave them around (training graphs, type plumbing); every one is a layer the
// runtime has to schedule.
// Must not fire when the bypass would rename a graph input or merge two graph outputs: the
// model's interface names stay as they are.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class RemoveIdentityOps final : public Pass {
 public:
  const char* name() const override { return "remove-identity"; }
  const char* summary() const override { return "bypass Identity, inference Dropout and no-op Cast"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
