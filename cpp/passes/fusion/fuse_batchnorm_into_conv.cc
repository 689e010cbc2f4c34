#include "passes/fusion/fuse_batchnorm_into_conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "passes/fold/lazy_weights.h"
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
  if (transpose && (dims[0] < group || dims[0] % group)) return false;  // no whole input group: not a valid weight
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
  const size_t count = static_cast<size_t>(wt->element_count());
  // The output channel of weight element i (ConvTranspose: W[c, m/g, ...], o = group * M/g + m).
  const size_t per_out = transpose ? 0 : count / static_cast<size_t>(dims[0]);
  const size_t d1 = static_cast<size_t>(dims[1]), in_per_group = static_cast<size_t>(dims[0] / group);
  const size_t inner_n = static_cast<size_t>(inner);
  auto channel = [=](size_t i) -> size_t {
    if (!transpose) return i / per_out;
    size_t cj = i / inner_n;
    return (cj / d1 / in_per_group) * d1 + cj % d1;
  };
  const std::string w_name = names.fresh(conv->input(1)->name() + "_bn_fused");
  std::shared_ptr<Tensor> new_tensor;
  const std::shared_ptr<Tensor>& src = conv->input(1)->initializer();
  if (src && !conv->input(1)->is_graph_input() && src->nbytes() > kLazyWeightBytes && src->nbytes() == count * 4) {
    // A large weight is scaled while the writer streams it: no second copy of the kernel is held
    // (ResNet-50's BN-folded kernels were ~100 MiB of extra peak memory).
    new_tensor = lazy_scaled_f32(src, s, channel, w_name);
  } else {
    // Computed straight from the (mapped) source into the new tensor's bytes.
    std::vector<uint8_t> bytes(count * 4);
    const uint8_t* from = wt->data();
    uint8_t* to = bytes.data();
    // Rows of whole output channels (any channel order for ConvTranspose) are independent: the
    // same bytes on any number of threads. Rounded once, from double, as lazy_scaled_f32 does.
    const size_t rows = static_cast<size_t>(dims[0]), per_row = count / std::max<size_t>(rows, 1);
    parallel_for(rows, std::max<size_t>(1, (size_t{1} << 16) / std::max<size_t>(per_row, 1)), [&](size_t, size_t begin, size_t end) {
      for (size_t idx = begin * per_row; idx < end * per_row; ++idx) {
        float v;
        std::memcpy(&v, from + idx * 4, 4);
        float r = static_cast<float>(v * s[channel(idx)]);
        std::memcpy(to + idx * 4, &r, 4);
      }
    });
    if (wt->is_mapped()) wt->storage()->mapping()->release_around(wt->data(), wt->nbytes());
    new_tensor = std::make_shared<Tensor>(w_name, DataType::kFloat, dims);
    new_tensor->set_owned(std::move(bytes));
  }
  std::vector<float> nb(out_channels);
  for (int64_t o = 0; o < out_channels; ++o) nb[o] = static_cast<float>((bias[o] - (*mean)[o]) * s[o] + (*beta)[o]);

  Value* y = bn->output(0);
  Value* conv_out = conv->output(0);
  std::string base = conv->input(1)->name();
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
