// onnxruntime's com.microsoft attention ops that its transformers optimizer and model builder write,
// lowered per docs/ContribOperators.md and checked against onnxruntime's CPU kernels:
//   MultiHeadAttention   separate Q/K/V [B, S, N·h] (K/V also as [B, N, T, h]) + optional packed
//                        bias, key padding mask, attention bias, past/present K/V, unidirectional
//   GroupQueryAttention  N query heads over kv_num_heads K/V heads, causal over a KV cache whose
//                        valid length per batch row is seqlens_k + 1 (ragged pasts too), optional rotary (do_rotary),
//                        local window; separate or packed QKV
//   RotaryEmbedding      3D [B, S, N·h] or 4D [B, N, S, h] input, position ids or an offset
// all → ScaledDotProductAttention-13 with the heads split by Reshape + Transpose (what the CPU
// plugin fuses). What these lowerings do not cover (packed 5-D QKV, quantized KV caches, softcap,
// head sinks, the qk output, ...) is refused naming the node and the attribute or input.
#include <algorithm>
#include <cmath>
#include <limits>

#include "io/openvino/ops/ms_attention.h"
#include "io/openvino/ops/nn_common.h"
#include "io/openvino/ops/rotary.h"

namespace irforge::ov {

namespace {

using namespace nn;

// Dim `axis` of input i when static.
std::optional<int64_t> static_dim(NodeContext& c, size_t i, int64_t axis) {
  if (!c.has_input(i)) return std::nullopt;
  const Type& t = c.node().inputs()[i]->type();
  if (!t.is_tensor() || !t.shape) return std::nullopt;
  auto rank = static_cast<int64_t>(t.shape->size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank || !(*t.shape)[static_cast<size_t>(axis)].is_static()) return std::nullopt;
  return (*t.shape)[static_cast<size_t>(axis)].value;
}

// Dim `axis` of x as an i64 scalar.
PortRef dim(NodeContext& c, PortRef x, int64_t axis) {
  return c.op("Gather", "opset8", {shape_of(c, x), c.scalar_i64(axis), c.scalar_i64(0)}, {{"batch_dims", "0"}});
}

PortRef range(NodeContext& c, PortRef n) {
  return c.op("Range", "opset4", {c.scalar_i64(0), n, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
}

// [B, S, N·h] → [B, N, S, h]
PortRef split_heads(NodeContext& c, PortRef x, int64_t heads) {
  return c.op("Transpose", "opset1", {reshape(c, x, Ints{0, 0, heads, -1}, true), c.const_i64({0, 2, 1, 3})});
}

// [B, N, S, h] → [B, S, N·h]
PortRef merge_heads(NodeContext& c, PortRef y) {
  return reshape(c, c.op("Transpose", "opset1", {y, c.const_i64({0, 2, 1, 3})}), Ints{0, 0, -1}, true);
}

void require_rank(NodeContext& c, size_t i, std::initializer_list<int64_t> ranks, const std::string& what) {
  auto r = c.input_rank(i);
  if (!r || std::find(ranks.begin(), ranks.end(), *r) == ranks.end()) {
    std::string allowed;
    for (int64_t k : ranks) allowed += (allowed.empty() ? "" : " or ") + std::to_string(k);
    c.unsupported(what + " must have a known rank of " + allowed + (r ? ", not " + std::to_string(*r) : ""));
  }
}

// MultiHeadAttention(query, key, value, bias, key_padding_mask, attention_bias, past_key,
// past_value, past_sequence_length, cache_indirection) → (output, present_key, present_value, qk).
void lower_multi_head_attention(NodeContext& c) {
  const int64_t heads = c.attr_int("num_heads", 0);
  if (heads <= 0) c.invalid("num_heads must be positive");
  if (c.output_used(3)) c.unsupported("the qk output is not supported");
  if (c.has_input(8) || c.has_input(9)) c.unsupported("past_sequence_length / cache_indirection (shared KV buffers, beam search) are not supported");
  require_rank(c, 0, {3}, "query (packed 5-D QKV is not supported)");
  if (!c.has_input(1) || !c.has_input(2)) c.unsupported("query without key and value (packed QKV) is not supported");
  require_rank(c, 1, {3, 4}, "key (packed 5-D KV is not supported)");
  require_rank(c, 2, {3, 4}, "value");
  const bool projected = *c.input_rank(1) == 3;  // else already [B, N, T, h]
  if (projected != (*c.input_rank(2) == 3)) c.invalid("key and value must both be 3-D or both 4-D");
  PortRef q = c.input(0), k = c.input(1), v = c.input(2);
  if (c.has_input(3)) {
    // Packed [Dq + Dk + Dv] bias of the Q/K/V projections.
    auto dq = static_dim(c, 0, 2), dk = static_dim(c, 1, 2), dv = static_dim(c, 2, 2);
    if (!projected) c.unsupported("bias with 4-D key/value is not supported");
    if (!dq || !dk || !dv) c.unsupported("bias needs static hidden sizes of query, key and value");
    ElemType t = c.type(q);
    std::vector<PortRef> parts;
    auto values = c.const_floats(3);
    if (values && values->size() == static_cast<size_t>(*dq + *dk + *dv) && c.input_type(3) == ElemType::kF32) {
      // A constant bias (the optimizer's) is split here rather than by a layer.
      size_t at = 0;
      for (int64_t n : {*dq, *dk, *dv}) {
        parts.push_back(c.const_f32(std::vector<float>(values->begin() + static_cast<std::ptrdiff_t>(at), values->begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(n)))));
        at += static_cast<size_t>(n);
      }
    } else {
      parts = c.op_multi("VariadicSplit", "opset1", {c.input(3), c.scalar_i64(0), c.const_i64({*dq, *dk, *dv})}, {}, {t, t, t});
    }
    q = binary(c, "Add", q, parts[0]);
    k = binary(c, "Add", k, parts[1]);
    v = binary(c, "Add", v, parts[2]);
  }
  PortRef q4 = split_heads(c, q, heads);
  PortRef k4 = projected ? split_heads(c, k, heads) : k, v4 = projected ? split_heads(c, v, heads) : v;
  const bool past = c.has_input(6) && c.has_input(7);
  if (c.has_input(6) != c.has_input(7)) c.invalid("past_key and past_value must be given together");
  if (past) {
    k4 = c.op("Concat", "opset1", {c.input(6), k4}, {{"axis", "2"}});
    v4 = c.op("Concat", "opset1", {c.input(7), v4}, {{"axis", "2"}});
  }
  if (c.output_used(1)) c.set_output(1, k4);
  if (c.output_used(2)) c.set_output(2, v4);
  // Cross attention or a past: keys may outnumber queries, so causality needs the explicit mask.
  const bool causal = c.attr_int("unidirectional", 0) != 0;
  auto width = static_dim(c, 0, 2);
  std::optional<int64_t> head_size;
  if (width && *width % heads == 0) head_size = *width / heads;
  c.set_output(0, merge_heads(c, ms_attend(c, q4, k4, v4, 4, 5, causal, past || !projected, head_size)));
}

// [B, Nk, T, h] → [B, Nk·reps, T, h], each KV head serving `reps` consecutive query heads.
PortRef repeat_kv(NodeContext& c, PortRef x, int64_t kv_heads, int64_t reps, int64_t head_size) {
  if (reps == 1) return x;
  PortRef wide = c.op("Broadcast", "opset3", {c.op("Unsqueeze", "opset1", {x, c.const_i64({2})}), c.const_i64({1, 1, reps, 1, 1})},
                      {{"mode", "bidirectional"}});
  return reshape(c, wide, Ints{0, kv_heads * reps, -1, head_size}, true);
}

// onnxruntime's present K/V for a KV cache: row b keeps its first past_b past entries, then its S
// new ones, then zeros, over max(past length, total_sequence_length) positions. With a ragged
// past (batched generation over padded prompts, seqlens_k differing per row) a row's new keys so
// sit right after its own valid ones, not after the end of the shared past buffer.
struct PresentLayout {
  PortRef index;  // [B, T] position in Concat(past, new) that present position j takes
  PortRef valid;  // [B, 1, T, 1] whether present position j holds a past or a new entry
};

PresentLayout present_layout(NodeContext& c, PortRef past, PortRef past_b, PortRef s) {
  PortRef past_len = dim(c, past, 2);
  PortRef total = c.has_input(6) ? reshape(c, c.convert(c.input(6), ElemType::kI64), Ints{}) : binary(c, "Add", past_len, s);
  PortRef j = reshape(c, range(c, binary(c, "Maximum", past_len, total)), Ints{1, -1});  // [1, T]
  PortRef start = reshape(c, past_b, Ints{-1, 1});                                        // [B, 1]
  auto less = [&](PortRef a, PortRef b) { return c.op("Less", "opset1", {a, b}, kNumpy, ElemType::kBoolean); };
  PortRef from_new = binary(c, "Add", binary(c, "Subtract", j, start), past_len);
  PortRef index = c.op("Select", "opset1", {less(j, start), j, from_new}, kNumpy, ElemType::kI64);
  index = binary(c, "Minimum", index, binary(c, "Subtract", binary(c, "Add", past_len, s), c.scalar_i64(1)));
  PortRef valid = reshape(c, less(j, binary(c, "Add", start, s)), Ints{0, 1, -1, 1}, true);
  return {index, valid};
}

PortRef present_of(NodeContext& c, const PresentLayout& at, PortRef past, PortRef fresh) {
  PortRef joined = c.op("Concat", "opset1", {past, fresh}, {{"axis", "2"}});
  PortRef placed = c.op("Gather", "opset8", {joined, at.index, c.scalar_i64(2)}, {{"batch_dims", "1"}});
  return c.op("Select", "opset1", {at.valid, placed, c.scalar(c.type(fresh), 0)}, kNumpy, c.type(fresh));
}

// GroupQueryAttention(query, key, value, past_key, past_value, seqlens_k, total_sequence_length,
// cos_cache, sin_cache, position_ids, attention_bias, head_sink, ...) → (output, present_key,
// present_value, output_qk). As onnxruntime's CPU kernel: batch row b holds seqlens_k[b] + 1
// valid keys, its new tokens start at past_b = max(0, seqlens_k[b] + 1 - S) (0 on a padded first
// prompt); query i (position past_b + i) sees keys j <= past_b + i (causal), j <= seqlens_k[b],
// and with local_window_size W also j > past_b + i - W (W keys). The present K/V hold each row's
// new keys at past_b.. (present_layout), so ragged pasts are exact too.
void lower_group_query_attention(NodeContext& c) {
  const int64_t heads = c.attr_int("num_heads", 0), kv_heads = c.attr_int("kv_num_heads", 0);
  if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0) c.invalid("num_heads must be a positive multiple of a positive kv_num_heads");
  if (c.attr_float("softcap", 0.f) != 0.f) c.unsupported("softcap is not supported");
  if (c.attr_int("smooth_softmax", 0) != 0 || c.has_input(11)) c.unsupported("smooth_softmax / head_sink is not supported");
  if (c.attr_int("qk_output", 0) != 0 || c.output_used(3)) c.unsupported("qk_output is not supported");
  if (c.attr_int("sliding_window_cache", 0) != 0) c.unsupported("sliding_window_cache is not supported");
  for (size_t i = 12; i < c.num_inputs(); ++i)
    if (c.has_input(i)) c.unsupported("input " + std::to_string(i) + " (quantized KV cache scales / q-k norm weights) is not supported");
  for (const char* a : {"k_quant_type", "v_quant_type"}) {
    std::string q = c.attr_string(a, "NONE");
    if (q != "NONE") c.unsupported(std::string(a) + " '" + q + "' (a quantized KV cache) is not supported");
  }
  if (!c.has_input(5)) c.invalid("seqlens_k is required");
  require_rank(c, 0, {3}, "query");
  const bool packed = !c.has_input(1);
  if (packed == c.has_input(2)) c.invalid("key and value must be given together (or neither, for packed QKV)");
  auto width = static_dim(c, 0, 2);
  if (!width) c.unsupported("the query's hidden size must be static");
  const int64_t head_size = *width / (packed ? heads + 2 * kv_heads : heads);
  if (head_size <= 0 || *width % (packed ? heads + 2 * kv_heads : heads) != 0)
    c.invalid("the query's hidden size " + std::to_string(*width) + " is not a multiple of the head count");
  PortRef q = c.input(0), k, v;
  ElemType t = c.type(q);
  if (packed) {
    auto parts = c.op_multi("VariadicSplit", "opset1", {q, c.scalar_i64(-1), c.const_i64({heads * head_size, kv_heads * head_size, kv_heads * head_size})},
                            {}, {t, t, t});
    q = parts[0], k = parts[1], v = parts[2];
  } else {
    require_rank(c, 1, {3}, "key");
    require_rank(c, 2, {3}, "value");
    k = c.input(1), v = c.input(2);
  }
  PortRef q4 = split_heads(c, q, heads), k4 = split_heads(c, k, kv_heads), v4 = split_heads(c, v, kv_heads);

  PortRef seqlens = reshape(c, c.convert(c.input(5), ElemType::kI64), Ints{-1, 1, 1, 1});  // [B, 1, 1, 1]
  PortRef s = dim(c, q, 1);
  PortRef zero = c.scalar_i64(0);
  PortRef past_b = binary(c, "Maximum", binary(c, "Subtract", binary(c, "Add", seqlens, c.scalar_i64(1)), s), zero);  // [B, 1, 1, 1]
  PortRef rows = reshape(c, range(c, s), Ints{1, 1, -1, 1});                                                      // [1, 1, S, 1]
  PortRef position = binary(c, "Add", past_b, rows);                                                              // [B, 1, S, 1]
  if (c.attr_int("do_rotary", 0) != 0) {
    if (!c.has_input(7) || !c.has_input(8)) c.invalid("do_rotary needs cos_cache and sin_cache");
    // Positions [B, S]: the given ones, else each row's new-token positions.
    PortRef ids = c.has_input(9) ? c.convert(c.input(9), ElemType::kI64) : reshape(c, position, Ints{0, -1}, true);
    auto cached = [&](size_t i) {  // [max, r/2] → [B, 1, S, r/2]
      PortRef g = c.op("Gather", "opset8", {c.input(i), ids, c.scalar_i64(0)}, {{"batch_dims", "0"}});
      return c.convert_like(c.op("Unsqueeze", "opset1", {g, c.const_i64({1})}), q4);
    };
    PortRef cos = cached(7), sin = cached(8);
    auto half = static_dim(c, 7, 1);
    int64_t rotary_dim = half && 2 * *half < head_size ? 2 * *half : 0;
    bool interleaved = c.attr_int("rotary_interleaved", 0) != 0;
    q4 = apply_rotary(c, q4, cos, sin, rotary_dim, interleaved);
    k4 = apply_rotary(c, k4, cos, sin, rotary_dim, interleaved);
  }
  if (c.has_input(3) != c.has_input(4)) c.invalid("past_key and past_value must be given together");
  if (c.has_input(3)) {
    for (size_t i : {size_t{3}, size_t{4}})
      if (c.input_type(i) != t) c.unsupported("a KV cache of another type than the query (quantized) is not supported");
    PresentLayout at = present_layout(c, c.input(3), past_b, s);
    k4 = present_of(c, at, c.input(3), k4);
    v4 = present_of(c, at, c.input(4), v4);
  }
  if (c.output_used(1)) c.set_output(1, k4);
  if (c.output_used(2)) c.set_output(2, v4);

  PortRef keys = reshape(c, range(c, dim(c, k4, 2)), Ints{1, 1, 1, -1});  // [1, 1, 1, T]
  auto cmp = [&](const char* op, PortRef a, PortRef b) { return c.op(op, "opset1", {a, b}, kNumpy, ElemType::kBoolean); };
  auto both = [&](PortRef a, PortRef b) { return c.op("LogicalAnd", "opset1", {a, b}, kNumpy, ElemType::kBoolean); };
  PortRef keep = cmp("LessEqual", keys, seqlens);  // [B, 1, 1, T]
  if (c.attr_int("causal", 1) != 0) {
    keep = both(keep, cmp("LessEqual", keys, position));  // [B, 1, S, T]
    int64_t window = c.attr_int("local_window_size", -1);
    if (window > 0) keep = both(keep, cmp("Greater", keys, binary(c, "Subtract", position, c.scalar_i64(window))));
  } else if (c.attr_int("local_window_size", -1) != -1) {
    c.invalid("local_window_size must be -1 when causal is 0");
  }
  PortRef mask = keep;
  if (c.has_input(10)) {
    mask = c.op("Select", "opset1", {keep, c.scalar(t, 0), c.scalar(t, -std::numeric_limits<double>::infinity())}, kNumpy, t);
    mask = binary(c, "Add", mask, c.input(10));
  }
  float scale = c.attr_float("scale", 0.f);
  PortRef scale_p = c.scalar(t, scale != 0.f ? scale : 1.0 / std::sqrt(static_cast<double>(head_size)));
  const int64_t reps = heads / kv_heads;
  PortRef y = c.op("ScaledDotProductAttention", "opset13",
                   {q4, repeat_kv(c, k4, kv_heads, reps, head_size), repeat_kv(c, v4, kv_heads, reps, head_size), mask, scale_p},
                   {{"causal", "false"}});
  c.set_output(0, merge_heads(c, y));
}

// RotaryEmbedding(input, position_ids, cos_cache, sin_cache): input [B, S, N·h] or [B, N, S, h];
// position_ids [B, S], or a scalar / [1] holding the first position (then offset + 0..S-1).
// `scale` only scales a cos/sin cache that the kernel would regenerate for sequences longer than
// the given one, which onnxruntime does not do (it refuses such input): with the caches as given
// the output does not depend on it, so any scale is accepted.
void lower_ms_rotary_embedding(NodeContext& c) {
  if (c.attr_int("is_packed_batching", 0) != 0) c.unsupported("is_packed_batching is not supported");
  require_rank(c, 0, {3, 4}, "input");
  require_rank(c, 1, {0, 1, 2}, "position_ids");
  const bool split = *c.input_rank(0) == 3;
  PortRef input = c.input(0), x = input;
  int64_t dim_attr = c.attr_int("rotary_embedding_dim", 0);
  if (split) {
    int64_t heads = c.attr_int("num_heads", 0);
    if (heads > 0) {
      x = reshape(c, input, Ints{0, 0, heads, -1}, true);
    } else {
      // Without num_heads the head size is the rotated width, 2 · the caches' last dim.
      auto half = static_dim(c, 2, 1);
      if (dim_attr != 0 || !half) c.unsupported("3-D input without num_heads needs a static cos_cache width and no rotary_embedding_dim");
      x = reshape(c, input, Ints{0, 0, -1, 2 * *half}, true);
    }
  }
  PortRef ids = c.convert(c.input(1), ElemType::kI64);
  if (*c.input_rank(1) < 2) ids = reshape(c, binary(c, "Add", ids, range(c, dim(c, input, split ? 1 : 2))), Ints{1, -1});  // [1, S]
  const int64_t head_axis = split ? 2 : 1;  // [B, S, N, h] or [B, N, S, h]
  auto cached = [&](size_t i) {
    PortRef g = c.op("Gather", "opset8", {c.input(i), ids, c.scalar_i64(0)}, {{"batch_dims", "0"}});  // [B|1, S, r/2]
    return c.convert_like(c.op("Unsqueeze", "opset1", {g, c.const_i64({head_axis})}), x);
  };
  PortRef y = apply_rotary(c, x, cached(2), cached(3), dim_attr, c.attr_int("interleaved", 0) != 0);
  if (split) y = reshape(c, y, Ints{0, 0, -1}, true);  // [B, S, N, h] → [B, S, N·h]
  c.set_output(0, y);
}

}  // namespace

void register_ms_attention_ops(LowerRegistry& r) {
  const std::string ms = "com.microsoft";
  r.add("MultiHeadAttention", lower_multi_head_attention, ms);
  r.add("GroupQueryAttention", lower_group_query_attention, ms);
  r.add("RotaryEmbedding", lower_ms_rotary_embedding, ms);
}

}  // namespace irforge::ov
