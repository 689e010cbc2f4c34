#include "passes/fusion/fuse_hard_swish.h"

#include "passes/fusion/match_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

bool try_fuse(FusionContext& cx, Node* root) {
  return match_gated_product(root, [&](Value* x, Value* h, const Product& p) {
    DataType t = x->type().elem_type;
    std::vector<Node*> pattern = p.nodes;
    double alpha, beta, upper;
    if (Node* hs = producer_is(h, "HardSigmoid")) {
      if (hs->input(0) != x) return false;
      alpha = hs->attr_float("alpha", 0.2f) * p.scale;
      beta = hs->attr_float("beta", 0.5f) * p.scale;
      upper = p.scale;
      pattern.push_back(hs);
    } else {
      auto c = match_affine_clamp(h);
      if (!c || c->x != x || c->lo != 0 || p.scale <= 0) return false;
      alpha = c->a * p.scale;
      beta = c->b * p.scale;
      upper = c->hi * p.scale;
      pattern.insert(pattern.end(), c->nodes.begin(), c->nodes.end());
    }
    if (!near(alpha, 1.0 / 6.0, t) || !near(beta, 0.5, t) || !near(upper, 1.0, t)) return false;
    replace_with_fused(cx, root, root->output(0), "HardSwish", {x}, {}, pattern);
    return true;
  });
}

}  // namespace

PassResult FuseHardSwish::run(Model& model, const PassOptions&) {
  return fuse_everywhere(model, name(), try_fuse);
}

}  // namespace irforge::passes
