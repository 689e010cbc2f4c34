// onnxruntime's transformers-optimizer contrib ops (domain com.microsoft) that models passed
// through onnxruntime.transformers.optimizer carry: the GELU family (Gelu, FastGelu, BiasGelu,
// QuickGelu), BiasAdd and the fused normalizations (SkipLayerNormalization,
// SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization). Semantics from onnxruntime's
// ContribOperators.md; each lowers to the OpenVINO ops the CPU plugin fuses (Gelu-7, MVN-6, the
// RMS pattern of norm.cc), and Attention (BERT/GPT-2 self-attention with packed QKV weights, no
// past state) to MatMul + ScaledDotProductAttention-13, EmbedLayerNormalization to Gathers + MVN. The ONNX writer keeps these nodes as
// they are. MultiHeadAttention, GroupQueryAttention and RotaryEmbedding are in ops/ms_attention.cc.
#include <cmath>

#include "io/openvino/ops/ms_attention.h"
#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

using namespace nn;

namespace {

const char kMs[] = "com.microsoft";

PortRef gelu(NodeContext& c, PortRef x, bool tanh) {
  return c.op("Gelu", "opset7", {x}, {{"approximation_mode", tanh ? "TANH" : "ERF"}});
}

// Input i added to x when present and not all zeros (an optional bias).
PortRef plus_optional(NodeContext& c, PortRef x, size_t i) {
  return c.has_input(i) && !constant_all(c, i, 0.0) ? binary(c, "Add", x, c.input(i)) : x;
}

// x times input i unless that is all ones.
PortRef times(NodeContext& c, PortRef x, size_t i) { return constant_all(c, i, 1.0) ? x : binary(c, "Multiply", x, c.input(i)); }

// Gelu: x · Φ(x) (erf form). BiasGelu: Gelu(A + B). FastGelu: the tanh form of Gelu(X + bias).
void lower_gelu(NodeContext& c) { c.set_output(0, gelu(c, c.input(0), false)); }
void lower_bias_gelu(NodeContext& c) { c.set_output(0, gelu(c, plus_optional(c, c.input(0), 1), false)); }
void lower_fast_gelu(NodeContext& c) { c.set_output(0, gelu(c, plus_optional(c, c.input(0), 1), true)); }

// QuickGelu: x · sigmoid(alpha · x).
void lower_quick_gelu(NodeContext& c) {
  PortRef x = c.input(0);
  PortRef scaled = binary(c, "Multiply", x, c.scalar(c.type(x), c.attr_float("alpha", 1.702f)));
  c.set_output(0, binary(c, "Multiply", x, c.op("Sigmoid", "opset1", {scaled})));
}

// BiasAdd: X + bias + skip.
void lower_bias_add(NodeContext& c) { c.set_output(0, binary(c, "Add", binary(c, "Add", c.input(0), c.input(1)), c.input(2))); }

// 1 / sqrt(v + eps).
PortRef inv_sqrt(NodeContext& c, PortRef v, double eps) {
  ElemType t = c.type(v);
  return binary(c, "Divide", c.scalar(t, 1.0), c.op("Sqrt", "opset1", {binary(c, "Add", v, c.scalar(t, eps))}));
}

// RMS normalization over `axes`, in the shape norm.cc writes (OpenVINO's RMS fusion).
struct Rms {
  PortRef y, inv_std;
};
Rms rms(NodeContext& c, PortRef x, PortRef axes, double eps, bool need_inv_std) {
  ElemType t = c.type(x);
  PortRef ms = reduce(c, "ReduceMean", c.op("Power", "opset1", {x, c.scalar(t, 2.0)}, {{"auto_broadcast", "numpy"}}), axes);
  PortRef y = binary(c, "Divide", x, c.op("Sqrt", "opset1", {binary(c, "Add", ms, c.scalar(t, eps))}));
  return {y, need_inv_std ? inv_sqrt(c, ms, eps) : PortRef{}};
}

// SkipLayerNormalization(input, skip, gamma, beta?, bias?) → (output, mean?, inv_std_var?,
// input_skip_bias_sum?): LayerNormalization over the last axis of input + skip (+ bias).
// SkipSimplifiedLayerNormalization(input, skip, gamma, bias?): the RMS form, no beta.
void lower_skip_norm(NodeContext& c, bool simplified) {
  PortRef x = c.input(0);
  double eps = c.attr_float("epsilon", simplified ? 1e-5f : 1e-12f);
  PortRef sum = plus_optional(c, binary(c, "Add", x, c.input(1)), simplified ? 3 : 4);
  PortRef axes = c.const_i64({-1});
  if (simplified) {
    Rms r = rms(c, sum, axes, eps, c.output_used(2));
    c.set_output(0, times(c, r.y, 2));
    if (c.output_used(2)) c.set_output(2, r.inv_std);
  } else {
    PortRef y = times(c, c.op("MVN", "opset6", {sum, axes}, {{"eps", fmt_float(eps)}, {"normalize_variance", "true"}, {"eps_mode", "INSIDE_SQRT"}}), 2);
    c.set_output(0, plus_optional(c, y, 3));
    if (c.output_used(1) || c.output_used(2)) {
      PortRef mean = reduce(c, "ReduceMean", sum, axes);
      PortRef d = binary(c, "Subtract", sum, mean);
      if (c.output_used(1)) c.set_output(1, mean);
      if (c.output_used(2)) c.set_output(2, inv_sqrt(c, reduce(c, "ReduceMean", binary(c, "Multiply", d, d), axes), eps));
    }
  }
  if (c.output_used(3)) c.set_output(3, sum);
}

// SimplifiedLayerNormalization(X, scale) → (Y, inv_std_var?): RMS normalization over
// [axis, rank) times scale.
void lower_simplified_norm(NodeContext& c) {
  Rms r = rms(c, c.input(0), trailing_axes(c, 0, c.attr_int("axis", -1)), c.attr_float("epsilon", 1e-5f), c.output_used(1));
  c.set_output(0, times(c, r.y, 1));
  if (c.output_used(1)) c.set_output(1, r.inv_std);
}

// Attention(input [B,S,In], weights [In, Hq+Hk+Hv], bias?, mask_index?, past?, attention_bias?):
// packed QKV projection, num_heads heads, softmax(Q Kᵀ · scale + mask) V; `unidirectional` is
// causal. mask_index: [B] valid key counts (right padding), [B, T] or [B, S, T] raw 1/0 masks,
// masked keys getting mask_filter_value. past [2, B, N, P, h] (keys, values; GPT-2 as the
// transformers optimizer fuses it) comes before the new keys, present is both with the new ones
// appended, and the queries are the last S of the P + S positions.
void lower_attention(NodeContext& c) {
  int64_t heads = c.attr_int("num_heads", 0);
  if (heads <= 0) c.unsupported("num_heads must be positive");
  if (c.has_input(6)) c.unsupported("past_sequence_length (a shared past/present buffer) is not supported");
  if (c.has_input(4)) {
    auto r = c.input_rank(4);
    if (!r || *r != 5) c.unsupported("past must have a known rank of 5 ([2, batch, heads, past length, head size])");
  }
  if (c.attr_int("do_rotary", 0) != 0) c.unsupported("do_rotary is not supported");
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  PortRef qkv = c.op("MatMul", "opset1", {x, c.input(1)}, {{"transpose_a", "false"}, {"transpose_b", "false"}});
  qkv = plus_optional(c, qkv, 2);
  Ints sizes = c.attr_ints("qkv_hidden_sizes");
  std::vector<PortRef> parts;
  if (sizes.empty()) {
    parts = c.op_multi("Split", "opset1", {qkv, c.scalar_i64(-1)}, {{"num_splits", "3"}}, {t, t, t});
  } else {
    if (sizes.size() != 3 || sizes[0] != sizes[1] || sizes[0] % heads || sizes[2] % heads)
      c.invalid("qkv_hidden_sizes must hold three sizes, Q's equal to K's, each a multiple of num_heads");
    parts = c.op_multi("VariadicSplit", "opset1", {qkv, c.scalar_i64(-1), c.const_i64(sizes)}, {}, {t, t, t});
  }
  // [B, S, N·h] → [B, N, S, h]
  auto split_heads = [&](PortRef p) {
    return c.op("Transpose", "opset1", {reshape(c, p, Ints{0, 0, heads, -1}, true), c.const_i64({0, 2, 1, 3})});
  };
  // Q's width: qkv_hidden_sizes[0], else a third of the weights' columns.
  std::optional<int64_t> head_size;
  const Type& wt = c.node().inputs()[1]->type();
  if (!sizes.empty()) head_size = sizes[0] / heads;
  else if (wt.is_tensor() && wt.shape && wt.shape->size() == 2 && (*wt.shape)[1].is_static() && (*wt.shape)[1].value % (3 * heads) == 0)
    head_size = (*wt.shape)[1].value / (3 * heads);
  PortRef k = split_heads(parts[1]), v = split_heads(parts[2]);
  const bool past = c.has_input(4);
  if (past) {
    auto half = [&](int64_t i) { return c.op("Gather", "opset8", {c.input(4), c.scalar_i64(i), c.scalar_i64(0)}, {{"batch_dims", "0"}}); };
    k = c.op("Concat", "opset1", {half(0), k}, {{"axis", "2"}});
    v = c.op("Concat", "opset1", {half(1), v}, {{"axis", "2"}});
  }
  if (c.output_used(1)) {
    auto front = [&](PortRef p) { return c.op("Unsqueeze", "opset1", {p, c.const_i64({0})}); };
    c.set_output(1, c.op("Concat", "opset1", {front(k), front(v)}, {{"axis", "0"}}));
  }
  PortRef y = ms_attend(c, split_heads(parts[0]), k, v, 3, 5, c.attr_int("unidirectional", 0) != 0, past, head_size);
  y = c.op("Transpose", "opset1", {y, c.const_i64({0, 2, 1, 3})});
  c.set_output(0, reshape(c, y, Ints{0, 0, -1}, true));
}

}  // namespace

// softmax(q kᵀ · scale + mask) v with q [B, N, S, h], k and v [B, N, T, h] → [B, N, S, h], the
// core of com.microsoft Attention and MultiHeadAttention: `scale` and `mask_filter_value` are
// the node's attributes, the mask built from the node's mask input `mask_i` (mask_index /
// key_padding_mask) and attention-bias input `bias_i`, `causal` (unidirectional) with queries
// aligned to the last keys.
PortRef ms_attend(NodeContext& c, PortRef q, PortRef k, PortRef v, size_t mask_i, size_t bias_i, bool causal, bool keys_may_outnumber_queries,
                  std::optional<int64_t> head_size) {
  ElemType t = c.type(q);
  PortRef scale;
  if (c.has_attr("scale") && c.attr_float("scale", 0.f) != 0.f) {
    scale = c.scalar(t, c.attr_float("scale", 1.f));
  } else if (head_size && *head_size > 0) {
    scale = c.scalar(t, 1.0 / std::sqrt(static_cast<double>(*head_size)));
  } else {
    // 1/sqrt(head size), from Q's last dim.
    PortRef h = c.convert(c.op("Gather", "opset8", {shape_of(c, q), c.scalar_i64(3), c.scalar_i64(0)}, {{"batch_dims", "0"}}), t);
    scale = binary(c, "Divide", c.scalar(t, 1.0), c.op("Sqrt", "opset1", {h}));
  }
  PortRef bias;
  double filter = c.attr_float("mask_filter_value", -10000.f);
  if (c.has_input(mask_i)) {
    PortRef m = c.input(mask_i);
    auto rank = c.input_rank(mask_i);
    if (!rank || *rank < 1 || *rank > 3) c.unsupported("mask_index of rank 1, 2 or 3 (and known) is supported");
    if (*rank == 1) {
      // Valid key counts [B]: key j of row b is masked from j = count on, compared in the
      // mask's own int32 ([1, T] < [B, 1, 1, 1] → [B, 1, 1, T]).
      ElemType mt = c.type(m);
      PortRef shape_k = c.op("ShapeOf", "opset3", {k}, {{"output_type", elem_name(mt)}}, mt);
      PortRef keys = c.op("Gather", "opset8", {shape_k, c.scalar_i64(2), c.scalar_i64(0)}, {{"batch_dims", "0"}});
      PortRef j = c.op("Range", "opset4", {c.scalar(mt, 0), keys, c.scalar(mt, 1)}, {{"output_type", elem_name(mt)}}, mt);
      // [B] ends, or [2B] ends then starts (left padding); [B] when its dim is the query's batch
      // dim (the optimizer's EmbedLayerNormalization → Attention), else told apart at run time.
      auto dim0 = [&](size_t i) -> std::optional<Dim> {
        const Type& ty = c.node().inputs()[i]->type();
        if (!ty.is_tensor() || !ty.shape || ty.shape->empty()) return std::nullopt;
        return (*ty.shape)[0];
      };
      auto mb = dim0(mask_i), qb = dim0(0);
      const bool ends_only = mb && qb && *mb == *qb && (mb->is_static() || !mb->param.empty());
      auto less = [&](PortRef x, PortRef y) { return c.op("Less", "opset1", {x, y}, {{"auto_broadcast", "numpy"}}, ElemType::kBoolean); };
      PortRef live;
      if (ends_only) {
        live = less(j, reshape(c, m, Ints{-1, 1, 1, 1}));
      } else {
        // The starts are Concat(mask, zeros [B])[B : 2B]: zeros when the mask holds only the ends.
        PortRef b = c.op("Gather", "opset8", {shape_of(c, q), c.const_i64({0}), c.scalar_i64(0)}, {{"batch_dims", "0"}});  // [1]
        PortRef padded = c.op("Concat", "opset1", {m, c.op("Broadcast", "opset3", {c.scalar(mt, 0), b}, {{"mode", "numpy"}})}, {{"axis", "0"}});
        auto part = [&](PortRef from, PortRef to) { return c.op("Slice", "opset8", {padded, from, to, c.const_i64({1}), c.const_i64({0})}); };
        PortRef ends = reshape(c, part(c.const_i64({0}), b), Ints{-1, 1, 1, 1});
        PortRef starts = reshape(c, part(b, binary(c, "Add", b, b)), Ints{-1, 1, 1, 1});
        live = c.op("LogicalAnd", "opset1", {less(j, ends), c.op("LogicalNot", "opset1", {less(j, starts)}, {}, ElemType::kBoolean)},
                    {{"auto_broadcast", "numpy"}}, ElemType::kBoolean);
      }
      bias = c.op("Select", "opset1", {live, c.scalar(t, 0.0), c.scalar(t, filter)}, {{"auto_broadcast", "numpy"}}, t);
    } else {
      PortRef keep = c.convert(m, t);  // 1 where a key may be attended
      bias = binary(c, "Multiply", binary(c, "Subtract", c.scalar(t, 1.0), keep), c.scalar(t, filter));
      // [B, T] → [B, 1, 1, T]; [B, S, T] → [B, 1, S, T]
      bias = c.op("Unsqueeze", "opset1", {bias, c.const_i64(*rank == 3 ? Ints{1} : Ints{1, 2})});
    }
  }
  if (c.has_input(bias_i)) bias = bias.valid() ? binary(c, "Add", bias, c.input(bias_i)) : c.input(bias_i);
  if (causal && (bias.valid() || keys_may_outnumber_queries)) {
    // OpenVINO's causal flag ignores an explicit mask and aligns queries to the first keys: an
    // explicit causal mask instead.
    PortRef shape_k = shape_of(c, k);
    PortRef rows = c.op("Gather", "opset8", {shape_of(c, q), c.scalar_i64(2), c.scalar_i64(0)}, {{"batch_dims", "0"}});
    PortRef cols = c.op("Gather", "opset8", {shape_k, c.scalar_i64(2), c.scalar_i64(0)}, {{"batch_dims", "0"}});
    PortRef i = reshape(c, c.op("Range", "opset4", {c.scalar_i64(0), rows, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64), Ints{-1, 1});
    PortRef j = c.op("Range", "opset4", {c.scalar_i64(0), cols, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
    // Query i sits at key position i + (T - S) (past keys first).
    PortRef offset = binary(c, "Subtract", cols, rows);
    PortRef later = c.op("Greater", "opset1", {j, binary(c, "Add", i, offset)}, {{"auto_broadcast", "numpy"}}, ElemType::kBoolean);
    PortRef causal_bias = c.op("Select", "opset1", {later, c.scalar(t, filter), c.scalar(t, 0.0)}, {{"auto_broadcast", "numpy"}}, t);
    bias = bias.valid() ? binary(c, "Add", bias, causal_bias) : causal_bias;
    causal = false;
  }
  PortRef mask = bias.valid() ? bias : c.scalar(t, 0);
  return c.op("ScaledDotProductAttention", "opset13", {q, k, v, mask, scale}, {{"causal", causal ? "true" : "false"}});
}

namespace {

// EmbedLayerNormalization(input_ids, segment_ids?, word_embedding, position_embedding,
// segment_embedding?, gamma, beta, mask?, position_ids?) → (output, mask_index?, embedding_sum?):
// LayerNormalization of word[ids] + position[position_ids or 0..S-1] (+ segment[segment_ids]);
// mask_index counts each row's non-zero mask entries (zeros without a mask).
void lower_embed_layer_norm(NodeContext& c) {
  auto gather = [&](PortRef table, PortRef ids) {
    return c.op("Gather", "opset8", {table, c.convert(ids, ElemType::kI64), c.scalar_i64(0)}, {{"batch_dims", "0"}});
  };
  PortRef ids = c.input(0);
  PortRef sum = gather(c.input(2), ids);
  PortRef positions;
  if (c.has_input(8)) {
    positions = c.input(8);
  } else {
    PortRef seq = c.op("Gather", "opset8", {shape_of(c, ids), c.scalar_i64(1), c.scalar_i64(0)}, {{"batch_dims", "0"}});
    positions = c.op("Range", "opset4", {c.scalar_i64(0), seq, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
  }
  sum = binary(c, "Add", sum, gather(c.input(3), positions));  // [S, H] or [B|1, S, H] broadcasts
  if (c.has_input(1) && c.has_input(4)) sum = binary(c, "Add", sum, gather(c.input(4), c.input(1)));
  double eps = c.attr_float("epsilon", 1e-12f);
  PortRef axes = c.const_i64({-1});
  PortRef y = c.op("MVN", "opset6", {sum, axes}, {{"eps", fmt_float(eps)}, {"normalize_variance", "true"}, {"eps_mode", "INSIDE_SQRT"}});
  c.set_output(0, plus_optional(c, times(c, y, 5), 6));
  if (c.output_used(1)) {
    PortRef count;
    if (c.has_input(7)) {
      PortRef set = c.op("NotEqual", "opset1", {c.input(7), c.convert(c.scalar_i64(0), c.type(c.input(7)))}, {{"auto_broadcast", "numpy"}},
                         ElemType::kBoolean);
      count = reduce(c, "ReduceSum", c.convert(set, ElemType::kI32), c.const_i64({1}), false);
    } else {
      PortRef batch = c.op("Gather", "opset8", {shape_of(c, ids), c.const_i64({0}), c.scalar_i64(0)}, {{"batch_dims", "0"}});
      count = c.op("Broadcast", "opset3", {c.const_i32({0}, Ints{}), batch}, {{"mode", "numpy"}});
    }
    c.set_output(1, count);
  }
  if (c.output_used(2)) c.set_output(2, sum);
}

}  // namespace

void register_ms_transformer_ops(LowerRegistry& r) {
  r.add("Gelu", lower_gelu, kMs);
  r.add("BiasGelu", lower_bias_gelu, kMs);
  r.add("FastGelu", lower_fast_gelu, kMs);
  r.add("QuickGelu", lower_quick_gelu, kMs);
  r.add("BiasAdd", lower_bias_add, kMs);
  r.add("Attention", lower_attention, kMs);
  r.add("EmbedLayerNormalization", lower_embed_layer_norm, kMs);
  r.add("SkipLayerNormalization", [](NodeContext& c) { lower_skip_norm(c, false); }, kMs);
  r.add("SkipSimplifiedLayerNormalization", [](NodeContext& c) { lower_skip_norm(c, true); }, kMs);
  r.add("SimplifiedLayerNormalization", lower_simplified_norm, kMs);
  // onnxruntime registers (and its optimizer writes) this one in the default domain.
  r.add("SimplifiedLayerNormalization", lower_simplified_norm);
  register_ms_attention_ops(r);
}

}  // namespace irforge::ov
