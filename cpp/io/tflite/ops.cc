// TFLite builtin operators → ONNX-semantics IR nodes (the table translators()). Each translator
// reads its options through the schema slots (schema.h order, 4 + 2 * field index) and defines
// its outputs with set_out; quantization and constants are handled by OpContext (translate.h).
#include <algorithm>
#include <climits>
#include <cmath>

#include "io/tflite/translate.h"
#include "support/error.h"

namespace irforge::tflite {

namespace {

constexpr int64_t kNhwcToNchw[] = {0, 3, 1, 2};
constexpr int64_t kNchwToNhwc[] = {0, 2, 3, 1};
std::vector<int64_t> to_nchw() { return {std::begin(kNhwcToNchw), std::end(kNhwcToNchw)}; }
std::vector<int64_t> to_nhwc() { return {std::begin(kNchwToNhwc), std::end(kNchwToNhwc)}; }

int64_t rank_of(OpContext& c, size_t i) { return static_cast<int64_t>(c.in_tensor(i).shape.size()); }

// TF's SAME padding for one spatial dim: the extra pixel goes at the end (ONNX SAME_UPPER).
std::pair<int64_t, int64_t> same_pads(int64_t in, int64_t k, int64_t stride, int64_t dilation) {
  int64_t eff = (k - 1) * dilation + 1;
  int64_t out = (in + stride - 1) / stride;
  int64_t total = std::max<int64_t>((out - 1) * stride + eff - in, 0);
  return {total / 2, total - total / 2};
}

// Strides, dilations, pads (or auto_pad when H/W are dynamic) of an NHWC conv/pool with an
// [.., kh, kw] window over input `x_index`.
void window_attrs(OpContext& c, Attrs& a, size_t x_index, int8_t padding, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                  int64_t dh, int64_t dw, bool dilations = true) {
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || kh < 1 || kw < 1)
    c.invalid("window " + std::to_string(kh) + "x" + std::to_string(kw) + ", strides " + std::to_string(sh) + "x" + std::to_string(sw) +
              ", dilations " + std::to_string(dh) + "x" + std::to_string(dw) + ": all must be >= 1");
  a.ints("strides", {sh, sw});
  if (dilations) a.ints("dilations", {dh, dw});
  if (padding == kPadValid) {
    a.ints("pads", {0, 0, 0, 0});
    return;
  }
  if (padding != kPadSame) c.unsupported("padding kind " + std::to_string(padding));
  const TensorDef& x = c.in_tensor(x_index);
  if (x.shape.size() != 4) c.invalid("input '" + x.name + "' has rank " + std::to_string(x.shape.size()) + ", expected 4 (NHWC)");
  bool dynamic = !x.shape_signature.empty() && (x.shape_signature[1] < 0 || x.shape_signature[2] < 0);
  if (dynamic) {
    a.s("auto_pad", "SAME_UPPER");
    return;
  }
  auto [t, b] = same_pads(x.shape[1], kh, sh, dh);
  auto [l, r] = same_pads(x.shape[2], kw, sw, dw);
  a.ints("pads", {t, l, b, r});
}

void conv_2d(OpContext& c) {
  const TensorDef& w = c.in_tensor(1);
  if (w.shape.size() != 4) c.invalid("filter '" + w.name + "' is not 4-D [O, H, W, I]");
  int64_t cin = rank_of(c, 0) == 4 ? c.in_tensor(0).shape[3] : 0;
  Attrs a;
  window_attrs(c, a, 0, c.opt<int8_t>(4, 0), w.shape[1], w.shape[2], c.opt<int32_t>(8, 1), c.opt<int32_t>(6, 1), c.opt<int32_t>(14, 1), c.opt<int32_t>(12, 1));
  if (w.shape[3] <= 0 || cin % w.shape[3]) c.invalid("input channels " + std::to_string(cin) + " are not a multiple of the filter's " + std::to_string(w.shape[3]));
  a.i("group", cin / w.shape[3]).ints("kernel_shape", {w.shape[1], w.shape[2]});
  std::vector<Value*> ins{c.transpose(c.in(0), to_nchw()), c.weight(1, to_nchw())};
  if (c.has_input(2)) ins.push_back(c.weight(2, {}));
  Value* y = c.node("Conv", ins, std::move(a));
  c.set_out(0, c.transpose(c.activation(y, c.opt<int8_t>(10, 0)), to_nhwc()));
}

void depthwise_conv_2d(OpContext& c) {
  const TensorDef& w = c.in_tensor(1);
  if (w.shape.size() != 4 || w.shape[0] != 1) c.invalid("filter '" + w.name + "' is not 4-D [1, H, W, C*M]");
  if (rank_of(c, 0) != 4) c.invalid("input is not 4-D NHWC");
  int64_t cin = c.in_tensor(0).shape[3];
  if (cin <= 0 || w.shape[3] % cin) c.invalid("filter channels " + std::to_string(w.shape[3]) + " are not a multiple of the input's " + std::to_string(cin));
  Attrs a;
  window_attrs(c, a, 0, c.opt<int8_t>(4, 0), w.shape[1], w.shape[2], c.opt<int32_t>(8, 1), c.opt<int32_t>(6, 1), c.opt<int32_t>(16, 1), c.opt<int32_t>(14, 1));
  a.i("group", cin).ints("kernel_shape", {w.shape[1], w.shape[2]});
  std::vector<Value*> ins{c.transpose(c.in(0), to_nchw()), c.weight(1, {3, 0, 1, 2})};
  if (c.has_input(2)) ins.push_back(c.weight(2, {}));
  Value* y = c.node("Conv", ins, std::move(a));
  c.set_out(0, c.transpose(c.activation(y, c.opt<int8_t>(12, 0)), to_nhwc()));
}

void transpose_conv(OpContext& c) {
  // inputs: output_shape, weights [O, H, W, I], input, bias (optional)
  std::vector<int64_t> out_shape = c.const_ints(0);
  const TensorDef& w = c.in_tensor(1);
  const TensorDef& x = c.in_tensor(2);
  if (w.shape.size() != 4 || x.shape.size() != 4 || out_shape.size() != 4) c.invalid("expects 4-D NHWC input, filter and output shape");
  int64_t sh = c.opt<int32_t>(8, 1), sw = c.opt<int32_t>(6, 1);
  if (sh < 1 || sw < 1) c.invalid("strides must be >= 1");
  std::vector<int64_t> pads(4, 0), extra(2, 0);
  for (int d = 0; d < 2; ++d) {
    int64_t in = x.shape[1 + d], k = w.shape[1 + d], out = out_shape[1 + d], s = d ? sw : sh;
    int64_t total = (in - 1) * s + k - out;
    if (c.opt<int8_t>(4, 0) == kPadValid) total = std::min<int64_t>(total, 0);
    if (total >= 0) {
      pads[d] = total / 2;
      pads[2 + d] = total - total / 2;
    } else {
      extra[d] = -total;
    }
  }
  Attrs a;
  a.ints("strides", {sh, sw}).ints("pads", pads).ints("output_padding", extra).ints("kernel_shape", {w.shape[1], w.shape[2]});
  std::vector<Value*> ins{c.transpose(c.in(2), to_nchw()), c.weight(1, {3, 0, 1, 2})};
  if (c.has_input(3)) ins.push_back(c.weight(3, {}));
  Value* y = c.node("ConvTranspose", ins, std::move(a));
  c.set_out(0, c.transpose(c.activation(y, c.opt<int8_t>(10, 0)), to_nhwc()));
}

void pool_2d(OpContext& c, const char* onnx_op) {
  Attrs a;
  window_attrs(c, a, 0, c.opt<int8_t>(4, 0), c.opt<int32_t>(12, 0), c.opt<int32_t>(10, 0), c.opt<int32_t>(8, 1), c.opt<int32_t>(6, 1), 1, 1, false);
  a.ints("kernel_shape", {c.opt<int32_t>(12, 0), c.opt<int32_t>(10, 0)});
  if (std::string(onnx_op) == "AveragePool") a.i("count_include_pad", 0);  // TF averages real pixels only
  Value* y = c.node(onnx_op, {c.transpose(c.in(0), to_nchw())}, std::move(a));
  c.set_out(0, c.transpose(c.activation(y, c.opt<int8_t>(14, 0)), to_nhwc()));
}

void fully_connected(OpContext& c) {
  const TensorDef& w = c.in_tensor(1);
  if (w.shape.size() != 2) c.invalid("weights '" + w.name + "' are not 2-D [units, inputs]");
  if (c.opt<int8_t>(6, 0) != 0) c.unsupported("shuffled weights format");
  int64_t k = w.shape[1];
  // TFLite flattens the input to [-1, inputs]; keep_num_dims restores the leading dims.
  Value* x2 = c.node("Reshape", {c.in(0), c.i64s({-1, k})});
  std::vector<Value*> ins{x2, c.weight(1, {})};
  if (c.has_input(2)) ins.push_back(c.weight(2, {}));
  Value* y = c.node("Gemm", ins, std::move(Attrs().i("transB", 1)));
  y = c.activation(y, c.opt<int8_t>(4, 0));
  const TensorDef& out = c.out_tensor(0);
  if (c.opt<uint8_t>(8, 0) && out.shape.size() != 2) {
    std::vector<int64_t> shape = out.shape_signature.empty() ? out.shape : out.shape_signature;
    if (std::count(shape.begin(), shape.end(), -1) > 1) c.unsupported("keep_num_dims with more than one dynamic dim");
    y = c.node("Reshape", {y, c.i64s(shape)});
  }
  c.set_out(0, y);
}

void binary(OpContext& c, const char* onnx_op, uint16_t act_slot) {
  Value* y = c.node(onnx_op, {c.in(0), c.in(1)});
  c.set_out(0, act_slot ? c.activation(y, c.opt<int8_t>(act_slot, 0)) : y);
}

void unary(OpContext& c, const char* onnx_op) { c.set_out(0, c.node(onnx_op, {c.in(0)})); }

Value* cast_to(OpContext& c, Value* v, int8_t tfl_type) {
  DataType dt = ir_dtype(tfl_type);
  if (dt == DataType::kUndefined) c.unsupported("cast to TFLite type " + std::to_string(tfl_type));
  return c.node("Cast", {v}, std::move(Attrs().i("to", static_cast<int64_t>(dt))));
}

void reduce(OpContext& c, const char* onnx_op) {
  std::vector<int64_t> axes = c.const_ints(1);
  Attrs a;
  a.i("keepdims", c.opt<uint8_t>(4, 0) ? 1 : 0);
  c.set_out(0, c.node(onnx_op, {c.in(0), c.i64s(axes)}, std::move(a)));
}

void reshape(OpContext& c) {
  Value* shape = nullptr;
  if (c.has_input(1) && c.is_const(1)) {
    shape = c.i64s(c.const_ints(1));
  } else if (c.has_input(1)) {
    shape = c.node("Cast", {c.in(1)}, std::move(Attrs().i("to", static_cast<int64_t>(DataType::kInt64))));
  } else {
    flatbuf::Table o = c.options();
    if (!o.valid()) c.invalid("has neither a shape input nor new_shape");
    flatbuf::Vector v = o.vector(4, 4, "ReshapeOptions.new_shape");
    std::vector<int64_t> dims;
    for (uint32_t k = 0; k < v.size(); ++k) dims.push_back(v.at<int32_t>(k));
    shape = c.i64s(dims);
  }
  c.set_out(0, c.node("Reshape", {c.in(0), shape}));
}

void squeeze(OpContext& c) {
  std::vector<int64_t> axes;
  if (c.options().valid()) {
    flatbuf::Vector v = c.options().vector(4, 4, "SqueezeOptions.squeeze_dims");
    for (uint32_t k = 0; k < v.size(); ++k) axes.push_back(v.at<int32_t>(k));
  }
  if (axes.empty()) {  // all dims of size 1 (of the static shape)
    const TensorDef& x = c.in_tensor(0);
    for (size_t k = 0; k < x.shape.size(); ++k)
      if (x.shape[k] == 1) axes.push_back(static_cast<int64_t>(k));
  }
  c.set_out(0, c.node("Squeeze", {c.in(0), c.i64s(axes)}));
}

void concatenation(OpContext& c) {
  std::vector<Value*> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i) ins.push_back(c.in(i));
  Value* y = c.node("Concat", ins, std::move(Attrs().i("axis", c.opt<int32_t>(4, 0))));
  c.set_out(0, c.activation(y, c.opt<int8_t>(6, 0)));
}

void pack(OpContext& c) {
  int64_t axis = c.opt<int32_t>(6, 0);
  std::vector<Value*> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i) ins.push_back(c.node("Unsqueeze", {c.in(i), c.i64s({axis})}));
  c.set_out(0, c.node("Concat", ins, std::move(Attrs().i("axis", axis))));
}

void unpack(OpContext& c) {
  int64_t axis = c.opt<int32_t>(6, 0);
  size_t n = c.op.outputs.size();
  if (n == 0) c.invalid("has no outputs");
  auto parts = c.nodes("Split", {c.in(0)}, n, std::move(Attrs().i("axis", axis).i("num_outputs", static_cast<int64_t>(n))));
  for (size_t k = 0; k < n; ++k) c.set_out(k, c.node("Squeeze", {parts[k], c.i64s({axis})}));
}

void split(OpContext& c) {  // inputs: axis, input
  std::vector<int64_t> axis = c.const_ints(0);
  if (axis.size() != 1) c.invalid("axis must be one value");
  size_t n = c.op.outputs.size();
  if (n == 0) c.invalid("has no outputs");
  auto parts = c.nodes("Split", {c.in(1)}, n, std::move(Attrs().i("axis", axis[0]).i("num_outputs", static_cast<int64_t>(n))));
  for (size_t k = 0; k < n; ++k) c.set_out(k, parts[k]);
}

void split_v(OpContext& c) {  // inputs: input, size_splits, axis
  std::vector<int64_t> sizes = c.const_ints(1), axis = c.const_ints(2);
  if (axis.size() != 1) c.invalid("axis must be one value");
  size_t n = c.op.outputs.size();
  if (n == 0 || sizes.size() != n) c.invalid("size_splits has " + std::to_string(sizes.size()) + " entries for " + std::to_string(n) + " outputs");
  const TensorDef& x = c.in_tensor(0);
  int64_t ax = axis[0] < 0 ? axis[0] + static_cast<int64_t>(x.shape.size()) : axis[0];
  if (ax < 0 || ax >= static_cast<int64_t>(x.shape.size())) c.invalid("axis out of range");
  int64_t known = 0, unknown = -1;
  for (size_t k = 0; k < n; ++k) {
    if (sizes[k] == -1) {
      if (unknown >= 0) c.invalid("more than one -1 in size_splits");
      unknown = static_cast<int64_t>(k);
    } else if (sizes[k] < 0) {
      c.invalid("negative size in size_splits");
    } else {
      known += sizes[k];
    }
  }
  if (unknown >= 0) sizes[unknown] = x.shape[ax] - known;
  auto parts = c.nodes("Split", {c.in(0), c.i64s(sizes)}, n, std::move(Attrs().i("axis", ax)));
  for (size_t k = 0; k < n; ++k) c.set_out(k, parts[k]);
}

void strided_slice(OpContext& c) {
  // TF's sparse spec → one Slice over input dims: an ellipsis stands for the dims no other entry
  // names (and one is implied at the end), a new_axis entry consumes no input dim and becomes an
  // Unsqueeze of the result, a shrink_axis entry a Squeeze.
  std::vector<int64_t> begin = c.const_ints(1), end = c.const_ints(2);
  std::vector<int64_t> strides = c.has_input(3) ? c.const_ints(3) : std::vector<int64_t>(begin.size(), 1);
  int32_t bm = c.opt<int32_t>(4, 0), em = c.opt<int32_t>(6, 0), ellipsis = c.opt<int32_t>(8, 0), new_axis = c.opt<int32_t>(10, 0),
          shrink = c.opt<int32_t>(12, 0);
  bool offset = c.opt<uint8_t>(14, 0) != 0;
  if (end.size() != begin.size() || strides.size() != begin.size()) c.invalid("begin, end and strides differ in length");
  if (begin.size() > 31) c.unsupported("more than 31 sliced dims");
  if (ellipsis & (ellipsis - 1)) c.invalid("ellipsis_mask " + std::to_string(ellipsis) + " has more than one bit set");
  const int64_t rank = rank_of(c, 0);
  const size_t n = begin.size();
  auto bit = [](int32_t mask, size_t k) { return (mask >> k) & 1; };
  int64_t named = 0;  // input dims the entries other than the ellipsis and new axes consume
  for (size_t k = 0; k < n; ++k) named += !bit(ellipsis, k) && !bit(new_axis, k);
  if (named > rank) c.invalid("slices " + std::to_string(named) + " dims of a rank-" + std::to_string(rank) + " input");
  std::vector<int64_t> sb, se, ss, axes, shrunk, inserted;
  int64_t in_dim = 0, out_dim = 0;
  for (size_t k = 0; k < n; ++k) {
    if (bit(ellipsis, k)) {
      int64_t span = rank - named;
      in_dim += span;
      out_dim += span;
      continue;
    }
    if (bit(new_axis, k)) {
      inserted.push_back(out_dim++);
      continue;
    }
    int64_t s = strides[k], b = begin[k], e = end[k];
    if (s == 0) c.invalid("stride 0");
    if (offset) e += b;
    if (bit(shrink, k)) {
      e = b == -1 ? INT64_MAX : b + 1;
      s = 1;
      shrunk.push_back(in_dim);
    } else {
      if (bit(bm, k)) b = s > 0 ? 0 : INT64_MAX;
      if (bit(em, k)) e = s > 0 ? INT64_MAX : INT64_MIN;
      ++out_dim;
    }
    sb.push_back(b), se.push_back(e), ss.push_back(s), axes.push_back(in_dim++);
  }
  Value* y = c.in(0);
  if (!axes.empty()) y = c.node("Slice", {y, c.i64s(sb), c.i64s(se), c.i64s(axes), c.i64s(ss)});
  if (!shrunk.empty()) y = c.node("Squeeze", {y, c.i64s(shrunk)});
  if (!inserted.empty()) y = c.node("Unsqueeze", {y, c.i64s(inserted)});
  if (axes.empty() && shrunk.empty() && inserted.empty()) y = c.node("Identity", {y});
  c.set_out(0, y);
}

void slice(OpContext& c) {
  std::vector<int64_t> begin = c.const_ints(1), size = c.const_ints(2);
  if (size.size() != begin.size()) c.invalid("begin and size differ in length");
  std::vector<int64_t> end(begin.size()), axes(begin.size());
  for (size_t k = 0; k < begin.size(); ++k) {
    end[k] = size[k] == -1 ? INT64_MAX : begin[k] + size[k];
    axes[k] = static_cast<int64_t>(k);
  }
  c.set_out(0, c.node("Slice", {c.in(0), c.i64s(begin), c.i64s(end), c.i64s(axes)}));
}

void gather(OpContext& c) {
  if (c.opt<int32_t>(6, 0) != 0) c.unsupported("batch_dims != 0");
  c.set_out(0, c.node("Gather", {c.in(0), c.in(1)}, std::move(Attrs().i("axis", c.opt<int32_t>(4, 0)))));
}

Value* onnx_pads(OpContext& c, size_t i) {
  std::vector<int64_t> p = c.const_ints(i);
  if (p.size() % 2) c.invalid("paddings are not [rank, 2]");
  size_t r = p.size() / 2;
  std::vector<int64_t> out(p.size());
  for (size_t k = 0; k < r; ++k) {
    out[k] = p[2 * k];
    out[r + k] = p[2 * k + 1];
  }
  return c.i64s(out);
}

void pad(OpContext& c, bool v2) {
  std::vector<Value*> ins{c.in(0), onnx_pads(c, 1)};
  if (v2 && c.has_input(2)) ins.push_back(c.node("Reshape", {c.in(2), c.i64s({})}));
  c.set_out(0, c.node("Pad", ins, std::move(Attrs().s("mode", "constant"))));
}

void mirror_pad(OpContext& c) {
  if (c.opt<int8_t>(4, 0) == 0) {  // REFLECT: the edge element is not repeated
    c.set_out(0, c.node("Pad", {c.in(0), onnx_pads(c, 1)}, std::move(Attrs().s("mode", "reflect"))));
    return;
  }
  // SYMMETRIC repeats the edge; ONNX Pad has no such mode, so each padded axis becomes
  // Concat(reversed first `before` elements, x, reversed last `after` elements).
  std::vector<int64_t> p = c.const_ints(1);
  if (p.size() != 2 * static_cast<size_t>(rank_of(c, 0))) c.invalid("paddings are not [rank, 2]");
  Value* y = c.in(0);
  const TensorDef& x = c.in_tensor(0);
  for (size_t k = 0; k < p.size() / 2; ++k) {
    int64_t before = p[2 * k], after = p[2 * k + 1], ax = static_cast<int64_t>(k);
    if (before < 0 || after < 0) c.invalid("negative padding on axis " + std::to_string(k));
    if (x.shape[k] >= 0 && (before > x.shape[k] || after > x.shape[k]))
      c.invalid("SYMMETRIC padding of " + std::to_string(std::max(before, after)) + " on axis " + std::to_string(k) + " exceeds its size " +
                std::to_string(x.shape[k]));
    if (!before && !after) continue;
    std::vector<Value*> parts;
    // Slice with step -1: from `before - 1` down to the start; from the last down to `-after`.
    if (before) parts.push_back(c.node("Slice", {y, c.i64s({before - 1}), c.i64s({INT64_MIN}), c.i64s({ax}), c.i64s({-1})}));
    parts.push_back(y);
    if (after) parts.push_back(c.node("Slice", {y, c.i64s({-1}), c.i64s({-after - 1}), c.i64s({ax}), c.i64s({-1})}));
    y = c.node("Concat", parts, std::move(Attrs().i("axis", ax)));
  }
  if (y == c.in(0)) y = c.node("Identity", {y});
  c.set_out(0, y);
}

void resize(OpContext& c, bool bilinear) {
  bool align = c.opt<uint8_t>(bilinear ? 8 : 4, 0) != 0, half = c.opt<uint8_t>(bilinear ? 10 : 6, 0) != 0;
  if (rank_of(c, 0) != 4) c.invalid("input is not 4-D NHWC");
  Attrs a;
  a.s("mode", bilinear ? "linear" : "nearest");
  // Full NHWC sizes when N and C are static (onnxruntime mishandles `axes` with sizes), else axes.
  const TensorDef& x = c.in_tensor(0);
  bool static_nc = x.shape_signature.empty() || (x.shape_signature[0] >= 0 && x.shape_signature[3] >= 0);
  if (!static_nc) a.ints("axes", {1, 2});
  if (align) {
    a.s("coordinate_transformation_mode", "align_corners");
    if (!bilinear) a.s("nearest_mode", "round_prefer_ceil");
  } else if (half) {
    a.s("coordinate_transformation_mode", bilinear ? "half_pixel" : "tf_half_pixel_for_nn");
    if (!bilinear) a.s("nearest_mode", "floor");
  } else {
    a.s("coordinate_transformation_mode", "asymmetric");
    if (!bilinear) a.s("nearest_mode", "floor");
  }
  Value* sizes = c.is_const(1) ? c.i64s(c.const_ints(1))
                               : c.node("Cast", {c.in(1)}, std::move(Attrs().i("to", static_cast<int64_t>(DataType::kInt64))));
  if (static_nc) sizes = c.node("Concat", {c.i64s({x.shape[0]}), sizes, c.i64s({x.shape[3]})}, std::move(Attrs().i("axis", 0)));
  c.set_out(0, c.node("Resize", {c.in(0), nullptr, nullptr, sizes}, std::move(a)));
}

void softmax(OpContext& c) {
  float beta = c.opt<float>(4, 0.f);
  Value* x = c.in(0);
  if (beta != 1.f) x = c.node("Mul", {x, c.f32(beta)});
  c.set_out(0, c.node("Softmax", {x}, std::move(Attrs().i("axis", -1))));
}

void batch_matmul(OpContext& c) {
  Value* a = c.in(0);
  Value* b = c.in(1);
  auto swap_last = [&](size_t i, Value* v) {
    int64_t r = rank_of(c, i);
    if (r < 2) c.invalid("adjoint of an input of rank < 2");
    std::vector<int64_t> perm(r);
    for (int64_t k = 0; k < r; ++k) perm[k] = k;
    std::swap(perm[r - 1], perm[r - 2]);
    return c.transpose(v, perm);
  };
  if (c.opt<uint8_t>(4, 0)) a = swap_last(0, a);
  if (c.opt<uint8_t>(6, 0)) b = swap_last(1, b);
  c.set_out(0, c.node("MatMul", {a, b}));
}

void arg(OpContext& c, const char* onnx_op) {
  std::vector<int64_t> axis = c.const_ints(1);
  if (axis.size() != 1) c.invalid("axis must be one value");
  Value* y = c.node(onnx_op, {c.in(0)}, std::move(Attrs().i("axis", axis[0]).i("keepdims", 0)));
  if (c.out_tensor(0).type != kInt64) y = cast_to(c, y, c.out_tensor(0).type);
  c.set_out(0, y);
}

void topk(OpContext& c) {
  std::vector<int64_t> k = c.const_ints(1);
  if (k.size() != 1) c.invalid("k must be one value");
  auto outs = c.nodes("TopK", {c.in(0), c.i64s(k)}, 2, std::move(Attrs().i("axis", -1).i("largest", 1).i("sorted", 1)));
  c.set_out(0, outs[0]);
  c.set_out(1, c.out_tensor(1).type == kInt64 ? outs[1] : cast_to(c, outs[1], c.out_tensor(1).type));
}

void dequantize(OpContext& c) {
  // The input is already its real value (translate.h); a float16 weight is widened.
  const TensorDef& t = c.in_tensor(0);
  Value* x = c.is_const(0) && t.type == kFloat16 ? c.weight(0, {}) : c.in(0);
  if (t.type == kFloat16 && !c.is_const(0)) x = cast_to(c, x, kFloat32);
  c.set_out(0, x);
}

void quantize(OpContext& c) {
  // Real value in, real value out: set_out applies the output's quantization (Q → DQ).
  if (!is_quantized_int(c.out_tensor(0))) c.unsupported("QUANTIZE to a tensor without int8/uint8/int16 quantization");
  c.set_out(0, c.node("Identity", {c.in(0)}));
}

void lstm(OpContext& c) {
  // inputs: 0 x, 1-4 input weights (i, f, c, o), 5-8 recurrent weights, 9-11 peepholes,
  // 12-15 gate biases, 16-17 projection, 18 output state, 19 cell state, 20-23 layer norm.
  if (c.num_inputs() < 20) c.invalid("has " + std::to_string(c.num_inputs()) + " inputs, expected at least 20");
  // The integer kernel rounds inside the recurrence (lstm_integer.cc): one float LSTM node
  // between Q/DQ pairs would be tens of steps off.
  if (is_quantized_int(c.in_tensor(0))) return integer_lstm(c);
  if (!c.has_input(1)) c.unsupported("coupled input and forget gates (CIFG)");
  for (size_t i : {9, 10, 11, 16, 17, 20, 21, 22, 23})
    if (c.has_input(i)) c.unsupported("peephole, projection or layer-norm LSTM");
  if (c.opt<int8_t>(4, kActTanh) != kActTanh) c.unsupported("an LSTM activation other than tanh");
  float cell_clip = c.opt<float>(6, 0.f);
  bool time_major = c.opt<uint8_t>(10, 0) != 0;
  // ONNX gate order i, o, f, c.
  auto stack = [&](std::vector<size_t> idx) {
    std::vector<Value*> parts;
    for (size_t i : idx) parts.push_back(c.weight(i, {}));
    return c.node("Unsqueeze", {c.node("Concat", parts, std::move(Attrs().i("axis", 0))), c.i64s({0})});
  };
  Value* w = stack({1, 4, 2, 3});
  Value* r = stack({5, 8, 6, 7});
  Value* wb = c.node("Concat", {c.weight(12, {}), c.weight(15, {}), c.weight(13, {}), c.weight(14, {})}, std::move(Attrs().i("axis", 0)));
  Value* b = c.node("Unsqueeze", {c.node("Concat", {wb, c.node("Mul", {wb, c.f32(0.f)})}, std::move(Attrs().i("axis", 0))), c.i64s({0})});
  Value* x = c.in(0);
  if (!time_major) x = c.transpose(x, {1, 0, 2});
  Value* h0 = c.node("Unsqueeze", {c.in(18), c.i64s({0})});
  Value* c0 = c.node("Unsqueeze", {c.in(19), c.i64s({0})});
  const TensorDef& rw = c.in_tensor(5);
  if (rw.shape.size() != 2) c.invalid("recurrent weights are not 2-D");
  Attrs a;
  a.i("hidden_size", rw.shape[1]);
  if (cell_clip > 0) a.f("clip", cell_clip);
  auto outs = c.nodes("LSTM", {x, w, r, b, nullptr, h0, c0}, 3, std::move(a));
  Value* y = c.node("Squeeze", {outs[0], c.i64s({1})});  // [seq, batch, hidden]
  if (!time_major) y = c.transpose(y, {1, 0, 2});
  c.set_out(0, y);
}

void leaky_relu(OpContext& c) { c.set_out(0, c.node("LeakyRelu", {c.in(0)}, std::move(Attrs().f("alpha", c.opt<float>(4, 0.f))))); }

void gelu(OpContext& c) {
  c.set_out(0, c.node("Gelu", {c.in(0)}, std::move(Attrs().s("approximate", c.opt<uint8_t>(4, 0) ? "tanh" : "none"))));
}

void expand_dims(OpContext& c) {
  std::vector<int64_t> axis = c.const_ints(1);
  if (axis.size() != 1) c.invalid("axis must be one value");
  c.set_out(0, c.node("Unsqueeze", {c.in(0), c.i64s(axis)}));
}

void transpose(OpContext& c) { c.set_out(0, c.transpose(c.in(0), c.const_ints(1))); }

void cast(OpContext& c) { c.set_out(0, cast_to(c, c.in(0), c.out_tensor(0).type)); }

void squared_difference(OpContext& c) {
  Value* d = c.node("Sub", {c.in(0), c.in(1)});
  c.set_out(0, c.node("Mul", {d, d}));
}

void rsqrt(OpContext& c) { c.set_out(0, c.node("Reciprocal", {c.node("Sqrt", {c.in(0)})})); }

void square(OpContext& c) {
  Value* x = c.in(0);
  c.set_out(0, c.node("Mul", {x, x}));
}

void select(OpContext& c) { c.set_out(0, c.node("Where", {c.in(0), c.in(1), c.in(2)})); }

void shape(OpContext& c) {
  Value* s = c.node("Shape", {c.in(0)});
  c.set_out(0, c.out_tensor(0).type == kInt64 ? s : cast_to(c, s, c.out_tensor(0).type));
}

void fill(OpContext& c) {
  Value* dims = c.is_const(0) ? c.i64s(c.const_ints(0)) : cast_to(c, c.in(0), kInt64);
  c.set_out(0, c.node("Expand", {c.node("Reshape", {c.in(1), c.i64s({})}), dims}));
}

void tile(OpContext& c) {
  Value* reps = c.is_const(1) ? c.i64s(c.const_ints(1)) : cast_to(c, c.in(1), kInt64);
  c.set_out(0, c.node("Tile", {c.in(0), reps}));
}

void broadcast_to(OpContext& c) {
  Value* dims = c.is_const(1) ? c.i64s(c.const_ints(1)) : cast_to(c, c.in(1), kInt64);
  c.set_out(0, c.node("Expand", {c.in(0), dims}));
}

void relu6(OpContext& c) { c.set_out(0, c.node("Clip", {c.in(0), c.f32(0.f), c.f32(6.f)})); }
void relu_n1_to_1(OpContext& c) { c.set_out(0, c.node("Clip", {c.in(0), c.f32(-1.f), c.f32(1.f)})); }

void log_softmax(OpContext& c) { c.set_out(0, c.node("LogSoftmax", {c.in(0)}, std::move(Attrs().i("axis", -1)))); }

void floor_div(OpContext& c) {
  const TensorDef& t = c.in_tensor(0);
  if (t.type != kFloat32) c.unsupported("FLOOR_DIV of integers");
  c.set_out(0, c.node("Floor", {c.node("Div", {c.in(0), c.in(1)})}));
}

void floor_mod(OpContext& c) {
  // ONNX Mod with fmod=0 takes the divisor's sign (floor semantics) but is defined for integers only.
  if (c.in_tensor(0).type == kFloat32) c.unsupported("FLOOR_MOD of floats");
  c.set_out(0, c.node("Mod", {c.in(0), c.in(1)}, std::move(Attrs().i("fmod", 0))));
}

void depth_space(OpContext& c, const char* onnx_op) {
  int64_t bs = c.opt<int32_t>(4, 0);
  if (bs < 1) c.invalid("block_size must be >= 1");
  Attrs a;
  a.i("blocksize", bs);
  if (std::string(onnx_op) == "DepthToSpace") a.s("mode", "DCR");  // TF's channel order
  c.set_out(0, c.transpose(c.node(onnx_op, {c.transpose(c.in(0), to_nchw())}, std::move(a)), to_nhwc()));
}

void l2_norm(OpContext& c) {
  Value* x = c.in(0);
  Value* ss = c.node("ReduceSum", {c.node("Mul", {x, x}), c.i64s({-1})}, std::move(Attrs().i("keepdims", 1)));
  Value* inv = c.node("Reciprocal", {c.node("Sqrt", {c.node("Max", {ss, c.f32(1e-6f)})})});
  c.set_out(0, c.activation(c.node("Mul", {x, inv}), c.opt<int8_t>(4, 0)));
}

void cumsum(OpContext& c) {
  std::vector<int64_t> axis = c.const_ints(1);
  if (axis.size() != 1) c.invalid("axis must be one value");
  Value* ax = c.node("Reshape", {c.i64s(axis), c.i64s({})});
  c.set_out(0, c.node("CumSum", {c.in(0), ax}, std::move(Attrs().i("exclusive", c.opt<uint8_t>(4, 0)).i("reverse", c.opt<uint8_t>(6, 0)))));
}

}  // namespace

const std::map<int32_t, TranslateFn>& translators() {
  static const std::map<int32_t, TranslateFn> table = {
      {CONV_2D, conv_2d},
      {DEPTHWISE_CONV_2D, depthwise_conv_2d},
      {TRANSPOSE_CONV, transpose_conv},
      {AVERAGE_POOL_2D, [](OpContext& c) { pool_2d(c, "AveragePool"); }},
      {MAX_POOL_2D, [](OpContext& c) { pool_2d(c, "MaxPool"); }},
      {FULLY_CONNECTED, fully_connected},
      {ADD, [](OpContext& c) { binary(c, "Add", 4); }},
      {SUB, [](OpContext& c) { binary(c, "Sub", 4); }},
      {MUL, [](OpContext& c) { binary(c, "Mul", 4); }},
      {DIV, [](OpContext& c) { binary(c, "Div", 4); }},
      {MAXIMUM, [](OpContext& c) { binary(c, "Max", 0); }},
      {MINIMUM, [](OpContext& c) { binary(c, "Min", 0); }},
      {POW, [](OpContext& c) { binary(c, "Pow", 0); }},
      {LESS, [](OpContext& c) { binary(c, "Less", 0); }},
      {LESS_EQUAL, [](OpContext& c) { binary(c, "LessOrEqual", 0); }},
      {GREATER, [](OpContext& c) { binary(c, "Greater", 0); }},
      {GREATER_EQUAL, [](OpContext& c) { binary(c, "GreaterOrEqual", 0); }},
      {EQUAL, [](OpContext& c) { binary(c, "Equal", 0); }},
      {NOT_EQUAL, [](OpContext& c) { c.set_out(0, c.node("Not", {c.node("Equal", {c.in(0), c.in(1)})})); }},
      {LOGICAL_AND, [](OpContext& c) { binary(c, "And", 0); }},
      {LOGICAL_OR, [](OpContext& c) { binary(c, "Or", 0); }},
      {LOGICAL_NOT, [](OpContext& c) { unary(c, "Not"); }},
      {SQUARED_DIFFERENCE, squared_difference},
      {FLOOR_DIV, floor_div},
      {FLOOR_MOD, floor_mod},
      {MEAN, [](OpContext& c) { reduce(c, "ReduceMean"); }},
      {SUM, [](OpContext& c) { reduce(c, "ReduceSum"); }},
      {REDUCE_MAX, [](OpContext& c) { reduce(c, "ReduceMax"); }},
      {REDUCE_MIN, [](OpContext& c) { reduce(c, "ReduceMin"); }},
      {REDUCE_PROD, [](OpContext& c) { reduce(c, "ReduceProd"); }},
      {RESHAPE, reshape},
      {SQUEEZE, squeeze},
      {EXPAND_DIMS, expand_dims},
      {CONCATENATION, concatenation},
      {PACK, pack},
      {UNPACK, unpack},
      {SPLIT, split},
      {SPLIT_V, split_v},
      {STRIDED_SLICE, strided_slice},
      {SLICE, slice},
      {GATHER, gather},
      {EMBEDDING_LOOKUP, [](OpContext& c) { c.set_out(0, c.node("Gather", {c.in(1), c.in(0)}, std::move(Attrs().i("axis", 0)))); }},
      {GATHER_ND, [](OpContext& c) { c.set_out(0, c.node("GatherND", {c.in(0), c.in(1)})); }},
      {PAD, [](OpContext& c) { pad(c, false); }},
      {PADV2, [](OpContext& c) { pad(c, true); }},
      {MIRROR_PAD, mirror_pad},
      {RESIZE_BILINEAR, [](OpContext& c) { resize(c, true); }},
      {RESIZE_NEAREST_NEIGHBOR, [](OpContext& c) { resize(c, false); }},
      {SOFTMAX, softmax},
      {LOG_SOFTMAX, log_softmax},
      {LOGISTIC, [](OpContext& c) { unary(c, "Sigmoid"); }},
      {TANH, [](OpContext& c) { unary(c, "Tanh"); }},
      {RELU, [](OpContext& c) { unary(c, "Relu"); }},
      {RELU6, relu6},
      {RELU_N1_TO_1, relu_n1_to_1},
      {LEAKY_RELU, leaky_relu},
      {PRELU, [](OpContext& c) { c.set_out(0, c.node("PRelu", {c.in(0), c.in(1)})); }},
      {HARD_SWISH, [](OpContext& c) { unary(c, "HardSwish"); }},
      {GELU, gelu},
      {ELU, [](OpContext& c) { unary(c, "Elu"); }},
      {EXP, [](OpContext& c) { unary(c, "Exp"); }},
      {LOG, [](OpContext& c) { unary(c, "Log"); }},
      {SQRT, [](OpContext& c) { unary(c, "Sqrt"); }},
      {RSQRT, rsqrt},
      {SQUARE, square},
      {NEG, [](OpContext& c) { unary(c, "Neg"); }},
      {ABS, [](OpContext& c) { unary(c, "Abs"); }},
      {FLOOR, [](OpContext& c) { unary(c, "Floor"); }},
      {CEIL, [](OpContext& c) { unary(c, "Ceil"); }},
      {ROUND, [](OpContext& c) { unary(c, "Round"); }},
      {SIN, [](OpContext& c) { unary(c, "Sin"); }},
      {COS, [](OpContext& c) { unary(c, "Cos"); }},
      {SELECT, select},
      {SELECT_V2, select},
      {BATCH_MATMUL, batch_matmul},
      {TRANSPOSE, transpose},
      {DEQUANTIZE, dequantize},
      {QUANTIZE, quantize},
      {CAST, cast},
      {ARG_MAX, [](OpContext& c) { arg(c, "ArgMax"); }},
      {ARG_MIN, [](OpContext& c) { arg(c, "ArgMin"); }},
      {TOPK_V2, topk},
      {SHAPE, shape},
      {FILL, fill},
      {ZEROS_LIKE, [](OpContext& c) { c.set_out(0, c.node("Mul", {c.in(0), c.node("CastLike", {c.f32(0.f), c.in(0)})})); }},
      {TILE, tile},
      {BROADCAST_TO, broadcast_to},
      {DEPTH_TO_SPACE, [](OpContext& c) { depth_space(c, "DepthToSpace"); }},
      {SPACE_TO_DEPTH, [](OpContext& c) { depth_space(c, "SpaceToDepth"); }},
      {L2_NORMALIZATION, l2_norm},
      {CUMSUM, cumsum},
      {UNIDIRECTIONAL_SEQUENCE_LSTM, lstm},
      {IF, if_op},
      {WHILE, while_op},
      {CALL_ONCE, call_once},
      {VAR_HANDLE, var_handle},
      {READ_VARIABLE, read_variable},
      {ASSIGN_VARIABLE, assign_variable},
  };
  return table;
}

}  // namespace irforge::tflite
