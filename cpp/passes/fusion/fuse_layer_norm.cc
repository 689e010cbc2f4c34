#include "passes/fusion/fuse_layer_norm.h"

#include <algorithm>

#include "passes/fusion/match_util.h"
#include "passes/legalize/expand_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

bool try_fuse(FusionContext& cx, Node* n) {
  auto nm = match_square_normalize(n);
  if (!nm) return false;
  Node* var = nm->mean;
  Node* sq = nm->square;
  Value* d = nm->numerator;
  Value* d2 = nm->squared;
  // x - mean, computed once (used by the square and the division) or twice.
  Node* sub = producer_is(d, "Sub");
  Node* sub2 = producer_is(d2, "Sub");
  if (!sub || !sub2 || sub->input(0) != sub2->input(0) || sub->input(1) != sub2->input(1)) return false;
  if (sub == sub2 ? !used_only_by(d, {n, sq}) : (!used_only_by(d, {n}) || !used_only_by(d2, {sq}))) return false;
  Value* x = sub->input(0);
  if (!x) return false;
  Node* mean = producer_is(sub->input(1), "ReduceMean");
  if (!mean || mean->input(0) != x || !used_only_by(sub->input(1), {sub, sub2})) return false;
  if (x->type().elem_type != DataType::kFloat) return false;  // LayerNormalization computes in float32
  auto axes = kept_reduce_axes(mean), axes2 = kept_reduce_axes(var, rank_of(x));
  if (!axes || !axes2) return false;
  std::sort(axes->begin(), axes->end());
  std::sort(axes2->begin(), axes2->end());
  if (*axes != *axes2 || !are_trailing(*axes)) return false;
  int64_t k = static_cast<int64_t>(axes->size());
  auto dims = trailing_dims(x, k);
  if (!dims) return false;

  std::vector<Node*> pattern = nm->nodes;
  for (Node* p : {var, sq, sub, sub2, mean}) pattern.push_back(p);
  Node* last = n;
  Value* out = n->output(0);
  Value* gamma = absorb_trailing_operand("Mul", x, k, pattern, last, out);
  Value* beta = absorb_trailing_operand("Add", x, k, pattern, last, out);
  if (!gamma) gamma = ones_f32(cx, out->name() + "_ln_scale", *dims);
  std::vector<Value*> inputs = {x, gamma};
  if (beta) inputs.push_back(beta);
  replace_with_fused(cx, last, out, "LayerNormalization", inputs, norm_attrs(k, nm->eps), pattern);
  return true;
}

}  // namespace

PassResult FuseLayerNorm::run(Model& model, const PassOptions&) {
  return fuse_everywhere(model, name(), try_fuse);
}

}  // namespace irforge::passes
