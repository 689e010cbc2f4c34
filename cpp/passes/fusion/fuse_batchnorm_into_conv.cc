#include "passes/fusion/fuse_batchnorm_into_conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "passes/util.h"
#include "support/parallel.h"

namespace irforge::passes {

namespace {

std::optional<std::vector<float>> f32_values(const Value* v) {
  const Tensor* t = constant_of(v);
  if (!t || t->dtype() != DataType::kFloat) return std::nullopt;
  std::vector<float> out(t->element_count());
  if (!out.empty()) std::memcpy(out.data(), t->data(), out.size() * 4);
  // Copied: the mapped source pages need not stay resident (they fault back in if read again).
  if (t->is_mapped()) t->storage()->mapping()->release_around(t->data(), t->nbytes());
  return out;
}

struct Match {
  Node* conv;
  Node* bn;
};

// Matching has no side effects: it only inspects.
std::optional<Match> match(Node* bn) {
  if (bn->op_type() != "BatchNormalization" || !bn->domain().empty() || bn->inputs().size() != 5) return std::nullopt;
  if (bn->attr_int("training_mode", 0) != 0) return std::nullopt;
  for (size_t k = 1; k < bn->num_outputs(); ++k)
    if (bn->output(k)->has_uses() || bn->output(k)->is_graph_output()) return std::nullopt;
  Value* x = bn->input(0);
  Node* conv = x ? x->producer() : nullptr;
  if (conv && conv->graph() != bn->graph()) return std::nullopt;  // captured from an enclosing graph
  if (!conv || !conv->domain().empty() || (conv->op_type() != "Conv" && conv->op_type() != "ConvTranspose")) return std::nullopt;
  if (!single_use_by(x, bn)) return std::nullopt;
  for (size_t i = 1; i < 5; ++i)
    if (!bn->input(i) || !constant_of(bn->input(i)) || constant_of(bn->input(i))->dtype() != DataType::kFloat) return std::nullopt;
  const Tensor* w = constant_of(conv->input(1));
  if (!w || w->dtype() != DataType::kFloat || w->dims().size() < 3) return std::nullopt;
  if (conv->input(2) && (!constant_of(conv->input(2)) || constant_of(conv->input(2))->dtype() != DataType::kFloat)) return std::nullopt;
  return Match{conv, bn};
}

bool rewrite(Graph& g, NameGen& names, const Match& m) {
  Node* conv = m.conv;
  Node* bn = m.bn;
  auto scale = f32_values(bn->input(1)), beta = f32_values(bn->input(2)), mean = f32_values(bn->input(3)), var = f32_values(bn->input(4));
  const Tensor* wt = constant_of(conv->input(1));
  const std::vector<int64_t>& dims = wt->dims();
  bool transpose = conv->op_type() == "ConvTranspose";
  int64_t group = conv->attr_int("group", 1);
  if (group < 1) return false;
  int64_t out_channels = transpose ? dims[1] * group : dims[0];
  if (static_cast<int64_t>(scale->size()) != out_channels || beta->size() != scale->size() || mean->size() != scale->size() ||
      var->size() != scale->size())
    return false;
  if (!transpose && dims[0] == 0) return false;
  std::vector<float> bias(out_channels, 0.f);
  if (conv->input(2)) {
    auto b = f32_values(conv->input(2));
    if (static_cast<int64_t>(b->size()) != out_channels) return false;
    bias = *b;
  }
  double eps = bn->attr_float("epsilon", 1e-5f);
  std::vector<double> s(out_channels);
  for (int64_t o = 0; o < out_channels; ++o) s[o] = (*scale)[o] / std::sqrt(static_cast<double>((*var)[o]) + eps);

  int64_t inner = 1;
  for (size_t d = 2; d < dims.size(); ++d) inner *= dims[d];
  // The scaled weight is computed straight from the (mapped) source into the new tensor's bytes:
  // one allocation of the weight's size, none for intermediate copies.
  const size_t count = static_cast<size_t>(wt->element_count());
  std::vector<uint8_t> bytes(count * 4);
  const uint8_t* src = wt->data();
  uint8_t* dst = bytes.data();
  auto scaled = [&](size_t idx, int64_t o) {
    float v;
    std::memcpy(&v, src + idx * 4, 4);
    float r = static_cast<float>(v * s[o]);
    std::memcpy(dst + idx * 4, &r, 4);
  };
  if (!transpose) {
    const size_t per_out = count / static_cast<size_t>(dims[0]);
    // Rows are independent: the same bytes on any number of threads.
    parallel_for(static_cast<size_t>(dims[0]), std::max<size_t>(1, (size_t{1} << 16) / std::max<size_t>(per_out, 1)),
                 [&](size_t, size_t begin, size_t end) {
                   for (size_t o = begin; o < end; ++o)
                     for (size_t k = 0; k < per_out; ++k) scaled(o * per_out + k, static_cast<int64_t>(o));
                 });
  } else {
    int64_t in_per_group = dims[0] / group;
    for (int64_t c = 0; c < dims[0]; ++c)
      for (int64_t j = 0; j < dims[1]; ++j) {
        int64_t o = (c / in_per_group) * dims[1] + j;
        for (int64_t k = 0; k < inner; ++k) scaled(static_cast<size_t>((c * dims[1] + j) * inner + k), o);
      }
  }
  if (wt->is_mapped()) wt->storage()->mapping()->release_around(wt->data(), wt->nbytes());
  std::vector<float> nb(out_channels);
  for (int64_t o = 0; o < out_channels; ++o) nb[o] = static_cast<float>((bias[o] - (*mean)[o]) * s[o] + (*beta)[o]);

  Value* y = bn->output(0);
  Value* conv_out = conv->output(0);
  std::string base = conv->input(1)->name();
  auto new_tensor = std::make_shared<Tensor>(names.fresh(base + "_bn_fused"), DataType::kFloat, dims);
  new_tensor->set_owned(std::move(bytes));
  Value* new_w = g.add_initializer(std::move(new_tensor));
  Value* new_b = add_f32_initializer(g, names.fresh((conv->input(2) ? conv->input(2)->name() : base) + "_bn_fused_bias"), {out_channels}, nb);
  // Detach BN first so the conv output is free to take over the BN output (and its name).
  bn->clear_inputs();
  if (!replace_value(g, y, conv_out)) {
    bn->set_input(0, conv_out);  // cannot happen for a node output; restore and give up
    return false;
  }
  conv->set_input(1, new_w);
  conv->set_input(2, new_b);
  g.remove_node(bn);
  return true;
}

}  // namespace

PassResult FuseBatchNormIntoConv::run(Model& model, const PassOptions&) {
  NameGen names(model);
  // The original weights may now be unused; dce removes them.
  return rewrite_model(model, [&names](Graph& g, Node* n) -> int64_t {
    auto m = match(n);
    return m && rewrite(g, names, *m) ? 1 : 0;
  });
}

}  // namespace irforge::passes
