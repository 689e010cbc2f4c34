// ONNX resampling ops: Resize, Upsample, GridSample, AffineGrid, Col2Im.
//
// Resize maps to Interpolate-11 when its semantics match ONNX exactly. The rest (antialias,
// exclude_outside, tf_crop_and_resize, keep_aspect_ratio_policy, and align_corners /
// half_pixel_symmetric with a fractional output width) is decomposed separably: along each axis,
// nearest gathers rounded source indices; linear/cubic multiply by an [out, in] weight matrix
// built at run time from the ONNX coordinate transform and kernel, so scales and sizes can be
// run-time inputs too.
#include <cmath>

#include "io/openvino/lowering.h"
#include "io/openvino/ops/tensor_util.h"

namespace irforge::ov {

namespace {

using namespace tensor_util;

bool is_empty_const(NodeContext& c, size_t i) {
  const Tensor* t = c.const_input(i);
  return t && t->element_count() == 0;
}

PortRef f32s(NodeContext& c, double v) { return c.scalar(ElemType::kF32, v); }

PortRef range_f32(NodeContext& c, PortRef start, PortRef stop) {
  return c.op("Range", "opset4", {c.convert(start, ElemType::kF32), c.convert(stop, ElemType::kF32), f32s(c, 1.0)}, {{"output_type", "f32"}}, ElemType::kF32);
}

PortRef at(NodeContext& c, PortRef v, int64_t i) {
  return c.op("Gather", "opset8", {v, c.scalar_i64(i), c.scalar_i64(0)}, {{"batch_dims", "0"}});
}

struct ResizeAttrs {
  std::string mode, ctm, nearest_mode, keep_aspect;
  double cubic_a = -0.75, extrapolation = 0.0;
  bool exclude_outside = false, antialias = false;
};

// Source coordinate of each output index y (f32 [O]) along one axis, as ONNX defines it.
// `mask` gets the extrapolated positions of tf_crop_and_resize.
PortRef source_coords(NodeContext& c, const ResizeAttrs& a, PortRef y, PortRef in_f, PortRef out_f, PortRef scale,
                      std::optional<std::pair<PortRef, PortRef>> roi, std::optional<PortRef>* mask) {
  auto add = [&](PortRef p, PortRef q) { return binop(c, "Add", p, q); };
  auto sub = [&](PortRef p, PortRef q) { return binop(c, "Subtract", p, q); };
  auto mul = [&](PortRef p, PortRef q) { return binop(c, "Multiply", p, q); };
  auto div = [&](PortRef p, PortRef q) { return binop(c, "Divide", p, q); };
  auto select = [&](PortRef cond, PortRef p, PortRef q) { return c.op("Select", "opset1", {cond, p, q}, kNumpy, ElemType::kF32); };
  // ONNX compares the real-valued output width (scale * in), not the integer size, with 1.
  PortRef width = mul(scale, in_f);
  PortRef width_is_1 = binop(c, "Equal", width, f32s(c, 1.0), ElemType::kBoolean);
  PortRef half_pixel = sub(div(add(y, f32s(c, 0.5)), scale), f32s(c, 0.5));
  const std::string& m = a.ctm;
  if (m == "half_pixel") return half_pixel;
  if (m == "asymmetric") return div(y, scale);
  if (m == "tf_half_pixel_for_nn") return div(add(y, f32s(c, 0.5)), scale);
  if (m == "pytorch_half_pixel") return select(width_is_1, f32s(c, -0.5), half_pixel);
  if (m == "half_pixel_symmetric") {
    // offset = in/2 * (1 - out / width) centers the output on the input.
    PortRef offset = mul(div(in_f, f32s(c, 2.0)), sub(f32s(c, 1.0), div(out_f, width)));
    return add(offset, half_pixel);
  }
  PortRef in_m1 = sub(in_f, f32s(c, 1.0));
  if (m == "align_corners") return select(width_is_1, f32s(c, 0.0), div(mul(y, in_m1), sub(width, f32s(c, 1.0))));
  if (m == "tf_crop_and_resize") {
    auto [start, end] = *roi;
    PortRef span = mul(sub(end, start), in_m1);
    PortRef x = select(width_is_1, div(span, f32s(c, 2.0)), div(mul(y, span), sub(width, f32s(c, 1.0))));
    x = add(x, mul(start, in_m1));
    *mask = c.op("LogicalOr", "opset1",
                 {binop(c, "Less", x, f32s(c, 0.0), ElemType::kBoolean), binop(c, "Greater", x, in_m1, ElemType::kBoolean)}, kNumpy,
                 ElemType::kBoolean);
    return x;
  }
  c.unsupported("unknown coordinate_transformation_mode '" + m + "'");
}

// Reshapes a per-output-index vector [O] so it broadcasts along `axis` of a rank-`rank` tensor.
PortRef along_axis(NodeContext& c, PortRef v, int64_t axis, int64_t rank) {
  Ints shape(rank - axis, 1);
  shape[0] = -1;
  return c.op("Reshape", "opset1", {v, c.const_i64(shape)}, {{"special_zero", "false"}});
}

// Nearest resampling along one axis: gather the rounded source index.
PortRef nearest_axis(NodeContext& c, const ResizeAttrs& a, PortRef xs, PortRef in_i) {
  PortRef idx;
  const std::string& m = a.nearest_mode;
  if (m == "round_prefer_floor") idx = c.op("Ceiling", "opset1", {binop(c, "Subtract", xs, f32s(c, 0.5))});
  else if (m == "round_prefer_ceil") idx = c.op("Floor", "opset1", {binop(c, "Add", xs, f32s(c, 0.5))});
  else if (m == "floor") idx = c.op("Floor", "opset1", {xs});
  else if (m == "ceil") idx = c.op("Ceiling", "opset1", {xs});
  else c.unsupported("unknown nearest_mode '" + m + "'");
  idx = binop(c, "Maximum", c.convert(idx, ElemType::kI64), c.scalar_i64(0));
  idx = binop(c, "Minimum", idx, binop(c, "Subtract", in_i, c.scalar_i64(1)));
  return idx;
}

// Linear/cubic weights [O, I]: the kernel at (p - x) for every source position p of a window
// wide enough for the kernel, edge positions folded onto the border pixels (ONNX pads with the
// edge value), renormalized for antialias and exclude_outside.
PortRef weight_matrix(NodeContext& c, const ResizeAttrs& a, PortRef xs, PortRef in_f, PortRef in_i, PortRef scale,
                      const std::optional<PortRef>& mask) {
  auto f = [&](double v) { return f32s(c, v); };
  auto add = [&](PortRef p, PortRef q) { return binop(c, "Add", p, q); };
  auto sub = [&](PortRef p, PortRef q) { return binop(c, "Subtract", p, q); };
  auto mul = [&](PortRef p, PortRef q) { return binop(c, "Multiply", p, q); };
  bool cubic = a.mode == "cubic";
  double radius = cubic ? 2.0 : 1.0;
  // Antialias stretches the kernel by 1/scale when downsampling.
  std::optional<PortRef> aa;
  PortRef pad = f(radius + 1);
  if (a.antialias) {
    aa = binop(c, "Minimum", scale, f(1.0));
    pad = add(c.op("Ceiling", "opset1", {binop(c, "Divide", f(radius), *aa)}), f(1.0));
  }
  PortRef p = range_f32(c, c.op("Negative", "opset1", {pad}), add(in_f, pad));  // [P]
  PortRef d = sub(c.op("Unsqueeze", "opset1", {p, c.const_i64({0})}), c.op("Unsqueeze", "opset1", {xs, c.const_i64({1})}));  // [O, P]
  if (aa) d = mul(d, *aa);
  PortRef ad = c.op("Abs", "opset1", {d});
  PortRef w;
  if (cubic) {
    double A = a.cubic_a;
    PortRef ad2 = mul(ad, ad);
    PortRef near = add(mul(sub(mul(f(A + 2), ad), f(A + 3)), ad2), f(1.0));
    PortRef far = sub(mul(add(mul(sub(mul(f(A), ad), f(5 * A)), ad), f(8 * A)), ad), f(4 * A));
    auto select = [&](PortRef cond, PortRef t, PortRef e) { return c.op("Select", "opset1", {cond, t, e}, kNumpy, ElemType::kF32); };
    w = select(binop(c, "LessEqual", ad, f(1.0), ElemType::kBoolean), near,
               select(binop(c, "Less", ad, f(2.0), ElemType::kBoolean), far, f(0.0)));
  } else {
    w = binop(c, "Maximum", sub(f(1.0), ad), f(0.0));
  }
  if (a.exclude_outside) {
    PortRef inside = c.op("LogicalAnd", "opset1",
                          {binop(c, "GreaterEqual", p, f(0.0), ElemType::kBoolean), binop(c, "Less", p, in_f, ElemType::kBoolean)}, kNumpy,
                          ElemType::kBoolean);
    w = mul(w, c.convert(inside, ElemType::kF32));
  }
  if (a.antialias || a.exclude_outside) {
    PortRef sum = c.op("ReduceSum", "opset1", {w, c.const_i64({1})}, {{"keep_dims", "true"}});
    sum = c.op("Select", "opset1", {binop(c, "Equal", sum, f(0.0), ElemType::kBoolean), f(1.0), sum}, kNumpy, ElemType::kF32);
    w = binop(c, "Divide", w, sum);
  }
  if (mask) {
    PortRef keep = c.convert(c.op("LogicalNot", "opset1", {*mask}, {}, ElemType::kBoolean), ElemType::kF32);
    w = mul(w, c.op("Unsqueeze", "opset1", {keep, c.const_i64({1})}));
  }
  // Fold [O, P] onto [O, I]: source position p contributes to pixel clamp(p, 0, I-1).
  PortRef pc = binop(c, "Maximum", c.convert(p, ElemType::kI64), c.scalar_i64(0));
  pc = binop(c, "Minimum", pc, sub(in_i, c.scalar_i64(1)));
  PortRef pixels = c.op("Range", "opset4", {c.scalar_i64(0), in_i, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
  PortRef fold = binop(c, "Equal", c.op("Unsqueeze", "opset1", {pc, c.const_i64({1})}), pixels, ElemType::kBoolean);
  return c.op("MatMul", "opset1", {w, c.convert(fold, ElemType::kF32)}, {{"transpose_a", "false"}, {"transpose_b", "false"}});
}

// Applies weights W [O, I] along `axis`: out[..., o, ...] = sum_i W[o, i] x[..., i, ...].
PortRef apply_along(NodeContext& c, PortRef x, PortRef w, int64_t axis, int64_t rank) {
  w = c.convert_like(w, x);
  Ints perm;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis) perm.push_back(i);
  perm.push_back(axis);
  bool moved = axis != rank - 1;
  PortRef xt = moved ? c.op("Transpose", "opset1", {x, c.const_i64(perm)}) : x;
  PortRef y = c.op("MatMul", "opset1", {xt, w}, {{"transpose_a", "false"}, {"transpose_b", "true"}});
  if (!moved) return y;
  Ints inverse(rank);
  for (int64_t i = 0; i < rank; ++i) inverse[perm[i]] = i;
  return c.op("Transpose", "opset1", {y, c.const_i64(inverse)});
}

void resize_decomposed(NodeContext& c, const ResizeAttrs& a, PortRef x, int64_t rank, const Ints& axes, std::optional<PortRef> scales,
                       std::optional<PortRef> sizes, std::optional<PortRef> roi) {
  if (a.mode != "nearest" && !is_float(c.type(x))) c.unsupported("this Resize variant needs a floating-point input for " + a.mode + " mode");
  auto k = static_cast<int64_t>(axes.size());
  PortRef axes_c = c.const_i64(axes);
  PortRef in_i = c.op("Gather", "opset8", {shape_of(c, x), axes_c, c.scalar_i64(0)}, {{"batch_dims", "0"}});
  PortRef in_f = c.convert(in_i, ElemType::kF32);
  PortRef scale, out_i;
  if (sizes) {
    out_i = i64(c, *sizes);
    scale = binop(c, "Divide", c.convert(out_i, ElemType::kF32), in_f);
    if (a.keep_aspect != "stretch") {
      // One scale for all axes (the smallest or largest); sizes rounded half up from it.
      if (a.keep_aspect != "not_larger" && a.keep_aspect != "not_smaller") c.unsupported("unknown keep_aspect_ratio_policy '" + a.keep_aspect + "'");
      PortRef s = c.op(a.keep_aspect == "not_larger" ? "ReduceMin" : "ReduceMax", "opset1", {scale, c.const_i64({0})}, {{"keep_dims", "true"}});
      scale = c.op("Broadcast", "opset3", {s, c.const_i64({k})}, {{"mode", "numpy"}});
      out_i = c.convert(c.op("Floor", "opset1", {binop(c, "Add", binop(c, "Multiply", scale, in_f), f32s(c, 0.5))}), ElemType::kI64);
    }
  } else {
    scale = c.convert(*scales, ElemType::kF32);
    out_i = c.convert(c.op("Floor", "opset1", {binop(c, "Multiply", scale, in_f)}), ElemType::kI64);
  }
  std::optional<PortRef> starts, ends;
  if (a.ctm == "tf_crop_and_resize") {
    if (!roi) c.unsupported("tf_crop_and_resize needs roi");
    PortRef r = c.convert(*roi, ElemType::kF32);
    starts = slice1d(c, r, 0, k);
    ends = slice1d(c, r, k, 2 * k);
  }
  for (int64_t j = 0; j < k; ++j) {
    int64_t axis = axes[j];
    PortRef ii = at(c, in_i, j), fi = at(c, in_f, j), s = at(c, scale, j), o = at(c, out_i, j);
    PortRef y = range_f32(c, f32s(c, 0.0), o);
    std::optional<std::pair<PortRef, PortRef>> axis_roi;
    if (starts) axis_roi = std::make_pair(at(c, *starts, j), at(c, *ends, j));
    std::optional<PortRef> mask;
    PortRef xs = source_coords(c, a, y, fi, c.convert(o, ElemType::kF32), s, axis_roi, &mask);
    if (a.mode == "nearest") {
      x = c.op("Gather", "opset8", {x, nearest_axis(c, a, xs, ii), c.scalar_i64(axis)}, {{"batch_dims", "0"}});
      if (mask) x = c.op("Select", "opset1", {along_axis(c, *mask, axis, rank), c.scalar(c.type(x), a.extrapolation), x}, kNumpy, c.type(x));
      continue;
    }
    x = apply_along(c, x, weight_matrix(c, a, xs, fi, ii, s, mask), axis, rank);
    if (mask && a.extrapolation != 0.0) {
      PortRef fill = binop(c, "Multiply", c.convert(*mask, ElemType::kF32), f32s(c, a.extrapolation));
      x = binop(c, "Add", x, c.convert_like(along_axis(c, fill, axis, rank), x));
    }
  }
  c.set_output(0, x);
}

// Whether floor(scale * dim) == scale * dim on every resized axis (known only for static shapes
// and constant scales).
bool integral_widths(NodeContext& c, PortRef x, size_t scales_input, const Ints& axes) {
  auto shape = static_shape(c, x);
  auto s = c.const_floats(scales_input);
  if (!shape || !s || s->size() != axes.size()) return false;
  for (size_t j = 0; j < axes.size(); ++j) {
    double w = static_cast<float>((*s)[j]) * static_cast<double>((*shape)[axes[j]]);
    if (w != std::floor(w)) return false;
  }
  return true;
}

void lower_resize(NodeContext& c) {
  PortRef x = c.input(0);
  ResizeAttrs a;
  a.mode = c.attr_string("mode", "nearest");
  a.cubic_a = c.attr_float("cubic_coeff_a", -0.75f);
  a.exclude_outside = c.attr_int("exclude_outside", 0) != 0;
  a.extrapolation = c.attr_float("extrapolation_value", 0.f);
  a.antialias = c.attr_int("antialias", 0) != 0;
  a.keep_aspect = c.attr_string("keep_aspect_ratio_policy", "stretch");
  std::optional<PortRef> scales, sizes, roi;
  size_t scales_input = 2;
  if (c.opset() < 11) {
    // Resize-10 has only scales; its coordinates are Upsample's (asymmetric, nearest by truncation
    // when upsampling), which is OpenVINO's "simple" nearest mode.
    scales_input = 1;
    scales = c.input_keep_precision(1);
    a.ctm = "asymmetric";
    a.nearest_mode = "simple";
  } else {
    // roi and scales may be given as empty tensors to mean absent.
    if (c.has_input(1) && !is_empty_const(c, 1)) roi = c.input_keep_precision(1);
    if (c.has_input(2) && !is_empty_const(c, 2)) scales = c.input_keep_precision(2);
    if (c.has_input(3) && !is_empty_const(c, 3)) sizes = c.input_keep_precision(3);
    a.ctm = c.attr_string("coordinate_transformation_mode", "half_pixel");
    a.nearest_mode = c.attr_string("nearest_mode", "round_prefer_floor");
  }
  if (!scales && !sizes) c.unsupported("Resize needs scales or sizes");
  if (a.mode != "nearest" && a.mode != "linear" && a.mode != "cubic") c.unsupported("unknown mode '" + a.mode + "'");
  auto rank = rank_of_port(c, x);
  if (!rank) rank = c.input_rank(0);
  Ints axes = c.attr_ints("axes");
  for (int64_t& ax : axes) {
    if (ax < 0 && !rank) c.unsupported("negative axes need the input rank");
    // The rank may be known only here (a Loop/If body), after the reader's validator ran:
    // the decomposition indexes permutations and shapes by these axes.
    if (rank && (ax < -*rank || ax >= *rank))
      c.invalid("axis " + std::to_string(ax) + " in `axes` is outside the input's rank " + std::to_string(*rank));
    if (rank) ax = norm_axis(ax, *rank);
  }
  bool has_axes = !axes.empty();
  if (!has_axes && rank)
    for (int64_t i = 0; i < *rank; ++i) axes.push_back(i);

  bool exact = a.ctm != "tf_crop_and_resize" && !a.antialias && !(a.mode == "cubic" && a.exclude_outside) && a.keep_aspect == "stretch";
  // With scales, ONNX's align_corners and half_pixel_symmetric use the real-valued output width
  // scale * in; Interpolate uses the integer size, the same only when the width is integral.
  if (exact && !sizes && (a.ctm == "align_corners" || a.ctm == "half_pixel_symmetric")) exact = integral_widths(c, x, scales_input, axes);
  if (!exact) {
    if (!rank) c.unsupported("this Resize variant is decomposed and needs the input rank");
    resize_decomposed(c, a, x, *rank, axes, scales, sizes, roi);
    return;
  }
  // With integer output widths half_pixel_symmetric is half_pixel.
  std::string ctm = a.ctm == "half_pixel_symmetric" ? "half_pixel" : a.ctm;
  std::string mode = a.mode == "linear" ? "linear_onnx" : a.mode;
  std::vector<PortRef> inputs = {x, sizes ? i64(c, *sizes) : c.convert(*scales, ElemType::kF32)};
  if (has_axes) inputs.push_back(c.const_i64(axes));
  c.set_output(0, c.op("Interpolate", "opset11", inputs,
                       {{"mode", mode},
                        {"shape_calculation_mode", sizes ? "sizes" : "scales"},
                        {"coordinate_transformation_mode", ctm},
                        {"nearest_mode", a.nearest_mode},
                        {"antialias", "false"},
                        {"pads_begin", "0"},
                        {"pads_end", "0"},
                        {"cube_coeff", fmt_float(a.cubic_a)}}));
}

void lower_upsample(NodeContext& c) {
  // Upsample-7 carries the scales as an attribute, Upsample-9 as an input. Its coordinates are
  // asymmetric and nearest truncates: OpenVINO's "simple" nearest mode.
  PortRef scales = c.opset() < 9 ? c.const_f32(c.attr_floats("scales")) : c.convert(c.input_keep_precision(1), ElemType::kF32);
  std::string mode = c.attr_string("mode", "nearest");
  if (mode == "bilinear" || mode == "linear") mode = "linear_onnx";
  else if (mode != "nearest") c.unsupported("unknown mode '" + mode + "'");
  c.set_output(0, c.op("Interpolate", "opset11", {c.input(0), scales},
                       {{"mode", mode},
                        {"shape_calculation_mode", "scales"},
                        {"coordinate_transformation_mode", "asymmetric"},
                        {"nearest_mode", "simple"},
                        {"antialias", "false"},
                        {"pads_begin", "0"},
                        {"pads_end", "0"},
                        {"cube_coeff", "-0.75"}}));
}

constexpr int64_t kMaxGridSampleSpatialDims = 5;

// GridSample over any number of spatial dims (OpenVINO's op covers 2): per output point, the
// 2^s linear corners (or the rounded nearest point) are gathered from the flattened input, with
// zeros / border / reflection handling of outside points as ONNX defines it.
void grid_sample_nd(NodeContext& c, PortRef x, PortRef grid, int64_t spatial, const std::string& mode, const std::string& padding, bool align) {
  if (mode != "bilinear" && mode != "nearest") c.unsupported("GridSample with " + std::to_string(spatial) + " spatial dims supports linear and nearest modes");
  if (padding != "zeros" && padding != "border" && padding != "reflection") c.unsupported("unknown padding_mode '" + padding + "'");
  auto f = [&](double v) { return f32s(c, v); };
  auto mul = [&](PortRef a, PortRef b) { return binop(c, "Multiply", a, b); };
  auto add = [&](PortRef a, PortRef b) { return binop(c, "Add", a, b); };
  auto sub = [&](PortRef a, PortRef b) { return binop(c, "Subtract", a, b); };
  PortRef xshape = shape_of(c, x);
  PortRef g = c.convert(c.op("Reshape", "opset1", {grid, c.const_i64({0, -1, spatial})}, {{"special_zero", "true"}}), ElemType::kF32);  // [N, Q, s]
  std::vector<PortRef> coord(spatial), len_f(spatial), len_i(spatial);
  for (int64_t i = 0; i < spatial; ++i) {
    len_i[i] = at(c, xshape, 2 + i);
    len_f[i] = c.convert(len_i[i], ElemType::kF32);
    // The last grid component indexes the first spatial dim.
    PortRef n = c.op("Gather", "opset8", {g, c.scalar_i64(spatial - 1 - i), c.scalar_i64(2)}, {{"batch_dims", "0"}});
    PortRef v = align ? mul(mul(add(n, f(1.0)), f(0.5)), sub(len_f[i], f(1.0))) : mul(sub(mul(add(n, f(1.0)), len_f[i]), f(1.0)), f(0.5));
    if (mode == "nearest") v = c.op("Round", "opset5", {v}, {{"mode", "half_to_even"}});
    coord[i] = v;
  }
  // Borders: [-0.5, L - 0.5], or [0, L - 1] with align_corners.
  auto lo = [&](int64_t) { return align ? 0.0 : -0.5; };
  auto hi = [&](int64_t i) { return align ? sub(len_f[i], f(1.0)) : sub(len_f[i], f(0.5)); };
  auto clamp_to = [&](PortRef v, int64_t i) { return binop(c, "Minimum", binop(c, "Maximum", v, f(0.0)), sub(len_f[i], f(1.0))); };
  // Reflection by the nearer border, repeatedly, until inside [lo, hi].
  auto reflect_rt = [&](PortRef v, int64_t i) {
    PortRef h = hi(i);
    PortRef range = sub(h, f(lo(i)));
    PortRef below = binop(c, "Less", v, f(lo(i)), ElemType::kBoolean);
    PortRef above = binop(c, "Greater", v, h, ElemType::kBoolean);
    auto select = [&](PortRef cond, PortRef a, PortRef b) { return c.op("Select", "opset1", {cond, a, b}, kNumpy, ElemType::kF32); };
    PortRef dx = select(below, sub(f(lo(i)), v), sub(v, h));
    PortRef n = c.op("Floor", "opset1", {binop(c, "Divide", dx, range)});
    PortRef r = sub(dx, mul(n, range));
    PortRef odd = binop(c, "Equal", binop(c, "FloorMod", n, f(2.0)), f(1.0), ElemType::kBoolean);
    PortRef from_lo = add(f(lo(i)), r), from_hi = sub(h, r);
    return select(below, select(odd, from_hi, from_lo), select(above, select(odd, from_lo, from_hi), v));
  };
  for (int64_t i = 0; i < spatial; ++i) {
    if (padding == "border") coord[i] = clamp_to(coord[i], i);
    else if (padding == "reflection") coord[i] = reflect_rt(coord[i], i);
  }
  // Taps per dim: (index as f32, weight; none for nearest).
  std::vector<std::vector<std::pair<PortRef, std::optional<PortRef>>>> taps(spatial);
  for (int64_t i = 0; i < spatial; ++i) {
    if (mode == "nearest") {
      taps[i].push_back({coord[i], std::nullopt});
      continue;
    }
    PortRef x0 = c.op("Floor", "opset1", {coord[i]});
    PortRef w1 = sub(coord[i], x0);
    taps[i].push_back({x0, sub(f(1.0), w1)});
    taps[i].push_back({add(x0, f(1.0)), w1});
  }
  // Flattened input [N, P, C] and the strides of the spatial dims.
  PortRef flat = c.op("Reshape", "opset1", {x, c.const_i64({0, 0, -1})}, {{"special_zero", "true"}});
  flat = c.op("Transpose", "opset1", {flat, c.const_i64({0, 2, 1})});
  std::vector<PortRef> stride(spatial);
  stride[spatial - 1] = c.scalar_i64(1);
  for (int64_t i = spatial - 2; i >= 0; --i) stride[i] = binop(c, "Multiply", stride[i + 1], len_i[i + 1]);
  std::optional<PortRef> sum;
  int64_t corners = 1;
  for (int64_t i = 0; i < spatial; ++i) corners *= static_cast<int64_t>(taps[i].size());
  for (int64_t k = 0; k < corners; ++k) {
    std::optional<PortRef> index, weight, valid;
    for (int64_t i = 0, rest = k; i < spatial; ++i) {
      auto [pos, w] = taps[i][rest % taps[i].size()];
      rest /= static_cast<int64_t>(taps[i].size());
      if (padding == "zeros") {
        PortRef inside = c.op("LogicalAnd", "opset1",
                              {binop(c, "GreaterEqual", pos, f(0.0), ElemType::kBoolean), binop(c, "Less", pos, len_f[i], ElemType::kBoolean)}, kNumpy,
                              ElemType::kBoolean);
        valid = valid ? c.op("LogicalAnd", "opset1", {*valid, inside}, kNumpy, ElemType::kBoolean) : inside;
      } else if (padding == "border") {
        pos = clamp_to(pos, i);
      } else {
        pos = clamp_to(reflect_rt(pos, i), i);
      }
      PortRef idx = binop(c, "Multiply", c.convert(clamp_to(pos, i), ElemType::kI64), stride[i]);
      index = index ? binop(c, "Add", *index, idx) : idx;
      if (w) weight = weight ? mul(*weight, *w) : *w;
    }
    if (valid) weight = weight ? mul(*weight, c.convert(*valid, ElemType::kF32)) : c.convert(*valid, ElemType::kF32);
    PortRef term = c.op("Gather", "opset8", {flat, *index, c.scalar_i64(1)}, {{"batch_dims", "1"}});  // [N, Q, C]
    if (weight) term = mul(term, c.convert_like(c.op("Unsqueeze", "opset1", {*weight, c.const_i64({2})}), x));
    sum = sum ? add(*sum, term) : term;
  }
  PortRef y = c.op("Transpose", "opset1", {*sum, c.const_i64({0, 2, 1})});  // [N, C, Q]
  PortRef out_shape = concat(c, {slice1d(c, xshape, 0, 2), slice1d(c, shape_of(c, grid), 1, 1 + spatial)}, 0);
  c.set_output(0, c.op("Reshape", "opset1", {y, out_shape}, {{"special_zero", "false"}}));
}

void lower_grid_sample(NodeContext& c) {
  // GridSample-20 renamed the modes (linear, cubic) and allows any number of spatial dims;
  // OpenVINO's GridSample samples 2 of them.
  std::string mode = c.attr_string("mode", "bilinear");
  if (mode == "linear") mode = "bilinear";
  else if (mode == "cubic") mode = "bicubic";
  std::string padding = c.attr_string("padding_mode", "zeros");
  bool align = c.attr_int("align_corners", 0) != 0;
  PortRef x = c.input(0);
  auto rank = c.input_rank(0);
  if (!rank) c.unsupported("GridSample needs the input rank");
  // X is (N, C, D1, ..., Dr): grid_sample_nd indexes the spatial dims from r - 1 down to 0.
  if (*rank < 3) c.invalid("X must have rank 3 or more (N, C and at least one spatial dim), not " + std::to_string(*rank));
  // 2^r corners per output point, each a chain of layers.
  if (*rank > 2 + kMaxGridSampleSpatialDims)
    c.unsupported("GridSample over " + std::to_string(*rank - 2) + " spatial dims (at most " + std::to_string(kMaxGridSampleSpatialDims) + ")");
  if (auto g = c.input_rank(1); g && *g != *rank)
    c.invalid("grid must have the rank of X (" + std::to_string(*rank) + "), not " + std::to_string(*g));
  if (*rank != 4) {
    grid_sample_nd(c, x, c.input(1), *rank - 2, mode, padding, align);
    return;
  }
  c.set_output(0, c.op("GridSample", "opset9", {x, c.convert_like(c.input(1), x)},
                       {{"align_corners", align ? "true" : "false"}, {"mode", mode}, {"padding_mode", padding}}));
}

void lower_affine_grid(NodeContext& c) {
  // No OpenVINO op: grid[n, ..., :] = theta[n] @ [x, y, (z,) 1] over a base grid of normalized
  // pixel centers in [-1, 1] (x varies along the last spatial dim).
  PortRef theta = c.input(0);
  ElemType t = c.type(theta);
  PortRef size = i64(c, c.input(1));
  int64_t spatial;
  if (auto len = static_shape(c, c.input(1))) {
    if (len->size() != 1) c.invalid("`size` must be 1-D, not of rank " + std::to_string(len->size()));
    spatial = (*len)[0] - 2;
  }
  else if (auto cs = c.const_ints(1)) spatial = static_cast<int64_t>(cs->size()) - 2;
  else c.unsupported("AffineGrid needs the length of `size`");
  if (spatial != 2 && spatial != 3) c.unsupported("AffineGrid is 2-D or 3-D");
  bool align = c.attr_int("align_corners", 0) != 0;
  std::vector<PortRef> dims;  // spatial sizes, outermost first
  for (int64_t i = 0; i < spatial; ++i) dims.push_back(at(c, size, 2 + i));
  auto axis_coords = [&](PortRef n) {
    PortRef iota = range_f32(c, f32s(c, 0.0), n);
    PortRef nf = c.convert(n, ElemType::kF32);
    if (align) {
      // -1 + i * 2 / (n - 1); a single pixel sits at -1.
      PortRef step = binop(c, "Divide", f32s(c, 2.0), binop(c, "Maximum", binop(c, "Subtract", nf, f32s(c, 1.0)), f32s(c, 1.0)));
      return binop(c, "Add", binop(c, "Multiply", iota, step), f32s(c, -1.0));
    }
    // (2i + 1) / n - 1
    return binop(c, "Subtract", binop(c, "Divide", binop(c, "Add", binop(c, "Multiply", iota, f32s(c, 2.0)), f32s(c, 1.0)), nf), f32s(c, 1.0));
  };
  PortRef grid_shape = concat(c, [&] {
    std::vector<PortRef> v;
    for (PortRef d : dims) v.push_back(c.op("Unsqueeze", "opset1", {d, c.const_i64({0})}));
    v.push_back(c.const_i64({1}));
    return v;
  }(), 0);
  // Components in x, y, (z,) 1 order; component for spatial dim i is reshaped to vary along it.
  std::vector<PortRef> comps;
  for (int64_t i = spatial - 1; i >= 0; --i) {
    Ints shape(spatial + 1, 1);
    shape[i] = -1;
    PortRef v = c.op("Reshape", "opset1", {axis_coords(dims[i]), c.const_i64(shape)}, {{"special_zero", "false"}});
    comps.push_back(c.op("Broadcast", "opset3", {v, grid_shape}, {{"mode", "numpy"}}));
  }
  comps.push_back(c.op("Broadcast", "opset3", {f32s(c, 1.0), grid_shape}, {{"mode", "numpy"}}));
  PortRef base = c.op("Reshape", "opset1", {concat(c, comps, spatial), c.const_i64({-1, spatial + 1})}, {{"special_zero", "false"}});
  PortRef grid = c.op("MatMul", "opset1", {c.convert(base, t), theta}, {{"transpose_a", "false"}, {"transpose_b", "true"}});
  std::vector<PortRef> out_shape = {slice1d(c, size, 0, 1)};
  for (PortRef d : dims) out_shape.push_back(c.op("Unsqueeze", "opset1", {d, c.const_i64({0})}));
  out_shape.push_back(c.const_i64({spatial}));
  c.set_output(0, c.op("Reshape", "opset1", {grid, concat(c, out_shape, 0)}, {{"special_zero", "false"}}));
}

// Col2Im over n spatial dims other than 2, which OpenVINO's Col2Im lacks: every input column
// entry (block offset k, block position l) adds into padded-image position
// sum_i (l_i * stride_i + k_i * dilation_i) * (row-major step of dim i); the sums are a
// ScatterElementsUpdate with sum reduction into zeros, then the pads are sliced off. image_shape
// and block_shape may be run-time inputs; their length n must be known.
void col2im_nd(NodeContext& c, int64_t n, const Ints& strides, const Ints& dilations, const Ints& pads) {
  PortRef x = c.input(0);
  PortRef image = i64(c, c.input(1)), block = i64(c, c.input(2));
  auto at = [&](PortRef v, int64_t i) { return c.op("Gather", "opset8", {v, c.const_i64({i}), c.scalar_i64(0)}, {{"batch_dims", "0"}}); };
  auto range = [&](PortRef len) {
    return c.op("Range", "opset4", {c.scalar_i64(0), to_scalar(c, len), c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
  };
  std::vector<PortRef> padded(n), blocks(n), positions(n);
  for (int64_t i = 0; i < n; ++i) {
    padded[i] = binop(c, "Add", at(image, i), c.const_i64({pads[i] + pads[n + i]}));
    blocks[i] = at(block, i);
    // positions = (padded - (dilation * (block - 1) + 1)) / stride + 1
    PortRef extent = binop(c, "Add", binop(c, "Multiply", binop(c, "Subtract", blocks[i], c.const_i64({1})), c.const_i64({dilations[i]})), c.const_i64({1}));
    positions[i] = binop(c, "Add", binop(c, "Divide", binop(c, "Subtract", padded[i], extent), c.const_i64({strides[i]})), c.const_i64({1}));
  }
  // Mixed-radix digits of 0..K-1 over the block dims and of 0..L-1 over the position dims,
  // as a [K, 1] and a [1, L] column of padded-image offsets.
  auto offsets = [&](const std::vector<PortRef>& radix, const Ints& scale, bool column) {
    PortRef total = radix[0];
    for (int64_t i = 1; i < n; ++i) total = binop(c, "Multiply", total, radix[i]);
    PortRef rest = range(total), sum = c.scalar_i64(0);
    PortRef step = c.const_i64({1});
    for (int64_t i = n - 1; i >= 0; --i) {
      PortRef digit = binop(c, "FloorMod", rest, radix[i]);
      rest = binop(c, "Divide", rest, radix[i]);
      sum = binop(c, "Add", sum, binop(c, "Multiply", binop(c, "Multiply", digit, c.const_i64({scale[i]})), step));
      step = binop(c, "Multiply", step, padded[i]);
    }
    return c.op("Unsqueeze", "opset1", {sum, c.const_i64({column ? 1 : 0})});
  };
  PortRef index = binop(c, "Add", offsets(blocks, dilations, true), offsets(positions, strides, false));  // [K, L]
  // x [N, C*K, L] -> [N, C, K*L]; indices broadcast to it.
  PortRef xs = shape_of(c, x);
  // K as a product of the gathered dims: with ReduceProd over block_shape the CPU plugin
  // (2026.4) computed C*K / K as 0 in this graph.
  PortRef k_total = blocks[0];
  for (int64_t i = 1; i < n; ++i) k_total = binop(c, "Multiply", k_total, blocks[i]);
  PortRef nc = concat(c, {slice1d(c, xs, 0, 1), binop(c, "Divide", slice1d(c, xs, 1, 2), k_total)}, 0);
  PortRef updates = c.op("Reshape", "opset1", {x, concat(c, {nc, c.const_i64({-1})}, 0)}, {{"special_zero", "false"}});
  PortRef row = c.op("Reshape", "opset1", {index, c.const_i64({1, 1, -1})}, {{"special_zero", "false"}});
  PortRef idx = c.op("Broadcast", "opset3", {row, shape_of(c, updates)}, {{"mode", "numpy"}}, ElemType::kI64);
  PortRef p_total = padded[0];
  for (int64_t i = 1; i < n; ++i) p_total = binop(c, "Multiply", p_total, padded[i]);
  PortRef zeros = c.op("Broadcast", "opset3", {c.scalar(c.type(x), 0.0), concat(c, {nc, p_total}, 0)}, {{"mode", "numpy"}});
  PortRef sums = c.op("ScatterElementsUpdate", "opset12", {zeros, idx, updates, c.scalar_i64(2)},
                      {{"reduction", "sum"}, {"use_init_val", "true"}});
  std::vector<PortRef> full = {nc};
  for (PortRef d : padded) full.push_back(d);
  PortRef y = c.op("Reshape", "opset1", {sums, concat(c, full, 0)}, {{"special_zero", "false"}});
  Ints begin, axes;
  std::vector<PortRef> ends;
  for (int64_t i = 0; i < n; ++i) {
    begin.push_back(pads[i]);
    axes.push_back(i + 2);
    ends.push_back(binop(c, "Subtract", padded[i], c.const_i64({pads[n + i]})));
  }
  Ints ones(static_cast<size_t>(n), 1);
  c.set_output(0, c.op("Slice", "opset8", {y, c.const_i64(begin), concat(c, ends, 0), c.const_i64(ones), c.const_i64(axes)}));
}

void lower_col2im(NodeContext& c) {
  auto shape = c.const_ints(1);
  auto rank = shape ? std::optional<int64_t>(static_cast<int64_t>(shape->size())) : std::nullopt;
  if (!rank)
    if (auto s = static_shape(c, c.input(1))) {
      if (s->size() != 1) c.invalid("image_shape must be 1-D, not of rank " + std::to_string(s->size()));
      rank = (*s)[0];
    }
  if (!rank) c.unsupported("the number of image dimensions (length of image_shape) must be known");
  int64_t n = *rank;
  if (n < 1) c.invalid("image_shape is empty: Col2Im needs at least one image dimension");
  // The n-D decomposition builds a chain of layers per dim; real models have 1 to 3.
  if (n > 8) c.unsupported("Col2Im over " + std::to_string(n) + " image dimensions (at most 8)");
  Ints strides = c.attr_ints("strides"), dilations = c.attr_ints("dilations"), pads = c.attr_ints("pads");
  if (strides.empty()) strides.assign(static_cast<size_t>(n), 1);
  if (dilations.empty()) dilations.assign(static_cast<size_t>(n), 1);
  if (pads.empty()) pads.assign(static_cast<size_t>(2 * n), 0);
  if (static_cast<int64_t>(strides.size()) != n || static_cast<int64_t>(dilations.size()) != n || static_cast<int64_t>(pads.size()) != 2 * n)
    c.unsupported("strides, dilations and pads must match the " + std::to_string(n) + " image dimensions");
  // The decomposition divides by the strides; the runtime's Col2Im refuses the rest.
  for (int64_t i = 0; i < n; ++i)
    if (strides[i] < 1 || dilations[i] < 1) c.invalid("strides and dilations must be >= 1, not " + join_ints(strides) + " and " + join_ints(dilations));
  for (int64_t p : pads)
    if (p < 0 || p > (int64_t{1} << 40)) c.invalid("pads must be in [0, 2^40], not " + join_ints(pads));
  if (n != 2) return col2im_nd(c, n, strides, dilations, pads);
  c.set_output(0, c.op("Col2Im", "opset15", {c.input(0), i64(c, c.input(1)), i64(c, c.input(2))},
                       {{"strides", join_ints(strides)},
                        {"dilations", join_ints(dilations)},
                        {"pads_begin", join_ints({pads[0], pads[1]})},
                        {"pads_end", join_ints({pads[2], pads[3]})}}));
}

}  // namespace

void register_resize_ops(LowerRegistry& r) {
  r.add("Resize", lower_resize);
  r.add("Upsample", lower_upsample);
  r.add("GridSample", lower_grid_sample);
  r.add("AffineGrid", lower_affine_grid);
  r.add("Col2Im", lower_col2im);
}

}  // namespace irforge::ov
