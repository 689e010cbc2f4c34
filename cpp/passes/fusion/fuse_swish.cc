#include "passes/fusion/fuse_swish.h"

#include "passes/fusion/match_util.h"
#include "passes/legalize/expand_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

bool try_fuse(FusionContext& cx, Node* mul) {
  return match_gated_mul(mul, "Sigmoid", [&](Value* x, Node* sig) {
    std::vector<Node*> pattern = {mul, sig};
    double alpha = 1.0;
    Value* arg = sig->input(0);
    if (arg != x) {
      Node* scale = producer_is(arg, "Mul");
      auto beta = scale ? scalar_operand(scale, x) : std::nullopt;
      if (!beta || beta->other != x || !single_use_by(arg, sig)) return false;
      alpha = beta->value;
      pattern.push_back(scale);
    }
    std::vector<Attribute> attrs;
    if (alpha != 1.0) attrs.push_back(float_attr("alpha", static_cast<float>(alpha)));
    replace_with_fused(cx, mul, mul->output(0), "Swish", {x}, std::move(attrs), pattern);
    return true;
  });
}

}  // namespace

PassResult FuseSwish::run(Model& model, const PassOptions&) {
  return fuse_everywhere(model, name(), try_fuse);
}

}  // namespace irforge::passes
