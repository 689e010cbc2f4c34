// onnxruntime's com.microsoft attention ops: what ops/ms_transformer.cc (Attention) and
// ops/ms_attention.cc (MultiHeadAttention, GroupQueryAttention, RotaryEmbedding) share.
#pragma once

#include "io/openvino/lowering.h"

namespace irforge::ov {

// softmax(q kᵀ · scale + mask) v for q [B, N, S, h], k and v [B, N, T, h] → [B, N, S, h], with
// the node's `scale` and `mask_filter_value` attributes, its mask input `mask_i` (mask_index /
// key_padding_mask: [B] valid key counts, [B, T] or [B, S, T] 1/0), its attention-bias input
// `bias_i` and `causal` (queries aligned to the last keys; built as an explicit mask when there
// is one or when `keys_may_outnumber_queries`). Absent inputs add nothing. The default scale
// 1/sqrt(h) is a constant when `head_size` is known, else computed from q's shape.
PortRef ms_attend(NodeContext& c, PortRef q, PortRef k, PortRef v, size_t mask_i, size_t bias_i, bool causal,
                  bool keys_may_outnumber_queries = false, std::optional<int64_t> head_size = std::nullopt);

void register_ms_attention_ops(LowerRegistry& r);

}  // namespace irforge::ov
