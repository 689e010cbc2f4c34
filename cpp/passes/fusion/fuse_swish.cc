#include "passes/fusion/fuse_swish.h"

#include "passes/fusion/match_util.h"
#include "passes/legalize/expand_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

bool try_fuse(FusionContext& cx, Node* mul) {
  if (!mul->domain().empty() || mul->op_type() != "Mul" || mul->inputs().size() != 2) return false;
  for (int i = 0; i < 2; ++i) {
    Value* x = mul->input(i);
    Value* s = mul->input(1 - i);
    Node* sig = producer_is(s, "Sigmoid");
    if (!sig || !is_float(x) || !single_use_by(s, mul) || x == s) continue;
    std::vector<Node*> pattern = {mul, sig};
    double alpha = 1.0;
    Value* arg = sig->input(0);
    if (arg != x) {
      Node* scale = producer_is(arg, "Mul");
      auto beta = scale ? scalar_operand(scale, x) : std::nullopt;
      if (!beta || beta->other != x || !single_use_by(arg, sig)) continue;
      alpha = beta->value;
      pattern.push_back(scale);
    }
    std::vector<Attribute> attrs;
    if (alpha != 1.0) attrs.push_back(float_attr("alpha", static_cast<float>(alpha)));
    replace_with_fused(cx, mul, mul->output(0), "Swish", {x}, std::move(attrs), pattern);
    return true;
  }
  return false;
}

}  // namespace

PassResult FuseSwish::run(Model& model, const PassOptions&) {
  return fuse_everywhere(model, name(), try_fuse);
}

}  // namespace irforge::passes
