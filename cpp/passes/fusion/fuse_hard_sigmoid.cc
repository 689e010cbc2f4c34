#include "passes/fusion/fuse_hard_sigmoid.h"

#include "passes/fusion/match_util.h"
#include "passes/legalize/expand_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

bool try_fuse(FusionContext& cx, Node* root) {
  if (!root->domain().empty() || root->num_outputs() == 0) return false;  // output(0) below
  const std::string& op = root->op_type();
  Value* y = root->output(0);
  double s = 1.0;
  Value* clamped = y;
  std::vector<Node*> pattern;
  if (op == "Mul" || op == "Div") {
    Product p = flatten_product(y);
    if (p.factors.size() != 1 || p.factors[0] == y || p.factors[0]->uses().size() != 1 || p.factors[0]->is_graph_output()) return false;
    s = p.scale;
    clamped = p.factors[0];
    pattern = p.nodes;
    if (!keeps_shape(p, clamped)) return false;
  } else if (op != "Clip" && op != "Min" && op != "Max") {
    return false;
  }
  auto c = match_affine_clamp(clamped);
  if (!c || !is_float(c->x) || !c->affine || c->lo != 0 || s <= 0) return false;
  DataType t = c->x->type().elem_type;
  if (!near(s * c->hi, 1.0, t) || c->a == 0) return false;
  pattern.insert(pattern.end(), c->nodes.begin(), c->nodes.end());
  std::vector<Attribute> attrs;
  attrs.push_back(float_attr("alpha", static_cast<float>(c->a * s)));
  attrs.push_back(float_attr("beta", static_cast<float>(c->b * s)));
  replace_with_fused(cx, root, y, "HardSigmoid", {c->x}, std::move(attrs), pattern);
  return true;
}

}  // namespace

PassResult FuseHardSigmoid::run(Model& model, const PassOptions&) {
  return fuse_everywhere(model, name(), try_fuse);
}

}  // namespace irforge::passes
