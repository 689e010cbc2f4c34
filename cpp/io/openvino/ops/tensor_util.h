// Small shape-computation helpers shared by the tensor-family lowerings (tensor.cc, indexing.cc,
// resize.cc). They build i64 shape subgraphs that work whether shapes are static or only known at
// run time; OpenVINO folds them to constants when they are static.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "io/openvino/lowering.h"

namespace irforge::ov::tensor_util {

inline const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};
inline constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();

// The order of `p`'s layer when it is a Transpose by a constant i64 order of `rank` axes (0:
// any rank).
inline std::optional<Ints> transpose_order(NodeContext& c, PortRef p, size_t rank = 0) {
  const Layer& t = c.graph().layers[p.layer];
  if (t.type != "Transpose" || t.inputs.size() != 2) return std::nullopt;
  const Layer& order = c.graph().layers[t.inputs[1].layer];
  if (order.type != "Const" || !order.constant || order.constant->source_type != ElemType::kI64) return std::nullopt;
  if (rank == 0) rank = order.constant->nbytes() / sizeof(int64_t);
  if (rank == 0 || order.constant->nbytes() != rank * sizeof(int64_t)) return std::nullopt;
  Ints perm(rank);
  std::memcpy(perm.data(), order.constant->data(), order.constant->nbytes());
  for (int64_t a : perm)
    if (a < 0 || a >= static_cast<int64_t>(rank)) return std::nullopt;
  return perm;
}

// x transposed by `perm` (non-negative). A Transpose of a Transpose layer (a lowering's layout
// change, e.g. around an RNN) becomes one Transpose of the composed order, and none when that is
// the identity and `may_elide` (not when the result would be a Parameter's port).
inline PortRef transpose_composed(NodeContext& c, PortRef x, const Ints& perm, bool may_elide = true) {
  if (auto first = transpose_order(c, x, perm.size())) {
    PortRef source = c.graph().layers[x.layer].inputs[0];
    Ints composed(perm.size());
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) {
      composed[i] = (*first)[static_cast<size_t>(perm[i])];
      identity = identity && composed[i] == static_cast<int64_t>(i);
    }
    if (identity && may_elide && c.graph().layers[source.layer].type != "Parameter") return source;
    return c.op("Transpose", "opset1", {source, c.const_i64(composed)});
  }
  return c.op("Transpose", "opset1", {x, c.const_i64(perm)});
}

inline PortRef i64(NodeContext& c, PortRef p) { return c.convert(p, ElemType::kI64); }

// ShapeOf as i64.
inline PortRef shape_of(NodeContext& c, PortRef x) {
  return c.op("ShapeOf", "opset3", {x}, {{"output_type", "i64"}}, ElemType::kI64);
}

// The rank of `x` as an i64 tensor of shape [1].
inline PortRef rank_of(NodeContext& c, PortRef x) { return shape_of(c, shape_of(c, x)); }

// Dimension `axis` (may be negative) of `x` as an i64 scalar.
inline PortRef dim_of(NodeContext& c, PortRef x, int64_t axis) {
  return c.op("Gather", "opset8", {shape_of(c, x), c.scalar_i64(axis), c.scalar_i64(0)}, {{"batch_dims", "0"}});
}

// The static shape of a port when every dim is known.
inline std::optional<Ints> static_shape(NodeContext& c, PortRef p) {
  PShape s = c.shape(p);
  if (!s) return std::nullopt;
  for (int64_t d : *s)
    if (d < 0) return std::nullopt;
  return *s;
}

// Rank of a port when known.
inline std::optional<int64_t> rank_of_port(NodeContext& c, PortRef p) {
  PShape s = c.shape(p);
  if (!s) return std::nullopt;
  return static_cast<int64_t>(s->size());
}

inline PortRef slice1d(NodeContext& c, PortRef v, int64_t start, int64_t stop) {
  return c.op("Slice", "opset8", {v, c.const_i64({start}), c.const_i64({stop}), c.const_i64({1}), c.const_i64({0})});
}

inline PortRef reduce_prod(NodeContext& c, PortRef v, bool keep_dims) {
  return c.op("ReduceProd", "opset1", {v, c.const_i64({0})}, {{"keep_dims", keep_dims ? "true" : "false"}});
}

inline PortRef to_scalar(NodeContext& c, PortRef p) { return c.op("Reshape", "opset1", {p, c.const_i64({}, Ints{0})}, {{"special_zero", "false"}}); }

inline PortRef to_1d(NodeContext& c, PortRef p) { return c.op("Reshape", "opset1", {p, c.const_i64({-1})}, {{"special_zero", "false"}}); }

inline PortRef concat(NodeContext& c, const std::vector<PortRef>& parts, int64_t axis) {
  return c.op("Concat", "opset1", parts, {{"axis", std::to_string(axis)}});
}

inline PortRef binop(NodeContext& c, const char* type, PortRef a, PortRef b, ElemType out = ElemType::kDynamic) {
  return c.op(type, "opset1", {a, b}, kNumpy, out);
}

// Normalizes possibly negative axes (an i64 tensor) against an i64 rank of shape [1]:
// (axes + rank) mod rank.
inline PortRef norm_axes(NodeContext& c, PortRef axes, PortRef rank) {
  return binop(c, "FloorMod", binop(c, "Add", axes, rank), rank);
}

// A vector of `len` (i64 [1]) zeros with `values` written at `positions`.
inline PortRef scatter_into_zeros(NodeContext& c, PortRef len, PortRef positions, PortRef values) {
  PortRef zeros = c.op("Broadcast", "opset3", {c.scalar_i64(0), len}, {{"mode", "numpy"}});
  return c.op("ScatterUpdate", "opset3", {zeros, positions, values, c.scalar_i64(0)});
}

}  // namespace irforge::ov::tensor_util
