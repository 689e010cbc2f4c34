#include "passes/fusion/fuse_mish.h"

#include "passes/fusion/match_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

// softplus(x) as Softplus(x) or Log(1 + Exp(x)); its nodes go to `pattern`.
bool is_softplus_of(Value* v, Value* x, std::vector<Node*>& pattern) {
  if (!used_once(v)) return false;
  if (Node* sp = producer_is(v, "Softplus")) {
    pattern.push_back(sp);
    return sp->input(0) == x;
  }
  Node* log = producer_is(v, "Log");
  Node* add = log ? producer_is(log->input(0), "Add") : nullptr;
  auto one = add ? scalar_operand(add, nullptr) : std::nullopt;
  Node* exp = one ? producer_is(one->other, "Exp") : nullptr;
  if (!exp || !used_once(log->input(0)) || !used_once(one->other) || one->value != 1.0 || exp->input(0) != x) return false;
  pattern.insert(pattern.end(), {log, add, exp});
  return true;
}

bool try_fuse(FusionContext& cx, Node* mul) {
  return match_gated_mul(mul, "Tanh", [&](Value* x, Node* tanh) {
    std::vector<Node*> pattern = {mul, tanh};
    if (!is_softplus_of(tanh->input(0), x, pattern)) return false;
    replace_with_fused(cx, mul, mul->output(0), "Mish", {x}, {}, pattern);
    return true;
  });
}

}  // namespace

PassResult FuseMish::run(Model& model, const PassOptions&) {
  return fuse_everywhere(model, name(), try_fuse);
}

}  // namespace irforge::passes
