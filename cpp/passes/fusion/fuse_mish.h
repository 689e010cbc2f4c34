// fuse-mish — recognises Mish and replaces it by one Mish (opset 18; expanded back for ONNX
// output below 18). OpenVINO gets Mish.
//
// Math: x * tanh(softplus(x)) with softplus as Softplus(x) or Log(1 + Exp(x))   → Mish(x)
//
// Must not fire when: an intermediate is used elsewhere or is a graph output; tanh's argument is
// not softplus of the same x; the Add's constant is not 1.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseMish final : public Pass {
 public:
  const char* name() const override { return "fuse-mish"; }
  const char* summary() const override { return "recognise x*tanh(softplus(x)) as one Mish op"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
