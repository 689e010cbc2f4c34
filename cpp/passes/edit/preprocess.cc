#include "passes/edit/preprocess.h"

#include <cmath>
#include <cstring>

#include "passes/fusion/weight_util.h"
#include "passes/util.h"
#include "support/usage_error.h"

namespace irforge::passes {

namespace {

[[noreturn]] void bad(const Model& m, const std::string& input, const std::string& what) {
  fail_usage((m.source_path.empty() ? std::string("model") : m.source_path) + ": input '" + input + "': " + what);
}

// Per-channel values: one value repeated, or exactly one per channel.
std::vector<double> per_channel(const Model& m, const PreprocessSpec& s, const std::vector<double>& v, int64_t channels,
                                double neutral, const char* what) {
  if (v.empty()) return std::vector<double>(static_cast<size_t>(channels), neutral);
  if (v.size() == 1) return std::vector<double>(static_cast<size_t>(channels), v[0]);
  if (static_cast<int64_t>(v.size()) != channels)
    bad(m, s.input, std::string(what) + " has " + std::to_string(v.size()) + " values but the input has " + std::to_string(channels) +
                        " channels (axis " + std::to_string(s.channel_axis) + ")");
  return v;
}

// The Conv that alone reads `v` and can absorb a per-channel affine map of its input exactly.
Node* foldable_conv(const Value* v, int64_t channel_axis, int64_t channels) {
  if (channel_axis != 1 || v->uses().size() != 1 || v->is_graph_output()) return nullptr;
  Node* conv = v->uses()[0].node;
  if (conv->graph() != v->graph() || !fusion::is_op(conv, "Conv") || v->uses()[0].input_index != 0) return nullptr;
  if (conv->attr_int("group", 1) != 1) return nullptr;
  std::string pad = conv->attr_string("auto_pad", "NOTSET");
  if (pad != "NOTSET" && pad != "VALID") return nullptr;
  for (int64_t p : conv->attr_ints("pads"))
    if (p != 0) return nullptr;  // zero padding: the border would see (0 - mean) / scale
  auto dims = fusion::f32_constant_dims(conv->input(1));
  if (!dims || dims->size() < 3 || (*dims)[1] != channels) return nullptr;
  if (conv->input(2)) {
    auto bd = fusion::f32_constant_dims(conv->input(2));
    if (!bd || bd->size() != 1 || (*bd)[0] != (*dims)[0]) return nullptr;
  }
  return conv;
}

Node* add_node(Graph& g, Node* before, const char* op, std::vector<Value*> inputs, Value*& out, NameGen& names, const std::string& base,
               const Type& type) {
  Node* n = before ? g.insert_node_before(before, op) : g.append_node(op);
  for (Value* in : inputs) n->add_input(in);
  out = n->add_output(names.fresh(base));
  out->set_type(type);
  n->set_name(names.fresh(base));
  return n;
}

}  // namespace

PreprocessResult preprocess_inputs(Model& model, const std::vector<PreprocessSpec>& specs) {
  PreprocessResult result;
  if (!model.graph) return result;
  Graph& g = *model.graph;
  NameGen names(model);
  for (const PreprocessSpec& s : specs) {
    Value* v = nullptr;
    std::string known;
    for (Value* in : g.inputs()) {
      if (in->initializer()) continue;
      if (in->name() == s.input) v = in;
      known += (known.empty() ? "" : ", ") + in->name();
    }
    if (!v) bad(model, s.input, "no such input; the model's inputs are: " + known);
    const Type type = v->type();
    if (!type.is_tensor()) bad(model, s.input, "is not a tensor input");
    const bool affine = !s.mean.empty() || !s.scale.empty() || s.reverse_channels;
    if (!type.shape && (affine || !s.perm.empty())) bad(model, s.input, "its rank is unknown; give its shape in input=");
    const int64_t rank = type.shape ? static_cast<int64_t>(type.shape->size()) : 0;
    if (!s.perm.empty() && static_cast<int64_t>(s.perm.size()) != rank)
      bad(model, s.input, "the layout has " + std::to_string(s.perm.size()) + " dims but the input has rank " + std::to_string(rank));
    if (affine && (s.channel_axis < 0 || s.channel_axis >= rank))
      bad(model, s.input, "channel axis " + std::to_string(s.channel_axis) + " is outside its rank " + std::to_string(rank));
    if (!s.mean.empty() || !s.scale.empty())
      if (type.elem_type != DataType::kFloat)
        bad(model, s.input, "mean/scale values need a float32 input in the model, not " + type_to_string(type) +
                                " (a u8 image is given as input=\"" + s.input + "{u8}\", the model's input stays float32)");
    for (double x : s.mean)
      if (!std::isfinite(x)) bad(model, s.input, "mean value " + std::to_string(x) + " is not finite");
    for (double x : s.scale)
      if (!std::isfinite(x) || x == 0) bad(model, s.input, "scale value " + std::to_string(x) + " is 0 or not finite (the input is divided by it)");

    int64_t channels = -1;
    if (affine) {
      const Dim& d = (*type.shape)[static_cast<size_t>(s.channel_axis)];
      if (d.is_static()) channels = d.value;
      else if (s.mean.size() > 1) channels = static_cast<int64_t>(s.mean.size());
      else if (s.scale.size() > 1) channels = static_cast<int64_t>(s.scale.size());
      else bad(model, s.input, "the channel dim (axis " + std::to_string(s.channel_axis) + ") is dynamic; give the shape or per-channel values");
    }
    std::vector<double> mean = affine ? per_channel(model, s, s.mean, channels, 0.0, "mean") : std::vector<double>{};
    std::vector<double> scale = affine ? per_channel(model, s, s.scale, channels, 1.0, "scale") : std::vector<double>{};

    const std::vector<Use> uses = v->uses();
    Node* front = g.nodes().empty() ? nullptr : g.nodes().front().get();
    Value* cur = v;
    if (!s.perm.empty()) {
      std::vector<bool> seen(static_cast<size_t>(rank));
      for (int64_t p : s.perm) {
        if (p < 0 || p >= rank || seen[static_cast<size_t>(p)]) bad(model, s.input, "the layout change is not a permutation of its dims");
        seen[static_cast<size_t>(p)] = true;
      }
      Value* t = nullptr;
      Node* n = add_node(g, front, "Transpose", {v}, t, names, s.input + "_to_model_layout", type);
      set_ints_attr(n, "perm", s.perm);
      Shape in_shape(static_cast<size_t>(rank));
      for (int64_t i = 0; i < rank; ++i) in_shape[static_cast<size_t>(s.perm[static_cast<size_t>(i)])] = (*type.shape)[static_cast<size_t>(i)];
      v->type().shape = in_shape;
      cur = t;
      ++result.inserted;
    }
    bool trivial = !s.reverse_channels;
    for (int64_t c = 0; c < channels; ++c) trivial &= mean[static_cast<size_t>(c)] == 0 && scale[static_cast<size_t>(c)] == 1;
    auto reversed = [&](int64_t j) { return s.reverse_channels ? channels - 1 - j : j; };

    // `cur` stands for the model's input from here; its uses are the input's original ones.
    const Value* probe = v;  // before rewiring, the original users read v
    Node* conv = (affine && !trivial && s.perm.empty()) ? foldable_conv(probe, s.channel_axis, channels) : nullptr;
    if (affine && !trivial && !s.perm.empty() && uses.size() == 1 && !v->is_graph_output()) {
      // With a Transpose in front the Conv reads the Transpose: check it as the sole user then.
      Node* user = uses[0].node;
      Value* tmp = cur;
      user->set_input(uses[0].input_index, tmp);
      conv = foldable_conv(tmp, s.channel_axis, channels);
      user->set_input(uses[0].input_index, v);
    }
    if (conv) {
      auto w = *fusion::f32_constant(conv->input(1));
      auto dims = *fusion::f32_constant_dims(conv->input(1));
      const int64_t out_ch = dims[0];
      int64_t k = 1;
      for (size_t i = 2; i < dims.size(); ++i) k *= dims[i];
      std::vector<double> bias(static_cast<size_t>(out_ch), 0.0);
      if (conv->input(2)) {
        auto b = *fusion::f32_constant(conv->input(2));
        for (int64_t m = 0; m < out_ch; ++m) bias[static_cast<size_t>(m)] = b[static_cast<size_t>(m)];
      }
      std::vector<float> w2(w.size());
      for (int64_t m = 0; m < out_ch; ++m) {
        double shift = 0;
        for (int64_t j = 0; j < channels; ++j) {
          const int64_t c = reversed(j);  // raw channel j is model channel c
          for (int64_t i = 0; i < k; ++i) {
            const double wv = w[static_cast<size_t>((m * channels + c) * k + i)];
            w2[static_cast<size_t>((m * channels + j) * k + i)] = static_cast<float>(wv / scale[static_cast<size_t>(c)]);
            shift += wv * mean[static_cast<size_t>(c)] / scale[static_cast<size_t>(c)];
          }
        }
        bias[static_cast<size_t>(m)] -= shift;
      }
      Value* nw = add_f32_initializer(g, names.fresh(conv->input(1)->name() + "_preprocessed"), dims, w2);
      std::vector<float> bf(bias.begin(), bias.end());
      Value* nb = add_f32_initializer(g, names.fresh((conv->input(2) ? conv->input(2)->name() : conv->name() + "_bias") + "_preprocessed"),
                                      {out_ch}, bf);
      Value* old_w = conv->input(1);
      Value* old_b = conv->input(2);
      conv->set_input(1, nw);
      if (conv->inputs().size() > 2) conv->set_input(2, nb);
      else conv->add_input(nb);
      for (Value* old : {old_w, old_b})
        if (old && !old->has_uses() && !old->is_graph_output() && !old->producer() && !old->is_graph_input()) g.remove_value(old);
      ++result.folded;
    } else if (affine && !trivial) {
      Shape cshape{Dim::of(channels)};
      std::vector<int64_t> cdims{channels};
      for (int64_t i = s.channel_axis + 1; i < rank; ++i) {
        cshape.push_back(Dim::of(1));
        cdims.push_back(1);
      }
      if (s.reverse_channels) {
        std::vector<int64_t> idx(static_cast<size_t>(channels));
        for (int64_t j = 0; j < channels; ++j) idx[static_cast<size_t>(j)] = channels - 1 - j;
        auto t = std::make_shared<Tensor>(names.fresh(s.input + "_channel_order"), DataType::kInt64, std::vector<int64_t>{channels});
        std::vector<uint8_t> bytes(idx.size() * 8);
        std::memcpy(bytes.data(), idx.data(), bytes.size());
        t->set_owned(std::move(bytes));
        Value* ic = g.add_initializer(std::move(t));
        Value* out = nullptr;
        Node* n = add_node(g, front, "Gather", {cur, ic}, out, names, s.input + "_reversed_channels", type);
        set_int_attr(n, "axis", s.channel_axis);
        cur = out;
        ++result.inserted;
      }
      bool any_mean = false, any_scale = false;
      for (int64_t c = 0; c < channels; ++c) {
        any_mean |= mean[static_cast<size_t>(c)] != 0;
        any_scale |= scale[static_cast<size_t>(c)] != 1;
      }
      if (any_mean) {
        std::vector<float> mv(mean.begin(), mean.end());
        Value* mc = add_f32_initializer(g, names.fresh(s.input + "_mean"), cdims, mv);
        Value* out = nullptr;
        add_node(g, front, "Sub", {cur, mc}, out, names, s.input + "_minus_mean", type);
        cur = out;
        ++result.inserted;
      }
      if (any_scale) {
        std::vector<float> sv(scale.begin(), scale.end());
        Value* sc = add_f32_initializer(g, names.fresh(s.input + "_scale"), cdims, sv);
        Value* out = nullptr;
        add_node(g, front, "Div", {cur, sc}, out, names, s.input + "_scaled", type);
        cur = out;
        ++result.inserted;
      }
    }
    if (cur != v)
      for (const Use& u : uses) u.node->set_input(u.input_index, cur);
  }
  return result;
}

}  // namespace irforge::passes
