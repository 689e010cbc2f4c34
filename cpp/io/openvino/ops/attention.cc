// Attention-family ONNX ops: Attention (23+) → ScaledDotProductAttention-13 where its semantics
// match, an explicit MatMul/Softmax decomposition otherwise; RotaryEmbedding (23) decomposed;
// LinearAttention as a Loop over time steps.
#include <cmath>
#include <limits>
#include <optional>

#include "io/openvino/ops/rotary.h"
#include "io/openvino/ops/subgraph.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};
constexpr double kInf = std::numeric_limits<double>::infinity();

PortRef shape_of(NodeContext& c, PortRef x) { return c.op("ShapeOf", "opset3", {x}, {{"output_type", "i64"}}, ElemType::kI64); }

// Dimension `axis` of `x`: an i64 scalar, or shape [1] when `as_1d`.
PortRef dim_of(NodeContext& c, PortRef x, int64_t axis, bool as_1d = false) {
  PortRef index = as_1d ? c.const_i64({axis}) : c.scalar_i64(axis);
  return c.op("Gather", "opset8", {shape_of(c, x), index, c.scalar_i64(0)}, {{"batch_dims", "0"}});
}

// Static dim `axis` of input i from the ONNX type, when known.
std::optional<int64_t> static_dim(NodeContext& c, size_t i, int64_t axis) {
  if (!c.has_input(i)) return std::nullopt;
  const Type& t = c.node().inputs()[i]->type();
  if (!t.is_tensor() || !t.shape) return std::nullopt;
  int64_t rank = static_cast<int64_t>(t.shape->size());
  axis = norm_axis(axis, rank);
  if (axis < 0 || axis >= rank || !(*t.shape)[axis].is_static()) return std::nullopt;
  return (*t.shape)[axis].value;
}

// Dim `a` of input i and dim `b` of input j are the same named symbol.
bool same_symbol(NodeContext& c, size_t i, int64_t a, size_t j, int64_t b) {
  if (!c.has_input(i) || !c.has_input(j)) return false;
  const Type &ti = c.node().inputs()[i]->type(), &tj = c.node().inputs()[j]->type();
  if (!ti.is_tensor() || !ti.shape || !tj.is_tensor() || !tj.shape) return false;
  int64_t ri = static_cast<int64_t>(ti.shape->size()), rj = static_cast<int64_t>(tj.shape->size());
  a = norm_axis(a, ri);
  b = norm_axis(b, rj);
  if (a < 0 || a >= ri || b < 0 || b >= rj) return false;
  const Dim &da = (*ti.shape)[a], &db = (*tj.shape)[b];
  return da.kind == Dim::Kind::kParam && db.kind == Dim::Kind::kParam && da.param == db.param;
}

bool nan_rows_allowed(NodeContext& c) {
  for (const auto& [key, value] : c.node().metadata_props())
    if (key == "irforge.fully_masked_rows" && value == "nan") return true;
  return false;
}

PortRef add(NodeContext& c, PortRef a, PortRef b) { return c.op("Add", "opset1", {a, b}, kNumpy); }
PortRef mul(NodeContext& c, PortRef a, PortRef b) { return c.op("Multiply", "opset1", {a, b}, kNumpy); }
PortRef sub(NodeContext& c, PortRef a, PortRef b) { return c.op("Subtract", "opset1", {a, b}, kNumpy); }

// 0 where `allowed`, -inf elsewhere, in type t.
PortRef additive_mask(NodeContext& c, PortRef allowed, ElemType t) {
  return c.op("Select", "opset1", {allowed, c.scalar(t, 0), c.scalar(t, -kInf)}, kNumpy, t);
}

// [B, S, H*E] → [B, H, S, E]
PortRef split_heads(NodeContext& c, PortRef x, int64_t heads) {
  PortRef r = c.op("Reshape", "opset1", {x, c.const_i64({0, 0, heads, -1})}, {{"special_zero", "true"}});
  return c.op("Transpose", "opset1", {r, c.const_i64({0, 2, 1, 3})});
}

// Grouped-query attention: each of the KV heads serves `reps` query heads, repeated in place
// ([h0, h0, h1, h1, ...]) to match the query's head count.
PortRef repeat_heads(NodeContext& c, PortRef x, PortRef reps) {
  PortRef target = c.op("Concat", "opset1", {c.const_i64({1, 1}), reps, c.const_i64({1, 1})}, {{"axis", "0"}});
  PortRef wide = c.op("Broadcast", "opset3", {c.op("Unsqueeze", "opset1", {x, c.const_i64({2})}), target}, {{"mode", "bidirectional"}});
  PortRef factor = c.op("Concat", "opset1", {c.const_i64({1}), reps, c.const_i64({1, 1})}, {{"axis", "0"}});
  return c.op("Reshape", "opset1", {wide, mul(c, shape_of(c, x), factor)}, {{"special_zero", "false"}});
}

// Attention-23/24/25 (opset 25 adds left/right_window_size). Follows the ONNX reference:
//   bias = attn_mask (bool → 0/-inf, padded to the total kv length) + causal (bottom-right
//          aligned: query i sees keys j <= i + offset, offset = past length, or per batch
//          nonpad_kv_seqlen - q_len) + sliding window + key padding (nonpad_kv_seqlen)
//   probs = softmax(softcap(Q·Kᵀ·scale) + bias), rows whose bias is all -inf → 0
//   Y = probs·V
// OpenVINO's SDPA computes the same when no softcap, window, key padding or qk output is asked
// for; its causal mode is top-left aligned, which matches ONNX only without a past.
void lower_attention(NodeContext& c) {
  std::optional<int64_t> rank = c.input_rank(0);
  if (!rank || (*rank != 3 && *rank != 4)) c.unsupported("Q must have a known rank of 3 or 4");
  bool is3d = *rank == 3;
  PortRef q = c.input(0), k = c.input(1), v = c.input(2);
  ElemType t = c.type(q);
  int64_t q_heads = c.attr_int("q_num_heads", 0), kv_heads = c.attr_int("kv_num_heads", 0);
  if (is3d) {
    if (q_heads <= 0 || kv_heads <= 0) c.unsupported("3D inputs need the q_num_heads and kv_num_heads attributes");
    q = split_heads(c, q, q_heads);
    k = split_heads(c, k, kv_heads);
    v = split_heads(c, v, kv_heads);
  } else {
    q_heads = static_dim(c, 0, 1).value_or(0);
    kv_heads = static_dim(c, 1, 1).value_or(0);
  }
  bool has_past = c.has_input(4) && c.has_input(5);
  if (c.has_input(4) != c.has_input(5)) c.unsupported("past_key and past_value must be given together");
  if (has_past) {
    k = c.op("Concat", "opset1", {c.input(4), k}, {{"axis", "2"}});
    v = c.op("Concat", "opset1", {c.input(5), v}, {{"axis", "2"}});
  }
  if (c.output_used(1)) c.set_output(1, k);
  if (c.output_used(2)) c.set_output(2, v);

  // Scale: attribute, or 1/sqrt(head size).
  PortRef scale;
  std::optional<int64_t> head = is3d ? (static_dim(c, 0, 2) ? std::optional<int64_t>(*static_dim(c, 0, 2) / q_heads) : std::nullopt)
                                     : static_dim(c, 0, 3);
  if (c.has_attr("scale")) scale = c.scalar(t, c.attr_float("scale", 1.f));
  else if (head) scale = c.scalar(t, 1.0 / std::sqrt(static_cast<double>(*head)));
  else scale = c.op("Divide", "opset1", {c.scalar(t, 1.0), c.op("Sqrt", "opset1", {c.convert(dim_of(c, q, 3), t)})}, kNumpy);

  // Lengths are read from K before its heads are repeated: the CPU plugin's stateful SDPA fusion
  // wants the repeat's Reshape to feed SDPA alone (a ShapeOf of the KV-cache Concat is allowed).
  PortRef k_kv_heads = k;
  if (q_heads && kv_heads && q_heads != kv_heads && q_heads % kv_heads == 0 && !is3d) {
    // Static head counts: Unsqueeze → Broadcast → Reshape with constant shapes (the form the
    // CPU plugin's SDPA recognises for grouped-query attention).
    int64_t reps = q_heads / kv_heads;
    auto repeat = [&](PortRef x, size_t input) {
      std::optional<int64_t> width = static_dim(c, input, 3);
      if (!width) return repeat_heads(c, x, c.const_i64({reps}));
      PortRef wide = c.op("Broadcast", "opset3", {c.op("Unsqueeze", "opset1", {x, c.const_i64({2})}), c.const_i64({1, 1, reps, 1, 1})},
                          {{"mode", "bidirectional"}});
      return c.op("Reshape", "opset1", {wide, c.const_i64({0, q_heads, -1, *width})}, {{"special_zero", "true"}});
    };
    k = repeat(k, 1);
    v = repeat(v, 2);
  } else if (q_heads == 0 || kv_heads == 0 || q_heads != kv_heads) {
    PortRef reps = q_heads && kv_heads ? c.const_i64({q_heads / kv_heads})
                                       : c.op("Divide", "opset1", {dim_of(c, q, 1, true), dim_of(c, k, 1, true)}, kNumpy);
    k = repeat_heads(c, k, reps);
    v = repeat_heads(c, v, reps);
  }

  // ---- the additive bias [.., L, S] ----
  bool causal = c.attr_int("is_causal", 0) != 0;
  int64_t left = c.attr_int("left_window_size", -1), right = c.attr_int("right_window_size", -1);
  bool window = left >= 0 || right >= 0;
  bool nonpad = c.has_input(6);
  PortRef bias;
  bool rows_may_be_masked = false;  // a bias row may be all -inf
  if (c.has_input(3)) {
    PortRef m = c.input(3);
    bool boolean = c.type(m) == ElemType::kBoolean;
    // A mask shorter than the total kv length is padded with "masked".
    std::optional<int64_t> mask_len = static_dim(c, 3, -1), kv_len = static_dim(c, 1, is3d ? 1 : 2);
    std::optional<int64_t> past_len = has_past ? static_dim(c, 4, 2) : std::optional<int64_t>(0);
    bool same = mask_len && kv_len && past_len && *mask_len == *kv_len + *past_len;
    if (!same && !has_past) same = same_symbol(c, 3, -1, 1, is3d ? 1 : 2);  // e.g. both "sequence"
    std::optional<int64_t> mask_rank = c.input_rank(3);
    if (mask_rank && *mask_rank < 1) c.unsupported("attn_mask must have at least one dimension (the kv length)");
    if (!same) {
      if (!mask_rank) c.unsupported("attn_mask needs a known rank to be padded to the kv length");
      PortRef missing = sub(c, dim_of(c, k_kv_heads, 2, true), dim_of(c, m, -1, true));
      PortRef pads_end = c.op("Concat", "opset1", {c.const_i64(Ints(*mask_rank - 1, 0)), missing}, {{"axis", "0"}});
      m = c.op("Pad", "opset12", {m, c.const_i64(Ints(*mask_rank, 0)), pads_end, boolean ? c.scalar(ElemType::kBoolean, 0) : c.scalar(c.type(m), -kInf)},
               {{"pad_mode", "constant"}});
    }
    bias = boolean ? additive_mask(c, m, t) : c.convert_like(m, q);
    // fuse-attention marks nodes fused from MatMul/Softmax decompositions, whose fully masked
    // rows are NaN: the source's behaviour, which SDPA keeps without the guard below.
    rows_may_be_masked = !nan_rows_allowed(c);
  }
  float softcap = c.attr_float("softcap", 0.f);
  int64_t mode = c.attr_int("qk_matmul_output_mode", 0);
  std::optional<ElemType> softmax_type;
  if (c.has_attr("softmax_precision")) {
    softmax_type = from_onnx(static_cast<DataType>(c.attr_int("softmax_precision", 1)));
    if (!softmax_type || !is_float(*softmax_type)) c.unsupported("softmax_precision must be a floating-point type");
  }
  bool sdpa = softcap <= 0.f && !c.output_used(3) && !window && !nonpad && (!softmax_type || *softmax_type == t);
  // SDPA's causal mode (top-left aligned) is ONNX's when there is no past and no other mask.
  bool native_causal = sdpa && causal && !has_past && !c.has_input(3);
  if ((causal && !native_causal) || window || nonpad) {
    // Query i (offset-aligned) and key j positions.
    PortRef q_len = dim_of(c, q, 2), kv_len = dim_of(c, k_kv_heads, 2);
    PortRef i = c.op("Unsqueeze", "opset1", {c.op("Range", "opset4", {c.scalar_i64(0), q_len, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64), c.const_i64({1})});
    PortRef j = c.op("Range", "opset4", {c.scalar_i64(0), kv_len, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
    PortRef lens;
    if (nonpad) lens = c.convert(c.input(6), ElemType::kI64);
    // Offset of query 0: the past length, or per batch nonpad_kv_seqlen - q_len ([B, 1, 1]).
    PortRef pos = i;
    bool per_batch = false;
    if (has_past) pos = add(c, i, dim_of(c, c.input(4), 2));
    else if (nonpad) {
      pos = add(c, i, c.op("Reshape", "opset1", {sub(c, lens, q_len), c.const_i64({-1, 1, 1})}, {{"special_zero", "false"}}));
      per_batch = true;
    }
    auto to_bias = [&](PortRef allowed) {
      PortRef b = additive_mask(c, allowed, t);
      if (per_batch) b = c.op("Unsqueeze", "opset1", {b, c.const_i64({1})});  // [B, 1, L, S]
      return b;
    };
    PortRef diff = sub(c, pos, j);  // query position - key position
    if (causal) {
      PortRef causal_bias = to_bias(c.op("GreaterEqual", "opset1", {diff, c.scalar_i64(0)}, kNumpy, ElemType::kBoolean));
      bias = bias.valid() ? add(c, bias, causal_bias) : causal_bias;
      if (per_batch) rows_may_be_masked = true;  // a negative offset masks whole rows
    }
    if (window) {
      PortRef allowed;
      if (left >= 0) allowed = c.op("LessEqual", "opset1", {diff, c.scalar_i64(left)}, kNumpy, ElemType::kBoolean);
      if (right >= 0) {
        PortRef r = c.op("GreaterEqual", "opset1", {diff, c.scalar_i64(-right)}, kNumpy, ElemType::kBoolean);
        allowed = allowed.valid() ? c.op("LogicalAnd", "opset1", {allowed, r}, kNumpy, ElemType::kBoolean) : r;
      }
      PortRef w = to_bias(allowed);
      bias = bias.valid() ? add(c, bias, w) : w;
      rows_may_be_masked = true;
    }
    if (nonpad) {
      // Keys at or beyond nonpad_kv_seqlen[b] are padding: [B, 1, 1, S].
      PortRef valid = c.op("Less", "opset1", {j, c.op("Reshape", "opset1", {lens, c.const_i64({-1, 1})}, {{"special_zero", "false"}})}, kNumpy,
                           ElemType::kBoolean);
      PortRef pad_bias = c.op("Reshape", "opset1", {additive_mask(c, valid, t), c.const_i64({0, 1, 1, -1})}, {{"special_zero", "true"}});
      bias = bias.valid() ? add(c, bias, pad_bias) : pad_bias;
      rows_may_be_masked = true;
    }
  }
  // Rows with no attendable key give zeros (OpenVINO's softmax would give NaN). (Not tested as
  // ReduceMax(bias) == -inf: the CPU plugin's ReduceMax of an all -inf row is the lowest finite.)
  auto guard = [&](PortRef x) {
    if (!rows_may_be_masked) return x;
    PortRef open = c.op("Greater", "opset1", {bias, c.scalar(t, -kInf)}, kNumpy, ElemType::kBoolean);
    PortRef any = c.op("ReduceLogicalOr", "opset1", {open, c.const_i64({-1})}, {{"keep_dims", "true"}}, ElemType::kBoolean);
    return c.op("Select", "opset1", {any, x, c.scalar(c.type(x), 0)}, kNumpy, c.type(x));
  };

  PortRef y;
  if (sdpa) {
    PortRef mask = bias.valid() && !native_causal ? bias : c.scalar(t, 0);
    y = c.op("ScaledDotProductAttention", "opset13", {q, k, v, mask, scale}, {{"causal", native_causal ? "true" : "false"}});
    y = guard(y);
  } else {
    PortRef logits = c.op("MatMul", "opset1", {mul(c, q, scale), k}, {{"transpose_a", "false"}, {"transpose_b", "true"}});
    if (softcap > 0.f) {
      PortRef cap = c.scalar(t, softcap);
      logits = mul(c, c.op("Tanh", "opset1", {c.op("Divide", "opset1", {logits, cap}, kNumpy)}), cap);
    }
    PortRef qk_out = logits;
    if (bias.valid()) logits = add(c, logits, bias);
    if (mode == 2) qk_out = logits;
    PortRef probs = c.op("SoftMax", "opset8", {softmax_type ? c.convert(logits, *softmax_type) : logits}, {{"axis", "-1"}});
    probs = c.convert(guard(probs), t);
    if (mode == 3) qk_out = probs;
    if (c.output_used(3)) c.set_output(3, qk_out);
    y = c.op("MatMul", "opset1", {probs, v}, {{"transpose_a", "false"}, {"transpose_b", "false"}});
  }
  if (is3d) {
    y = c.op("Transpose", "opset1", {y, c.const_i64({0, 2, 1, 3})});
    y = c.op("Reshape", "opset1", {y, c.const_i64({0, 0, -1})}, {{"special_zero", "true"}});
  }
  c.set_output(0, y);
}

// RotaryEmbedding-23: rotates the first rotary_embedding_dim channels of every head by the
// cached angles of its position (pairs are halves, or even/odd channels when interleaved).
void lower_rotary_embedding(NodeContext& c) {
  std::optional<int64_t> rank = c.input_rank(0);
  if (!rank || (*rank != 3 && *rank != 4)) c.unsupported("the input must have a known rank of 3 or 4");
  PortRef input = c.input(0);
  PortRef cos = c.input(1), sin = c.input(2);
  if (c.has_input(3)) {
    // Caches indexed by position: [max_pos, D/2] → [B, S, D/2].
    cos = c.op("Gather", "opset8", {cos, c.input(3), c.scalar_i64(0)}, {{"batch_dims", "0"}});
    sin = c.op("Gather", "opset8", {sin, c.input(3), c.scalar_i64(0)}, {{"batch_dims", "0"}});
  }
  // Work in the input's own layout: [B, H, S, D] (4D) or [B, S, H, D] (3D split into heads);
  // the caches ([B, S, D/2]) get a unit head axis.
  PortRef x = input;
  int64_t head_axis = 1;
  if (*rank == 3) {
    int64_t heads = c.attr_int("num_heads", 0);
    if (heads <= 0) c.unsupported("3D input needs the num_heads attribute");
    x = c.op("Reshape", "opset1", {input, c.const_i64({0, 0, heads, -1})}, {{"special_zero", "true"}});
    head_axis = 2;
  }
  cos = c.convert_like(c.op("Unsqueeze", "opset1", {cos, c.const_i64({head_axis})}), x);
  sin = c.convert_like(c.op("Unsqueeze", "opset1", {sin, c.const_i64({head_axis})}), x);
  PortRef y = apply_rotary(c, x, cos, sin, c.attr_int("rotary_embedding_dim", 0), c.attr_int("interleaved", 0) != 0);
  if (*rank == 3) y = c.op("Reshape", "opset1", {y, shape_of(c, input)}, {{"special_zero", "false"}});
  c.set_output(0, y);
}

}  // namespace

PortRef apply_rotary(NodeContext& c, PortRef x, PortRef cos, PortRef sin, int64_t dim, bool interleaved) {
  auto slice = [&](PortRef p, int64_t start, int64_t stop, int64_t step) {
    return c.op("Slice", "opset8", {p, c.const_i64({start}), c.const_i64({stop}), c.const_i64({step}), c.const_i64({-1})});
  };
  constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
  PortRef rot = dim > 0 ? slice(x, 0, dim, 1) : x;
  PortRef x1, x2;
  if (interleaved) {
    x1 = slice(rot, 0, kEnd, 2);
    x2 = slice(rot, 1, kEnd, 2);
  } else {
    std::vector<PortRef> halves = c.op_multi("Split", "opset1", {rot, c.scalar_i64(-1)}, {{"num_splits", "2"}}, {c.type(rot), c.type(rot)});
    x1 = halves[0];
    x2 = halves[1];
  }
  PortRef real = sub(c, mul(c, cos, x1), mul(c, sin, x2));
  PortRef imag = add(c, mul(c, sin, x1), mul(c, cos, x2));
  PortRef rotated;
  if (interleaved) {
    PortRef last = c.const_i64({-1});
    PortRef pairs = c.op("Concat", "opset1", {c.op("Unsqueeze", "opset1", {real, last}), c.op("Unsqueeze", "opset1", {imag, last})}, {{"axis", "-1"}});
    rotated = c.op("Reshape", "opset1", {pairs, shape_of(c, rot)}, {{"special_zero", "false"}});
  } else {
    rotated = c.op("Concat", "opset1", {real, imag}, {{"axis", "-1"}});
  }
  return dim > 0 ? c.op("Concat", "opset1", {rotated, slice(x, dim, kEnd, 1)}, {{"axis", "-1"}}) : rotated;
}

namespace {

// LinearAttention: a recurrence over time on a per-KV-head state S [B, Hkv, dk, dv], in f32:
//   S *= exp(decay_t)                       (update rules "gated", "gated_delta")
//   v_t = beta_t · (v_t - Sᵀk_t)             ("delta", "gated_delta")
//   S += k_t ⊗ v_t;  o_t = scale · q_tᵀ S    (S repeated over the query heads of its group)
// The delta rule has no closed form, so this is a Loop over time steps.
void lower_linear_attention(NodeContext& c) {
  int64_t q_heads = c.attr_int("q_num_heads", 0), kv_heads = c.attr_int("kv_num_heads", 0);
  if (q_heads <= 0 || kv_heads <= 0 || q_heads % kv_heads != 0)
    c.unsupported("q_num_heads must be a positive multiple of kv_num_heads");
  std::string rule = c.attr_string("update_rule", "gated_delta");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta") c.unsupported("unknown update_rule '" + rule + "'");
  bool gating = rule == "gated" || rule == "gated_delta", delta = rule == "delta" || rule == "gated_delta";
  if (gating != c.has_input(4)) c.unsupported("update_rule '" + rule + (gating ? "' requires" : "' forbids") + " the decay input");
  if (delta != c.has_input(5)) c.unsupported("update_rule '" + rule + (delta ? "' requires" : "' forbids") + " the beta input");
  for (size_t i = 0; i < 3; ++i)
    if (c.input_rank(i) && *c.input_rank(i) != 3) c.unsupported("query, key and value must be rank 3 [batch, time, heads·dim]");

  const ElemType f32 = ElemType::kF32;
  PortRef query = c.input(0);
  ElemType out_type = c.type(query);
  PortRef q = split_heads(c, c.convert(query, f32), q_heads);         // [B, Hq, T, dk]
  PortRef k = split_heads(c, c.convert(c.input(1), f32), kv_heads);   // [B, Hkv, T, dk]
  PortRef v = split_heads(c, c.convert(c.input(2), f32), kv_heads);   // [B, Hkv, T, dv]
  PortRef dk = dim_of(c, q, 3, true), dv = dim_of(c, v, 3, true);
  PortRef state0;
  if (c.has_input(3)) {
    state0 = c.convert(c.input(3), f32);
  } else {
    PortRef shape = c.op("Concat", "opset1", {dim_of(c, query, 0, true), c.const_i64({kv_heads}), dk, dv}, {{"axis", "0"}});
    state0 = c.op("Broadcast", "opset3", {c.scalar(f32, 0), shape}, {{"mode", "numpy"}});
  }
  float scale_attr = c.attr_float("scale", 0.f);
  PortRef scale = scale_attr != 0.f ? c.scalar(f32, scale_attr)
                                    : c.op("Divide", "opset1", {c.scalar(f32, 1.0), c.op("Sqrt", "opset1", {c.convert(dim_of(c, q, 3), f32)})}, kNumpy);

  LoopBuilder loop(c, dim_of(c, query, 1), c.scalar(ElemType::kBoolean, 1));
  NodeContext& b = loop.b();
  PortRef t = loop.iteration();
  auto step = [&](PortRef x, const char* name) {  // [B, H, T, d] → [B, H, d] at time t
    return b.op("Gather", "opset8", {loop.invariant(x, dynamic_dims(4), name), t, b.scalar_i64(2)}, {{"batch_dims", "0"}});
  };
  PortRef state_in = loop.carried(state0, dynamic_dims(4), "state");
  PortRef q_t = step(q, "query"), k_t = step(k, "key"), v_t = step(v, "value");
  PortRef scale_in = loop.invariant(scale, Ints{}, "scale");
  PortRef last = b.const_i64({-1}), second_last = b.const_i64({-2});
  PortRef state = state_in;
  if (gating) {
    // decay [B, T, Hkv] (per head) or [B, T, Hkv·dk] (per key dim) → [B, Hkv, T, 1 or dk].
    PortRef g_t = step(split_heads(c, c.convert(c.input(4), f32), kv_heads), "decay");
    state = b.op("Multiply", "opset1", {state, b.op("Unsqueeze", "opset1", {b.op("Exp", "opset1", {g_t}), last})}, kNumpy);
  }
  if (delta) {
    // beta [B, T, Hkv or 1] → [B, Hkv or 1, T, 1].
    PortRef beta = c.op("Reshape", "opset1", {c.convert(c.input(5), f32), c.const_i64({0, 0, -1, 1})}, {{"special_zero", "true"}});
    PortRef beta_t = step(c.op("Transpose", "opset1", {beta, c.const_i64({0, 2, 1, 3})}), "beta");
    PortRef retrieved = b.op("MatMul", "opset1", {b.op("Unsqueeze", "opset1", {k_t, second_last}), state},
                             {{"transpose_a", "false"}, {"transpose_b", "false"}});  // [B, Hkv, 1, dv]
    PortRef error = b.op("Subtract", "opset1", {v_t, b.op("Squeeze", "opset1", {retrieved, second_last})}, kNumpy);
    v_t = b.op("Multiply", "opset1", {beta_t, error}, kNumpy);
  }
  PortRef write = b.op("Multiply", "opset1", {b.op("Unsqueeze", "opset1", {k_t, last}), b.op("Unsqueeze", "opset1", {v_t, second_last})}, kNumpy);
  state = b.op("Add", "opset1", {state, write}, kNumpy);
  PortRef read = q_heads == kv_heads ? state : repeat_heads(b, state, b.const_i64({q_heads / kv_heads}));
  PortRef o_t = b.op("MatMul", "opset1", {b.op("Unsqueeze", "opset1", {q_t, second_last}), read}, {{"transpose_a", "false"}, {"transpose_b", "false"}});
  loop.carry(state_in, state);
  loop.concat_output(b.op("Multiply", "opset1", {o_t, scale_in}, kNumpy), 2);  // [B, Hq, 1, dv] per step
  std::vector<PortRef> outs = loop.finish();

  // [B, Hq, T, dv] → [B, T, Hq·dv]; the state keeps past_state's type (or the query's).
  PortRef y = c.op("Transpose", "opset1", {outs[1], c.const_i64({0, 2, 1, 3})});
  y = c.op("Reshape", "opset1", {y, c.const_i64({0, 0, -1})}, {{"special_zero", "true"}});
  c.set_output(0, c.convert(y, out_type));
  if (c.output_used(1)) c.set_output(1, c.convert(outs[0], c.has_input(3) ? c.type(c.input(3)) : out_type));
}

}  // namespace

void register_attention_ops(LowerRegistry& r) {
  r.add("Attention", lower_attention);
  r.add("RotaryEmbedding", lower_rotary_embedding);
  r.add("LinearAttention", lower_linear_attention);
}

}  // namespace irforge::ov
