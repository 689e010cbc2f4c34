// fuse-hard-sigmoid — recognises a hard sigmoid written as a clamp of an affine function and
// replaces it by one HardSigmoid (opset 6). OpenVINO gets HardSigmoid.
//
// Math: s * clamp(a*x + b, 0, c) with s*c = 1  ==  max(0, min(1, (a s) x + (b s)))
//   → HardSigmoid(x, alpha = a*s, beta = b*s)
// The clamp is Clip (attributes or inputs), Min(Max(.,0),c), Max(Min(.,c),0) or Min(Relu(.),c);
// the affine part is any of x*a+b, x/d+b, (x+b')*a, x+b; s is a Mul or a Div by a constant
// (e.g. relu6(x + 3) / 6 → alpha 1/6, beta 0.5).
//
// Must not fire when: the lower bound is not 0 or s*c is not 1 (a plain relu6); s <= 0;
// an intermediate is used outside the pattern; a constant is not a one-element constant.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseHardSigmoid final : public Pass {
 public:
  const char* name() const override { return "fuse-hard-sigmoid"; }
  const char* summary() const override { return "recognise clip(a*x+b, 0, 1) and relu6(x+3)/6 forms as one HardSigmoid op"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
