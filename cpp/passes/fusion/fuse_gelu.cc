#include "passes/fusion/fuse_gelu.h"

#include <cmath>

#include "passes/fusion/match_util.h"
#include "passes/legalize/expand_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

// `v` == c * x^n as a product; its nodes are added to `pattern`.
bool is_power_of(Value* v, Value* x, int n, double c, std::vector<Node*>& pattern) {
  if (!used_once(v)) return false;
  Product p = flatten_product(v);
  if (static_cast<int>(p.factors.size()) != n || !keeps_shape(p, x) || !near(p.scale, c, x->type().elem_type)) return false;
  for (Value* f : p.factors)
    if (f != x) return false;
  pattern.insert(pattern.end(), p.nodes.begin(), p.nodes.end());
  return true;
}

// The tanh argument: sqrt(2/pi) * (x + 0.044715 x^3), or sqrt(2/pi) * x * (1 + 0.044715 x^2).
bool is_tanh_argument(Value* arg, Value* x, std::vector<Node*>& pattern) {
  constexpr double kC = 0.044715;
  DataType t = x->type().elem_type;
  if (!used_once(arg)) return false;
  Product p = flatten_product(arg);
  if (!keeps_shape(p, x) || !near(p.scale, std::sqrt(2.0 / M_PI), t)) return false;
  pattern.insert(pattern.end(), p.nodes.begin(), p.nodes.end());
  if (p.factors.size() == 1) {  // x + c x^3
    Node* add = producer_is(p.factors[0], "Add");
    Value* cube = add ? other_input(add, x) : nullptr;
    if (!used_once(p.factors[0]) || !cube || cube == x) return false;
    pattern.push_back(add);
    return is_power_of(cube, x, 3, kC, pattern);
  }
  if (p.factors.size() == 2) {  // x * (1 + c x^2)
    Value* other = p.factors[0] == x ? p.factors[1] : p.factors[1] == x ? p.factors[0] : nullptr;
    Node* add = producer_is(other, "Add");
    auto one = add ? scalar_operand(add, x) : std::nullopt;
    if (!used_once(other) || !one || !near(one->value, 1.0, t)) return false;
    pattern.push_back(add);
    return is_power_of(one->other, x, 2, kC, pattern);
  }
  return false;
}

bool try_fuse(FusionContext& cx, Node* root) {
  return match_gated_product(root, [&](Value* x, Value* a, const Product& p) {
    DataType t = x->type().elem_type;
    Node* add = producer_is(a, "Add");
    auto one = add ? scalar_operand(add, x) : std::nullopt;
    if (!one || !near(one->value, 1.0, t) || !near(p.scale, 0.5, t) || !used_once(one->other)) return false;
    Node* f = one->other->producer();
    if (!f || !f->domain().empty() || (f->op_type() != "Erf" && f->op_type() != "Tanh")) return false;
    std::vector<Node*> pattern = p.nodes;
    pattern.push_back(add);
    pattern.push_back(f);
    bool tanh = f->op_type() == "Tanh";
    bool ok = tanh ? is_tanh_argument(f->input(0), x, pattern) : is_power_of(f->input(0), x, 1, M_SQRT1_2, pattern);
    if (!ok) return false;
    std::vector<Attribute> attrs;
    if (tanh) {
      Attribute approx;
      approx.name = "approximate";
      approx.kind = AttrKind::kString;
      approx.s = "tanh";
      attrs.push_back(std::move(approx));
    }
    replace_with_fused(cx, root, root->output(0), "Gelu", {x}, std::move(attrs), pattern);
    return true;
  });
}

}  // namespace

PassResult FuseGelu::run(Model& model, const PassOptions&) {
  return fuse_everywhere(model, name(), try_fuse);
}

}  // namespace irforge::passes
