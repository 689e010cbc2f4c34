// fuse-hard-swish — recognises hard swish and replaces it by one HardSwish (opset 14;
// expanded back for ONNX output below 14). OpenVINO gets HSwish.
//
// Math: x * hardsigmoid(x; 1/6, 1/2) = x * relu6(x + 3) / 6   → HardSwish(x)
// Accepted: x * HardSigmoid(x) with alpha 1/6, beta 0.5; x times any clamp form that
// fuse-hard-sigmoid accepts, with the scale anywhere in the product ((x * relu6(x+3)) / 6).
//
// Must not fire when: the hard sigmoid's alpha/beta differ from 1/6, 1/2 or the product has
// an extra scale; its input is not the same x; an intermediate is used elsewhere.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseHardSwish final : public Pass {
 public:
  const char* name() const override { return "fuse-hard-swish"; }
  const char* summary() const override { return "recognise x*relu6(x+3)/6 and x*HardSigmoid(x) as one HardSwish op"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
