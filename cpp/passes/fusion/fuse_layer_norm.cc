#include "passes/fusion/fuse_layer_norm.h"

#include <algorithm>

#include "passes/fusion/match_util.h"
#include "passes/legalize/expand_util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

bool try_fuse(FusionContext& cx, Node* n) {
  auto nm = match_normalize(n);
  if (!nm) return false;
  Node* var = nm->mean;
  Value* d = nm->numerator;
  if (!var->input(0) || !d) return false;
  Node* sq = var->input(0)->producer();
  Value* d2 = squared(sq);
  if (!d2 || var->input(0)->uses().size() != 1 || var->input(0)->is_graph_output()) return false;
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
  Value* gamma = nullptr;
  Value* beta = nullptr;
  if (Node* m = sole_user(out, "Mul")) {
    Value* g = other_input(m, out);
    if (g && g != out && matches_trailing_dims(g, x, k)) {
      gamma = g;
      pattern.push_back(m);
      last = m;
      out = m->output(0);
    }
  }
  if (Node* a = sole_user(out, "Add")) {
    Value* b = other_input(a, out);
    if (b && b != out && matches_trailing_dims(b, x, k)) {
      beta = b;
      pattern.push_back(a);
      last = a;
      out = a->output(0);
    }
  }
  if (!gamma) gamma = ones_f32(cx, out->name() + "_ln_scale", *dims);
  std::vector<Value*> inputs = {x, gamma};
  if (beta) inputs.push_back(beta);
  std::vector<Attribute> attrs;
  attrs.push_back(int_attr("axis", -k));
  attrs.push_back(float_attr("epsilon", static_cast<float>(nm->eps)));
  replace_with_fused(cx, last, out, "LayerNormalization", inputs, std::move(attrs), pattern);
  return true;
}

}  // namespace

PassResult FuseLayerNorm::run(Model& model, const PassOptions&) {
  PassResult r;
  r.rewrites = fuse_everywhere(model, name(), try_fuse);
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
