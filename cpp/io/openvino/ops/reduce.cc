// ONNX reductions and scans lowered to OpenVINO opsets: Reduce*, ArgMax/ArgMin, TopK, CumSum,
// CumProd.
//
// Axes: up to ReduceSum-11 / Reduce*-17 they are an attribute; from ReduceSum-13 / Reduce*-18 an
// optional input. In both forms "no axes" means "all axes", except that from the input form on
// noop_with_empty_axes=1 turns empty axes into "reduce nothing" — which is what an OpenVINO
// Reduce* does with an empty axes tensor, so that case maps directly.
#include <algorithm>
#include <limits>
#include <numeric>

#include "io/openvino/lowering.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

const char* bool_str(bool b) { return b ? "true" : "false"; }

PortRef shape_of(NodeContext& c, PortRef x) { return c.op("ShapeOf", "opset3", {x}, {{"output_type", "i64"}}, ElemType::kI64); }

// 0..rank-1 of input `i`; computed at run time when the rank is unknown.
PortRef all_axes(NodeContext& c, size_t i) {
  if (auto r = c.input_rank(i)) {
    Ints v(static_cast<size_t>(*r));
    std::iota(v.begin(), v.end(), 0);
    return c.const_i64(v);
  }
  PortRef rank = c.op("Squeeze", "opset1", {shape_of(c, shape_of(c, c.input(i))), c.const_i64({0})});
  return c.op("Range", "opset4", {c.scalar_i64(0), rank, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
}

// The axes of a Reduce* node (see the file comment for the opset rules). `count` is their number
// when known and they are only known at run time.
struct Axes {
  PortRef port;
  bool runtime = false;
  std::optional<int64_t> count;
  // The axes index x with a leading size-1 axis added (and include it): see reduce_axes.
  bool lead = false;
};

Axes known(PortRef p) { return Axes{p, false, std::nullopt, false}; }
Axes at_run_time(PortRef p, std::optional<int64_t> count, bool lead = false) { return Axes{p, true, count, lead}; }

Axes reduce_axes(NodeContext& c, int64_t axes_input_since) {
  if (c.opset() < axes_input_since) return known(c.has_attr("axes") ? c.const_i64(c.attr_ints("axes")) : all_axes(c, 0));
  bool noop = c.attr_int("noop_with_empty_axes", 0) != 0;
  if (!c.has_input(1)) return known(noop ? c.const_i64({}) : all_axes(c, 0));
  if (auto axes = c.const_ints(1)) return known(axes->empty() && !noop ? all_axes(c, 0) : c.const_i64(*axes));
  PortRef axes = c.convert(c.input(1), ElemType::kI64);
  PShape s = c.shape(axes);
  std::optional<int64_t> n;
  if (s && s->size() == 1 && (*s)[0] >= 0) n = (*s)[0];
  if (n == 0) return known(noop ? c.const_i64({}) : all_axes(c, 0));
  if (n) return at_run_time(axes, n);
  if (noop) {
    // Run-time axes that may be empty, meaning no reduction: the CPU plugin fails on an empty
    // run-time axes tensor, so x gets a leading size-1 axis that is always reduced too.
    PortRef rank = shape_of(c, shape_of(c, c.input(0)));
    PortRef shifted = c.op("Add", "opset1", {c.op("FloorMod", "opset1", {axes, rank}, kNumpy), c.const_i64({1})}, kNumpy);
    return at_run_time(c.op("Concat", "opset1", {c.const_i64({0}), shifted}, {{"axis", "0"}}), std::nullopt, true);
  }
  // Run-time axes that may be empty, meaning all axes: take the first count elements of
  // concat(axes, 0..rank-1) with count = len(axes) if that is > 0, else rank.
  PortRef all = all_axes(c, 0);
  PortRef len = shape_of(c, axes);
  PortRef empty = c.op("Equal", "opset1", {len, c.const_i64({0})}, kNumpy, ElemType::kBoolean);
  PortRef count = c.op("Select", "opset1", {empty, shape_of(c, all), len}, kNumpy, ElemType::kI64);
  PortRef both = c.op("Concat", "opset1", {axes, all}, {{"axis", "0"}});
  return at_run_time(c.op("Slice", "opset8", {both, c.const_i64({0}), count, c.const_i64({1}), c.const_i64({0})}), std::nullopt);
}

// Drops the (size-1) dims at run-time `axes` from `y`, leaving a static rank r - n. OpenVINO
// cannot infer the rank of a keep_dims=false reduction over run-time axes and the CPU plugin
// rejects dynamic ranks, so the kept dims are picked explicitly: the indices of the r - n
// smallest keys where key(i) = i, plus r if i is reduced.
PortRef drop_axes(NodeContext& c, PortRef y, PortRef axes, int64_t r, int64_t n) {
  if (r == n) return c.op("Reshape", "opset1", {y, c.const_i64({}, Ints{0})}, {{"special_zero", "false"}});
  Ints iota(static_cast<size_t>(r));
  std::iota(iota.begin(), iota.end(), 0);
  PortRef pos = c.op("FloorMod", "opset1", {axes, c.scalar_i64(r)}, kNumpy);
  PortRef hit = c.op("Equal", "opset1", {c.const_i64(iota, Ints{r, 1}), c.op("Unsqueeze", "opset1", {pos, c.const_i64({0})})}, kNumpy,
                     ElemType::kBoolean);
  PortRef reduced = c.op("ReduceLogicalOr", "opset1", {hit, c.const_i64({1})}, {{"keep_dims", "false"}});
  PortRef key = c.op("Add", "opset1", {c.const_i64(iota), c.op("Multiply", "opset1", {c.convert(reduced, ElemType::kI64), c.scalar_i64(r)}, kNumpy)}, kNumpy);
  auto kept = c.op_multi("TopK", "opset11", {key, c.scalar_i64(r - n)},
                         {{"axis", "0"}, {"mode", "min"}, {"sort", "value"}, {"index_element_type", "i64"}, {"stable", "false"}},
                         {ElemType::kI64, ElemType::kI64});
  PortRef shape = c.op("Gather", "opset8", {shape_of(c, y), kept[1], c.scalar_i64(0)}, {{"batch_dims", "0"}});
  return c.op("Reshape", "opset1", {y, shape}, {{"special_zero", "false"}});
}

PortRef reduce_keep(NodeContext& c, const char* type, const char* version, PortRef x, const Axes& axes, bool keep) {
  if (axes.lead) {
    PortRef y = c.op(type, version, {c.op("Unsqueeze", "opset1", {x, c.const_i64({0})}), axes.port}, {{"keep_dims", bool_str(keep)}});
    return keep ? c.op("Squeeze", "opset1", {y, c.const_i64({0})}) : y;
  }
  auto r = c.input_rank(0);
  if (!keep && axes.runtime && axes.count && r) {
    PortRef y = c.op(type, version, {x, axes.port}, {{"keep_dims", "true"}});
    return drop_axes(c, y, axes.port, *r, *axes.count);
  }
  return c.op(type, version, {x, axes.port}, {{"keep_dims", bool_str(keep)}});
}

PortRef reduce(NodeContext& c, const char* type, const char* version, PortRef x, const Axes& axes) {
  return reduce_keep(c, type, version, x, axes, c.attr_int("keepdims", 1) != 0);
}

// True when input `i` has a dim statically 0 (an empty reduction is possible).
bool has_zero_dim(NodeContext& c, size_t i) {
  PShape s = c.shape(c.input(i));
  return s && std::find(s->begin(), s->end(), 0) != s->end();
}

// Reduce* that map to one OpenVINO op. OpenVINO's ReduceMax/Min reject booleans: run them on u8.
// `empty` is the ONNX value of a float reduction over no elements (±inf for Max/Min), where the
// CPU plugin returns the finite type limits; it is patched in when an input dim is statically 0.
LowerFn simple_reduce(const char* type, const char* version, int64_t axes_input_since, double empty = 0) {
  return [=](NodeContext& c) {
    PortRef x = c.input(0);
    Axes axes = reduce_axes(c, axes_input_since);
    ElemType t = c.type(x);
    bool as_u8 = t == ElemType::kBoolean;
    PortRef y = reduce(c, type, version, as_u8 ? c.convert(x, ElemType::kU8) : x, axes);
    if (as_u8) y = c.convert(y, ElemType::kBoolean);
    if (empty != 0 && is_float(t) && has_zero_dim(c, 0)) {
      PortRef shape = shape_of(c, x);
      if (axes.lead) shape = c.op("Concat", "opset1", {c.const_i64({1}), shape}, {{"axis", "0"}});
      PortRef dims = c.op("Gather", "opset8", {shape, axes.port, c.scalar_i64(0)}, {{"batch_dims", "0"}});
      PortRef count = c.op("ReduceProd", "opset1", {dims, c.const_i64({0})}, {{"keep_dims", "false"}});
      PortRef none = c.op("Equal", "opset1", {count, c.scalar_i64(0)}, kNumpy, ElemType::kBoolean);
      y = c.op("Select", "opset1", {none, c.scalar(t, empty), y}, kNumpy, t);
    }
    c.set_output(0, y);
  };
}

void lower_reduce_sum_square(NodeContext& c) {
  PortRef x = c.input(0);
  Axes axes = reduce_axes(c, 18);
  c.set_output(0, reduce(c, "ReduceSum", "opset1", c.op("Multiply", "opset1", {x, x}, kNumpy), axes));
}

void lower_reduce_log_sum(NodeContext& c) {
  Axes axes = reduce_axes(c, 18);
  c.set_output(0, c.op("Log", "opset1", {reduce(c, "ReduceSum", "opset1", c.input(0), axes)}));
}

void lower_reduce_log_sum_exp(NodeContext& c) {
  // log(sum(exp(x - m))) + m with m = max(x) over the axes, so large inputs do not overflow.
  // A non-finite m (infinite inputs, or an empty reduction's -inf) is replaced by 0, where the
  // plain formula already gives the right inf/-inf and x - m would give NaN.
  PortRef x = c.input(0);
  Axes axes = reduce_axes(c, 18);
  ElemType t = c.type(x);
  PortRef m = reduce_keep(c, "ReduceMax", "opset1", x, axes, true);
  PortRef inf = c.op("IsInf", "opset10", {m}, {}, ElemType::kBoolean);
  m = c.op("Select", "opset1", {inf, c.scalar(t, 0.0), m}, kNumpy, t);
  PortRef e = c.op("Exp", "opset1", {c.op("Subtract", "opset1", {x, m}, kNumpy)});
  PortRef s = c.op("Log", "opset1", {reduce(c, "ReduceSum", "opset1", e, axes)});
  c.set_output(0, c.op("Add", "opset1", {s, reduce(c, "ReduceMax", "opset1", m, axes)}, kNumpy));
}

// Reverses `x` along `axis` (a Slice with step -1).
PortRef reverse(NodeContext& c, PortRef x, int64_t axis) {
  return c.op("Slice", "opset8",
              {x, c.const_i64({-1}), c.const_i64({std::numeric_limits<int64_t>::min()}), c.const_i64({-1}), c.const_i64({axis})});
}

// Length of `x` along `axis` as a 1-element i64 vector.
PortRef dim_of(NodeContext& c, PortRef x, int64_t axis) {
  return c.op("Gather", "opset8", {shape_of(c, x), c.const_i64({axis}), c.scalar_i64(0)}, {{"batch_dims", "0"}});
}

void lower_arg(NodeContext& c, bool max) {
  // TopK(k=1) with stable sorting returns the first of equal extremes; for select_last_index
  // the input is reversed along the axis and the index mapped back (dim - 1 - i).
  PortRef x = c.input(0);
  int64_t axis = c.attr_int("axis", 0);
  bool last = c.attr_int("select_last_index", 0) != 0;
  PortRef in = last ? reverse(c, x, axis) : x;
  auto outs = c.op_multi("TopK", "opset11", {in, c.scalar_i64(1)},
                         {{"axis", std::to_string(axis)}, {"mode", max ? "max" : "min"}, {"sort", "value"},
                          {"index_element_type", "i64"}, {"stable", "true"}},
                         {c.type(x), ElemType::kI64});
  PortRef idx = outs[1];
  if (last) {
    PortRef top = c.op("Subtract", "opset1", {dim_of(c, x, axis), c.const_i64({1})}, kNumpy);
    idx = c.op("Subtract", "opset1", {top, idx}, kNumpy);
  }
  if (c.attr_int("keepdims", 1) == 0) idx = c.op("Squeeze", "opset1", {idx, c.const_i64({axis})});
  c.set_output(0, idx);
}

// The k input/attribute of TopK as an i64 scalar.
PortRef topk_k(NodeContext& c) {
  if (c.opset() < 10) return c.scalar_i64(c.attr_int("k", 1));
  if (auto k = c.const_ints(1); k && k->size() == 1) return c.scalar_i64((*k)[0]);
  return c.op("Reshape", "opset1", {c.convert(c.input(1), ElemType::kI64), c.const_i64({}, Ints{0})}, {{"special_zero", "false"}});
}

void lower_top_k(NodeContext& c) {
  // ONNX breaks ties by the lower index: a stable OpenVINO sort does the same. With sorted=0
  // the order is unspecified in ONNX, so no sorting is requested.
  PortRef x = c.input(0);
  bool largest = c.opset() < 11 || c.attr_int("largest", 1) != 0;
  bool sorted = c.opset() < 11 || c.attr_int("sorted", 1) != 0;
  auto outs = c.op_multi("TopK", "opset11", {x, topk_k(c)},
                         {{"axis", std::to_string(c.attr_int("axis", -1))}, {"mode", largest ? "max" : "min"},
                          {"sort", sorted ? "value" : "none"}, {"index_element_type", "i64"}, {"stable", "true"}},
                         {c.type(x), ElemType::kI64});
  c.set_output(0, outs[0]);
  c.set_output(1, outs[1]);
}

// The axis input of CumSum/CumProd as an i64 scalar port.
PortRef scan_axis(NodeContext& c) {
  if (auto a = c.const_ints(1); a && a->size() == 1) return c.scalar_i64((*a)[0]);
  return c.op("Reshape", "opset1", {c.convert(c.input(1), ElemType::kI64), c.const_i64({}, Ints{0})}, {{"special_zero", "false"}});
}

void lower_cum_sum(NodeContext& c) {
  c.set_output(0, c.op("CumSum", "opset3", {c.input(0), scan_axis(c)},
                       {{"exclusive", bool_str(c.attr_int("exclusive", 0) != 0)}, {"reverse", bool_str(c.attr_int("reverse", 0) != 0)}}));
}

void lower_cum_prod(NodeContext& c) {
  // OpenVINO has no cumulative product. A log-depth scan (Hillis–Steele) is exact: y *= shift(y, k)
  // for k = 1, 2, 4, ... < n, where shift(y, k) moves y by k along the axis filling with ones
  // (Pad at the front, then drop the last k). Reverse flips around it; exclusive is one more shift.
  // The step count needs n statically: the axis's length, or the largest dim for a run-time axis
  // (extra steps shift everything out and multiply by ones).
  PShape shape = c.shape(c.input(0));
  if (!shape) c.unsupported("CumProd needs an input of known rank");
  int64_t r = static_cast<int64_t>(shape->size());
  auto axis_const = c.const_ints(1);
  std::optional<int64_t> axis;
  if (axis_const && axis_const->size() == 1) {
    int64_t a = (*axis_const)[0];
    if (a < -r || a >= r) c.invalid("axis " + std::to_string(a) + " is outside the input's rank " + std::to_string(r));
    axis = norm_axis(a, r);
  }
  int64_t n = 0;
  for (int64_t i = 0; i < r; ++i) {
    int64_t d = (*shape)[static_cast<size_t>(i)];
    if (axis && i != *axis) continue;
    if (d < 0) c.unsupported("CumProd needs static dims along the scanned axis (the number of scan steps depends on them)");
    n = std::max(n, d);
  }
  Ints iota(static_cast<size_t>(r));
  std::iota(iota.begin(), iota.end(), 0);
  // axis1: the axis as a 1-element vector (for Slice); unit: 1 at the axis, 0 elsewhere (for Pad).
  PortRef axis1, unit;
  if (axis) {
    axis1 = c.const_i64({*axis});
    Ints u(static_cast<size_t>(r), 0);
    u[static_cast<size_t>(*axis)] = 1;
    unit = c.const_i64(u);
  } else {
    axis1 = c.op("Reshape", "opset1", {c.convert(c.input(1), ElemType::kI64), c.const_i64({1})}, {{"special_zero", "false"}});
    PortRef pos = c.op("FloorMod", "opset1", {axis1, c.scalar_i64(r)}, kNumpy);
    unit = c.convert(c.op("Equal", "opset1", {c.const_i64(iota), pos}, kNumpy, ElemType::kBoolean), ElemType::kI64);
  }
  PortRef y = c.input(0);
  PortRef one = c.scalar(c.type(y), 1.0);
  PortRef zeros = c.const_i64(Ints(static_cast<size_t>(r), 0));
  auto shift = [&](PortRef v, int64_t k) {
    PortRef begin = c.op("Multiply", "opset1", {unit, c.scalar_i64(k)}, kNumpy);
    PortRef padded = c.op("Pad", "opset12", {v, begin, zeros, one}, {{"pad_mode", "constant"}});
    return c.op("Slice", "opset8", {padded, c.const_i64({0}), c.const_i64({-k}), c.const_i64({1}), axis1});
  };
  // Reversal gathers indices n-1..0: the CPU plugin crashes on a negative-step Slice whose axes
  // are computed at run time.
  auto flip = [&](PortRef v) {
    PortRef axis0 = c.op("Squeeze", "opset1", {axis1, c.const_i64({0})});
    PortRef len = c.op("Gather", "opset8", {shape_of(c, v), axis0, c.scalar_i64(0)}, {{"batch_dims", "0"}});
    PortRef last = c.op("Subtract", "opset1", {len, c.scalar_i64(1)}, kNumpy);
    PortRef idx = c.op("Range", "opset4", {last, c.scalar_i64(-1), c.scalar_i64(-1)}, {{"output_type", "i64"}}, ElemType::kI64);
    return c.op("Gather", "opset8", {v, idx, axis0}, {{"batch_dims", "0"}});
  };
  bool rev = c.attr_int("reverse", 0) != 0;
  if (rev) y = flip(y);
  if (c.attr_int("exclusive", 0) != 0) y = shift(y, 1);
  for (int64_t k = 1; k < n; k *= 2) {
    y = c.op("Multiply", "opset1", {y, shift(y, k)}, kNumpy);
    if (k > n / 2) break;  // the next step would pass n (and, for a huge declared dim, overflow k)
  }
  if (rev) y = flip(y);
  c.set_output(0, y);
}

}  // namespace

void register_reduce_ops(LowerRegistry& r) {
  r.add("ReduceSum", simple_reduce("ReduceSum", "opset1", 13));
  r.add("ReduceMean", simple_reduce("ReduceMean", "opset1", 18));
  r.add("ReduceMax", simple_reduce("ReduceMax", "opset1", 18, -std::numeric_limits<double>::infinity()));
  r.add("ReduceMin", simple_reduce("ReduceMin", "opset1", 18, std::numeric_limits<double>::infinity()));
  r.add("ReduceProd", simple_reduce("ReduceProd", "opset1", 18));
  r.add("ReduceL1", simple_reduce("ReduceL1", "opset4", 18));
  r.add("ReduceL2", simple_reduce("ReduceL2", "opset4", 18));
  r.add("ReduceSumSquare", lower_reduce_sum_square);
  r.add("ReduceLogSum", lower_reduce_log_sum);
  r.add("ReduceLogSumExp", lower_reduce_log_sum_exp);
  r.add("ArgMax", [](NodeContext& c) { lower_arg(c, true); });
  r.add("ArgMin", [](NodeContext& c) { lower_arg(c, false); });
  r.add("TopK", lower_top_k);
  r.add("CumSum", lower_cum_sum);
  r.add("CumProd", lower_cum_prod);
}

}  // namespace irforge::ov
