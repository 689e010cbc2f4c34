// prune-if — an If whose condition is a constant is replaced by the branch it takes: the
// branch's nodes move into the enclosing graph (before the If), its initializers become
// initializers there, and the If's outputs become the branch's outputs. The other branch goes.
//
// Why: freezing an input (--input "is_training->False") or folding a shape test leaves Ifs on
// constants; the runtime would still carry both bodies and the branch machinery.
// Sketch:  y = If(true) { then: t = Relu(x); yield t } else { ... }   ->   y = Relu(x)
// Names: moved values keep their names unless that name is used elsewhere in the model, then
// they get a fresh one; the If's output names survive when they are graph outputs (an Identity
// carries the name when the branch yields a value from outside it).
// Must not: fire on a non-constant or non-scalar condition, or on a branch with formal inputs
// or sparse initializers (not valid for If).
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class PruneIf final : public Pass {
 public:
  const char* name() const override { return "prune-if"; }
  const char* summary() const override { return "inline the taken branch of an If whose condition is constant"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
