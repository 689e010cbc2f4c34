// Rotary position embedding shared by ONNX RotaryEmbedding-23 (ops/attention.cc) and onnxruntime's
// com.microsoft RotaryEmbedding / GroupQueryAttention(do_rotary) (ops/ms_attention.cc).
#pragma once

#include "io/openvino/lowering.h"

namespace irforge::ov {

// Rotates the first `rotary_dim` channels (all when 0) of the last axis of `x` by the angles
// whose cos / sin are `cos` and `sin` (broadcastable to x with a last axis of rotary_dim / 2):
// pairs are the two halves, or even/odd channels when `interleaved`; the rest passes through.
PortRef apply_rotary(NodeContext& c, PortRef x, PortRef cos, PortRef sin, int64_t rotary_dim, bool interleaved);

}  // namespace irforge::ov
