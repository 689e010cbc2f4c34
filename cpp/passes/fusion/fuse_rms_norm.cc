#include "passes/fusion/fuse_rms_norm.h"

#include "passes/fusion/match_util.h"
#include "passes/legalize/expand_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

bool try_fuse(FusionContext& cx, Node* n) {
  auto nm = match_square_normalize(n);
  if (!nm || nm->squared != nm->numerator) return false;
  Node* rm = nm->mean;
  Node* sq = nm->square;
  Value* a = nm->numerator;
  auto axes = kept_reduce_axes(rm, rank_of(a));
  if (!axes || !are_trailing(*axes)) return false;
  int64_t k = static_cast<int64_t>(axes->size());

  std::vector<Node*> pattern = nm->nodes;
  pattern.push_back(rm);
  pattern.push_back(sq);
  Value* x = a;
  Node* last = n;
  Value* out = n->output(0);
  // Llama: computes in float32 between Cast(x, float) and Cast(., type of x).
  if (Node* c1 = producer_is(a, "Cast"); c1 && c1->attr_int("to", 0) == static_cast<int64_t>(DataType::kFloat) && is_float(c1->input(0))) {
    if (!used_only_by(a, {sq, n})) return false;  // the float32 copy is an intermediate
    x = c1->input(0);
    pattern.push_back(c1);
    // The cast back to x's type: required unless x is float32 already (then it is a no-op).
    Node* c2 = sole_user(out, "Cast");
    if (c2 && c2->attr_int("to", 0) == static_cast<int64_t>(x->type().elem_type)) {
      pattern.push_back(c2);
      last = c2;
      out = c2->output(0);
    } else if (x->type().elem_type != DataType::kFloat) {
      return false;
    }
  }
  if (x->type().elem_type != DataType::kFloat && last == n) return false;  // would change numerics
  auto dims = trailing_dims(x, k);
  if (!dims) return false;

  Value* weight = absorb_trailing_operand("Mul", x, k, pattern, last, out);
  if (!weight) {
    if (x->type().elem_type != DataType::kFloat) return false;
    weight = ones_f32(cx, out->name() + "_rms_scale", *dims);
  }
  replace_with_fused(cx, last, out, "RMSNormalization", {x, weight}, norm_attrs(k, nm->eps), pattern);
  return true;
}

}  // namespace

PassResult FuseRmsNorm::run(Model& model, const PassOptions&) {
  return fuse_everywhere(model, name(), try_fuse);
}

}  // namespace irforge::passes
