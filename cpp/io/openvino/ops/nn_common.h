// Helpers shared by the nn family lowerings (conv.cc, matmul.cc, norm.cc, pool.cc, nn.cc):
// ONNX window attributes (kernel/strides/dilations/pads/auto_pad), per-channel broadcasting,
// axis ranges that work when the rank is only known at run time, and the stash precision of
// ONNX normalizations. Defined in nn.cc.
#pragma once

#include <optional>
#include <string>

#include "io/openvino/lowering.h"

namespace irforge::ov::nn {

inline const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

inline std::string fmt_bool(bool b) { return b ? "true" : "false"; }

// Small builders used everywhere in the family.
PortRef shape_of(NodeContext& c, PortRef x);                         // ShapeOf, i64
PortRef binary(NodeContext& c, const char* type, PortRef a, PortRef b);  // numpy broadcasting
PortRef reshape(NodeContext& c, PortRef x, PortRef target, bool special_zero = false);
PortRef reshape(NodeContext& c, PortRef x, const Ints& target, bool special_zero = false);
PortRef reduce(NodeContext& c, const char* type, PortRef x, PortRef axes, bool keep_dims = true);

// Whether input i is a constant whose every value is `v` (an all-zero bias, an all-ones scale).
bool constant_all(NodeContext& c, size_t i, double v);
// Whether constant `t` holds only zero bytes (a symmetric zero point, whose Subtract is a no-op).
// Bytes computed on demand (compress_weights' zero points, made while the .bin is written) are
// not asked for: computing them here would hold every weight's quantization in memory.
bool all_zero_bytes(const Tensor* t);

// Axes [start, rank) of input `i` (start may be negative, counting from the back); computed
// at run time with Range when the rank is unknown.
PortRef trailing_axes(NodeContext& c, size_t i, int64_t start);

// Reshapes a per-channel vector [C] to [1, C, 1, ...] so that it broadcasts against a tensor
// of layout [N, C, D1, ...] of rank `rank` (or of input `like_input`'s rank, at run time when
// unknown).
PortRef per_channel(NodeContext& c, PortRef v, std::optional<int64_t> rank, size_t like_input = 0);

// ONNX kernel/strides/dilations/pads/auto_pad for `n` spatial dims, in OpenVINO's spelling.
struct Window {
  Ints kernel, strides, dilations, pads_begin, pads_end;
  std::string auto_pad;  // explicit, same_upper, same_lower, valid
};
Window window_attrs(NodeContext& c, int64_t n);
// The number of spatial dims: kernel_shape's length, else rank of input `weights` - 2 (when
// given), else rank of input 0 - 2.
int64_t spatial_rank(NodeContext& c, std::optional<size_t> weights = std::nullopt);
// strides, dilations, pads_begin, pads_end, auto_pad (the Convolution family's attributes).
NodeContext::Attrs conv_attrs(const Window& w);

// ONNX normalizations compute in `stash_type` (float32 by default); returns that type, or the
// input's own type when the op has no stash_type in this opset.
ElemType stash_type(NodeContext& c, ElemType input_type, bool has_stash_attr);

}  // namespace irforge::ov::nn
