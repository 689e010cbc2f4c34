// ONNX shape and layout ops: Reshape, Transpose, Concat, Flatten, Squeeze/Unsqueeze, Shape, Size,
// Expand, ConstantOfShape, Tile, Range, EyeLike, Trilu, Pad, CenterCropPad, DepthToSpace,
// SpaceToDepth, BitCast. Shapes, axes and pads may be computed at run time: every lowering takes
// them as input ports unless OpenVINO needs a constant.
#include <cmath>
#include <cstring>

#include "io/openvino/ops/tensor_util.h"
#include "support/error.h"

namespace irforge::ov {

namespace {

using namespace tensor_util;

void lower_reshape(NodeContext& c) {
  // Reshape-1 (opset < 5) carries the shape as an attribute. A 0 in the shape copies the input
  // dim unless allowzero=1; OpenVINO's special_zero is the same switch, inverted.
  PortRef shape = c.opset() < 5 ? c.const_i64(c.attr_ints("shape")) : i64(c, c.input(1));
  bool allowzero = c.attr_int("allowzero", 0) != 0;
  c.set_output(0, c.op("Reshape", "opset1", {c.input(0), shape}, {{"special_zero", allowzero ? "false" : "true"}}));
}

void lower_transpose(NodeContext& c) {
  // Without `perm` ONNX reverses the dims. (OpenVINO's empty-order Transpose would too, but an
  // empty Const cannot be read back from IR.)
  PortRef x = c.input(0);
  if (c.has_attr("perm")) {
    Ints perm = c.attr_ints("perm");
    bool valid = true;
    for (int64_t& p : perm) {
      if (p < 0) p += static_cast<int64_t>(perm.size());
      valid = valid && p >= 0 && p < static_cast<int64_t>(perm.size());
    }
    if (valid) {
      c.set_output(0, transpose_composed(c, x, perm, !c.node().output(0)->is_graph_output()));
      return;
    }
    c.set_output(0, c.op("Transpose", "opset1", {x, c.const_i64(perm)}));
    return;
  }
  PortRef order;
  if (auto rank = c.input_rank(0)) {
    Ints perm;
    for (int64_t i = *rank - 1; i >= 0; --i) perm.push_back(i);
    order = c.const_i64(perm);
  } else {
    PortRef last = binop(c, "Subtract", to_scalar(c, rank_of(c, x)), c.scalar_i64(1));
    order = c.op("Range", "opset4", {last, c.scalar_i64(-1), c.scalar_i64(-1)}, {{"output_type", "i64"}}, ElemType::kI64);
  }
  c.set_output(0, c.op("Transpose", "opset1", {x, order}));
}

void lower_concat(NodeContext& c) {
  std::vector<PortRef> parts;
  for (size_t i = 0; i < c.num_inputs(); ++i)
    if (c.has_input(i)) parts.push_back(c.input(i));
  c.set_output(0, concat(c, parts, c.attr_int("axis", 1)));
}

void lower_flatten(NodeContext& c) {
  // [prod(dims[:axis]), prod(dims[axis:])]; a negative axis works as a Slice bound as is.
  PortRef x = c.input(0);
  int64_t axis = c.attr_int("axis", 1);
  // With the dims on one side of the axis known (and non-zero), a constant target does it:
  // [-1, inner] or [outer, -1].
  if (PShape s = c.shape(x)) {
    int64_t rank = static_cast<int64_t>(s->size());
    int64_t a = axis < 0 ? axis + rank : axis;
    auto product = [&](int64_t b, int64_t e) -> int64_t {
      int64_t p = 1;
      for (int64_t i = b; i < e; ++i) {
        // A product past int64 (declared dims of a malformed model) takes the run-time path.
        if ((*s)[i] <= 0 || __builtin_mul_overflow(p, (*s)[i], &p)) return -1;
      }
      return p;
    };
    if (a >= 0 && a <= rank) {
      if (int64_t inner = product(a, rank); inner > 0) {
        c.set_output(0, c.op("Reshape", "opset1", {x, c.const_i64({-1, inner})}, {{"special_zero", "false"}}));
        return;
      }
      if (int64_t outer = product(0, a); outer > 0) {
        c.set_output(0, c.op("Reshape", "opset1", {x, c.const_i64({outer, -1})}, {{"special_zero", "false"}}));
        return;
      }
    }
  }
  PortRef shape = shape_of(c, x);
  PortRef outer = reduce_prod(c, slice1d(c, shape, 0, axis), true);
  PortRef inner = reduce_prod(c, slice1d(c, shape, axis, kMaxI64), true);
  c.set_output(0, c.op("Reshape", "opset1", {x, concat(c, {outer, inner}, 0)}, {{"special_zero", "false"}}));
}

// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an (optional) input from 13 on.
// Returns the constant axes, or nullopt with *runtime set when they come at run time.
std::optional<Ints> squeeze_axes(NodeContext& c, std::optional<PortRef>* runtime) {
  if (c.opset() < 13) {
    if (!c.has_attr("axes")) return std::nullopt;
    return c.attr_ints("axes");
  }
  if (!c.has_input(1)) return std::nullopt;
  if (auto v = c.const_ints(1)) return v;
  *runtime = i64(c, c.input(1));
  return std::nullopt;
}

void lower_squeeze(NodeContext& c) {
  PortRef x = c.input(0);
  std::optional<PortRef> runtime;
  auto axes = squeeze_axes(c, &runtime);
  if (axes && !axes->empty() && c.node().inputs()[0]->uses().size() == 1)
    if (auto perm = transpose_order(c, x)) {
        auto rank = std::optional<int64_t>(static_cast<int64_t>(perm->size()));
        // Squeeze(Transpose(s, perm)) = Transpose(Squeeze(s, perm[axes])): as many layers, and the
        // Transpose may then compose with the next one (an RNN's output layouts).
        std::vector<bool> dropped(perm->size(), false);
        Ints source_axes;
        for (int64_t a : *axes) {
          int64_t n = a < 0 ? a + *rank : a;
          if (n < 0 || n >= *rank || dropped[static_cast<size_t>(n)]) return c.set_output(0, c.op("Squeeze", "opset1", {x, c.const_i64(*axes)}));
          dropped[static_cast<size_t>(n)] = true;
          source_axes.push_back((*perm)[static_cast<size_t>(n)]);
        }
        Ints rest;  // the kept source axes in output order, renumbered after the squeeze
        for (size_t i = 0; i < perm->size(); ++i) {
          if (dropped[i]) continue;
          int64_t s = (*perm)[i], below = 0;
          for (int64_t d : source_axes) below += d < s ? 1 : 0;
          rest.push_back(s - below);
        }
        PortRef squeezed = c.op("Squeeze", "opset1", {c.graph().layers[x.layer].inputs[0], c.const_i64(source_axes)});
        c.set_output(0, transpose_composed(c, squeezed, rest, !c.node().output(0)->is_graph_output()));
        return;
      }
  if (axes) c.set_output(0, c.op("Squeeze", "opset1", {x, c.const_i64(*axes)}));
  else if (runtime) c.set_output(0, c.op("Squeeze", "opset1", {x, to_1d(c, *runtime)}));
  else c.set_output(0, c.op("Squeeze", "opset1", {x}));  // all dims of size 1
}

void lower_unsqueeze(NodeContext& c) {
  PortRef x = c.input(0);
  std::optional<PortRef> runtime;
  auto axes = squeeze_axes(c, &runtime);
  if (axes) {
    c.set_output(0, c.op("Unsqueeze", "opset1", {x, c.const_i64(*axes)}));
    return;
  }
  if (!runtime) c.unsupported("Unsqueeze needs axes");
  // OpenVINO's Unsqueeze needs constant axes: build the output shape instead. Output position p
  // is 1 where p is in axes, else the next input dim in order (cumsum of the kept positions).
  PortRef ax = to_1d(c, *runtime);
  PortRef k = shape_of(c, ax);
  PortRef out_rank = binop(c, "Add", rank_of(c, x), k);
  PortRef ones = c.op("Broadcast", "opset3", {c.scalar_i64(1), k}, {{"mode", "numpy"}});
  PortRef mask = scatter_into_zeros(c, out_rank, norm_axes(c, ax, out_rank), ones);
  PortRef keep = binop(c, "Subtract", c.scalar_i64(1), mask);
  PortRef src = binop(c, "Subtract", c.op("CumSum", "opset3", {keep, c.scalar_i64(0)}), c.scalar_i64(1));
  src = binop(c, "Maximum", src, c.scalar_i64(0));
  // A trailing 1 keeps the Gather valid for a scalar input (all positions inserted).
  PortRef dims = c.op("Gather", "opset8", {concat(c, {shape_of(c, x), c.const_i64({1})}, 0), src, c.scalar_i64(0)}, {{"batch_dims", "0"}});
  PortRef is_new = binop(c, "Equal", mask, c.scalar_i64(1), ElemType::kBoolean);
  PortRef shape = c.op("Select", "opset1", {is_new, c.scalar_i64(1), dims}, kNumpy, ElemType::kI64);
  c.set_output(0, c.op("Reshape", "opset1", {x, shape}, {{"special_zero", "false"}}));
}

void lower_shape(NodeContext& c) {
  PortRef s = shape_of(c, c.input(0));
  // Shape-15 takes an optional [start, end) window; Slice clamps like ONNX does.
  if (c.has_attr("start") || c.has_attr("end")) s = slice1d(c, s, c.attr_int("start", 0), c.attr_int("end", kMaxI64));
  c.set_output(0, s);
}

void lower_size(NodeContext& c) { c.set_output(0, reduce_prod(c, shape_of(c, c.input(0)), false)); }

void lower_expand(NodeContext& c) {
  // ONNX Expand broadcasts both ways (a target dim of 1 keeps the input dim).
  c.set_output(0, c.op("Broadcast", "opset3", {c.input(0), i64(c, c.input(1))}, {{"mode", "bidirectional"}}));
}

void lower_constant_of_shape(NodeContext& c) {
  PortRef value;
  const Attribute* a = c.node().attr("value");
  if (a && a->t) {
    auto t = from_onnx(a->t->dtype());
    if (!t || *t == ElemType::kString || a->t->element_count() != 1) c.unsupported("value must hold one number");
    std::vector<uint8_t> bytes(a->t->data(), a->t->data() + a->t->nbytes());
    value = c.const_bytes(*t, {}, std::move(bytes));
  } else {
    value = c.scalar(ElemType::kF32, 0.0);
  }
  c.set_output(0, c.op("Broadcast", "opset3", {value, i64(c, c.input(0))}, {{"mode", "numpy"}}));
}

void lower_tile(NodeContext& c) {
  PortRef x = c.input(0);
  if (auto reps = c.const_ints(1)) {
    c.set_output(0, c.op("Tile", "opset1", {x, c.const_i64(*reps)}));
    return;
  }
  // The CPU plugin's Tile miscomputes run-time repeats on several dims, so broadcast instead:
  // x as [1, d0, 1, d1, ...] broadcast to [r0, d0, r1, d1, ...], reshaped to [r0*d0, r1*d1, ...].
  auto rank = c.input_rank(0);
  if (!rank) c.unsupported("Tile with run-time repeats needs the input rank");
  PortRef reps = i64(c, c.input(1)), dims = shape_of(c, x);
  auto interleave = [&](PortRef outer) {
    PortRef pairs = concat(c, {c.op("Unsqueeze", "opset1", {outer, c.const_i64({1})}), c.op("Unsqueeze", "opset1", {dims, c.const_i64({1})})}, 1);
    return to_1d(c, pairs);
  };
  PortRef ones = c.const_i64(Ints(*rank, 1));
  PortRef spread = c.op("Reshape", "opset1", {x, interleave(ones)}, {{"special_zero", "false"}});
  PortRef tiled = c.op("Broadcast", "opset3", {spread, interleave(reps)}, {{"mode", "numpy"}});
  c.set_output(0, c.op("Reshape", "opset1", {tiled, binop(c, "Multiply", reps, dims)}, {{"special_zero", "false"}}));
}

void lower_range(NodeContext& c) {
  // ONNX wants scalars, but exported models (and onnxruntime) also pass 1-element tensors.
  auto scalar_input = [&](size_t i) {
    PortRef p = c.input_keep_precision(i);
    return c.input_rank(i) == std::optional<int64_t>(0) ? p : to_scalar(c, p);
  };
  PortRef start = scalar_input(0);
  ElemType t = c.type(start);
  c.set_output(0, c.op("Range", "opset4", {start, scalar_input(1), scalar_input(2)}, {{"output_type", elem_name(t)}}, t));
}

void lower_eye_like(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  if (c.has_attr("dtype")) {
    auto dt = from_onnx(static_cast<DataType>(c.attr_int("dtype", 1)));
    if (!dt || *dt == ElemType::kString) c.unsupported("dtype is not available in OpenVINO");
    t = *dt;
  }
  PortRef rows = dim_of(c, x, 0), cols = dim_of(c, x, 1);
  c.set_output(0, c.op("Eye", "opset9", {rows, cols, c.scalar_i64(c.attr_int("k", 0))}, {{"output_type", elem_name(t)}}, t));
}

void lower_trilu(NodeContext& c) {
  // No OpenVINO op: keep x where (col - row) >= k (upper) or <= k (lower), else 0.
  PortRef x = c.input(0);
  PortRef k = c.has_input(1) ? to_scalar(c, i64(c, c.input(1))) : c.scalar_i64(0);
  auto iota = [&](int64_t axis) {
    return c.op("Range", "opset4", {c.scalar_i64(0), dim_of(c, x, axis), c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
  };
  // Compared as col >= row + k (an [N, M] col - row Subtract crashed the CPU plugin at N = 0).
  PortRef rows = c.op("Unsqueeze", "opset1", {binop(c, "Add", iota(-2), k), c.const_i64({1})});
  bool upper = c.attr_int("upper", 1) != 0;
  PortRef mask = binop(c, upper ? "GreaterEqual" : "LessEqual", iota(-1), rows, ElemType::kBoolean);
  ElemType t = c.type(x);
  c.set_output(0, c.op("Select", "opset1", {mask, x, c.scalar(t, 0.0)}, kNumpy, t));
}

// ---- Pad ----

// A pad vector for all dims: `pads` (i64 [n]) given for `axes`, zeros elsewhere.
PortRef full_pads(NodeContext& c, PortRef x, PortRef pads, const std::optional<PortRef>& axes) {
  if (!axes) return pads;
  PortRef rank = rank_of(c, x);
  return scatter_into_zeros(c, rank, norm_axes(c, *axes, rank), pads);
}

// Wrap padding has no OpenVINO mode: along each axis gather indices (-begin .. dim+end) mod dim.
PortRef wrap_pad(NodeContext& c, PortRef x, PortRef begins, PortRef ends, int64_t rank, const std::optional<Ints>& const_pads) {
  for (int64_t a = 0; a < rank; ++a) {
    if (const_pads && (*const_pads)[a] == 0 && (*const_pads)[a + rank] == 0) continue;
    auto at = [&](PortRef v) { return c.op("Gather", "opset8", {v, c.scalar_i64(a), c.scalar_i64(0)}, {{"batch_dims", "0"}}); };
    PortRef dim = dim_of(c, x, a);
    PortRef from = c.op("Negative", "opset1", {at(begins)});
    PortRef to = binop(c, "Add", dim, at(ends));
    PortRef idx = c.op("Range", "opset4", {from, to, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
    idx = binop(c, "FloorMod", idx, dim);
    x = c.op("Gather", "opset8", {x, idx, c.scalar_i64(a)}, {{"batch_dims", "0"}});
  }
  return x;
}

void lower_pad(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  std::string mode = c.attr_string("mode", "constant");
  std::optional<Ints> const_pads;
  PortRef pads, value;
  std::optional<PortRef> axes;
  if (c.opset() < 11) {
    // Pad-1 calls the attribute "paddings", Pad-2 "pads"; the fill value is an attribute.
    const_pads = c.attr_ints(c.has_attr("pads") ? "pads" : "paddings");
    pads = c.const_i64(*const_pads);
    value = c.scalar(t, c.attr_float("value", 0.f));
  } else {
    const_pads = c.const_ints(1);
    pads = i64(c, c.input(1));
    value = c.has_input(2) ? to_scalar(c, c.convert_like(c.input_keep_precision(2), x)) : c.scalar(t, 0.0);
    if (c.has_input(3)) {
      axes = i64(c, c.input(3));
      const_pads.reset();  // positions in `pads` no longer match the dims
    }
  }
  // ONNX pads are [begin_0..begin_n, end_0..end_n]; constant ones are split here, not by a
  // Split layer (a Keras ZeroPadding2D left a Reshape and a Split beside ovc's plain Pad).
  std::vector<PortRef> halves;
  if (const_pads && const_pads->size() % 2 == 0) {
    const auto mid = const_pads->begin() + static_cast<std::ptrdiff_t>(const_pads->size() / 2);
    halves = {c.const_i64(Ints(const_pads->begin(), mid)), c.const_i64(Ints(mid, const_pads->end()))};
  } else {
    halves = c.op_multi("Split", "opset1", {to_1d(c, pads), c.scalar_i64(0)}, {{"num_splits", "2"}}, {ElemType::kI64, ElemType::kI64});
  }
  PortRef begins = full_pads(c, x, halves[0], axes), ends = full_pads(c, x, halves[1], axes);
  if (mode == "wrap") {
    auto rank = rank_of_port(c, x);
    if (!rank) rank = c.input_rank(0);
    if (!rank) c.unsupported("wrap padding needs the input rank");
    // wrap_pad reads the begin and end of each dim from the constant pads.
    if (const_pads && static_cast<int64_t>(const_pads->size()) != 2 * *rank)
      c.invalid("pads has " + std::to_string(const_pads->size()) + " values but the input of rank " + std::to_string(*rank) + " needs " +
                std::to_string(2 * *rank));
    c.set_output(0, wrap_pad(c, x, begins, ends, *rank, const_pads));
    return;
  }
  if (mode != "constant" && mode != "reflect" && mode != "edge") c.unsupported("unknown pad mode '" + mode + "'");
  std::vector<PortRef> inputs = {x, begins, ends};
  if (mode == "constant") inputs.push_back(value);
  c.set_output(0, c.op("Pad", "opset12", inputs, {{"pad_mode", mode}}));
}

void lower_center_crop_pad(NodeContext& c) {
  // Along each axis: crop a centered window (start rounded down) when the input is larger, pad
  // with zeros (the odd pixel at the end) when it is smaller.
  PortRef x = c.input(0);
  PortRef target = i64(c, to_1d(c, c.input(1)));
  PortRef axes;
  if (c.has_attr("axes")) axes = c.const_i64(c.attr_ints("axes"));
  else axes = c.op("Range", "opset4", {c.scalar_i64(0), to_scalar(c, rank_of(c, x)), c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
  PortRef rank = rank_of(c, x);
  axes = norm_axes(c, axes, rank);
  PortRef dims = c.op("Gather", "opset8", {shape_of(c, x), axes, c.scalar_i64(0)}, {{"batch_dims", "0"}});
  PortRef diff = binop(c, "Subtract", dims, target);
  PortRef zero = c.scalar_i64(0), two = c.scalar_i64(2);
  PortRef crop_begin = binop(c, "Divide", binop(c, "Maximum", diff, zero), two);
  PortRef crop_end = binop(c, "Add", crop_begin, binop(c, "Minimum", dims, target));
  PortRef ones = c.op("Broadcast", "opset3", {c.scalar_i64(1), shape_of(c, axes)}, {{"mode", "numpy"}});
  PortRef y = c.op("Slice", "opset8", {x, crop_begin, crop_end, ones, axes});
  PortRef pad = binop(c, "Maximum", c.op("Negative", "opset1", {diff}), zero);
  PortRef pad_begin = binop(c, "Divide", pad, two);
  PortRef pad_end = binop(c, "Subtract", pad, pad_begin);
  PortRef begins = scatter_into_zeros(c, rank, axes, pad_begin), ends = scatter_into_zeros(c, rank, axes, pad_end);
  ElemType t = c.type(x);
  c.set_output(0, c.op("Pad", "opset12", {y, begins, ends, c.scalar(t, 0.0)}, {{"pad_mode", "constant"}}));
}

// ---- block rearrangements ----

void lower_depth_to_space(NodeContext& c) {
  // DCR (default) is OpenVINO's blocks_first, CRD its depth_first.
  std::string mode = c.attr_string("mode", "DCR") == "CRD" ? "depth_first" : "blocks_first";
  c.set_output(0, c.op("DepthToSpace", "opset1", {c.input(0)}, {{"block_size", std::to_string(c.attr_int("blocksize", 1))}, {"mode", mode}}));
}

void lower_space_to_depth(NodeContext& c) {
  // SpaceToDepth-28 added `mode`; before it the layout is DCR (blocks_first).
  std::string mode = c.attr_string("mode", "DCR") == "CRD" ? "depth_first" : "blocks_first";
  c.set_output(0, c.op("SpaceToDepth", "opset1", {c.input(0)}, {{"block_size", std::to_string(c.attr_int("blocksize", 1))}, {"mode", mode}}));
}

// ---- BitCast ----
//
// OpenVINO has no bit reinterpretation. Same-width integers (and bool) reinterpret through
// Convert, which wraps modulo 2^bits. Float bit patterns are taken apart and rebuilt exactly:
// sign, exponent (floor(log2), corrected against a table of exact powers of two) and mantissa
// computed as small numbers in f32, with subnormals, infinities and NaN (as the canonical quiet
// NaN). The CPU plugin constrains how: fused integer arithmetic runs in f32 (so 32-bit patterns
// are packed and unpacked with bitwise ops only), subnormal constants are flushed to zero and a
// division becomes a multiplication by the reciprocal (so every scale factor stays normal, and
// 2^-e is applied as two factors).

struct FloatLayout {
  int width, mbits, bias;
};

std::optional<FloatLayout> float_layout(ElemType t) {
  switch (t) {
    case ElemType::kF32: return FloatLayout{32, 23, 127};
    case ElemType::kF16: return FloatLayout{16, 10, 15};
    case ElemType::kBf16: return FloatLayout{16, 7, 127};
    default: return std::nullopt;
  }
}

// 2^k (k an i32 tensor, clamped to [lo, hi]) looked up in a table of exact f32 powers of two.
PortRef pow2(NodeContext& c, PortRef k, int lo, int hi) {
  std::vector<float> table;
  for (int e = lo; e <= hi; ++e) table.push_back(std::ldexp(1.f, e));
  PortRef idx = binop(c, "Subtract", k, c.scalar(ElemType::kI32, lo));
  idx = c.op("Clamp", "opset1", {idx}, {{"min", "0"}, {"max", std::to_string(hi - lo)}});
  return c.op("Gather", "opset8", {c.const_f32(table), idx, c.scalar_i64(0)}, {{"batch_dims", "0"}});
}

PortRef bitwise(NodeContext& c, const char* type, PortRef a, PortRef b) {
  bool shift = std::string(type).find("Shift") != std::string::npos;
  return c.op(type, shift ? "opset15" : "opset13", {a, b}, kNumpy);
}

// The bit pattern of float `x` (layout L) in the low L.width bits of an i32.
PortRef float_bits(NodeContext& c, PortRef x, const FloatLayout& L) {
  auto i32 = [&](double v) { return c.scalar(ElemType::kI32, v); };
  auto f32 = [&](double v) { return c.scalar(ElemType::kF32, v); };
  auto select = [&](PortRef cond, PortRef a, PortRef b) { return c.op("Select", "opset1", {cond, a, b}, kNumpy, c.type(a)); };
  const int emin = 1 - L.bias, emax = L.bias, ebits = L.width - 1 - L.mbits;
  PortRef f = c.convert(x, ElemType::kF32);
  PortRef a = c.op("Abs", "opset1", {f});
  PortRef e = c.convert(c.op("Floor", "opset1", {binop(c, "Multiply", c.op("Log", "opset1", {a}), f32(1.0 / std::log(2.0)))}), ElemType::kI32);
  e = c.op("Clamp", "opset1", {e}, {{"min", std::to_string(emin)}, {"max", std::to_string(emax)}});
  e = select(binop(c, "Greater", pow2(c, e, emin, emax), a, ElemType::kBoolean), binop(c, "Subtract", e, i32(1)), e);
  PortRef up = binop(c, "Add", e, i32(1));
  e = select(binop(c, "LessEqual", pow2(c, up, emin, emax + 1), a, ElemType::kBoolean), up, e);
  // Normal: a * 2^-e - 1 in [1, 2) - 1, with 2^-e as 2^-half * 2^-(e-half).
  PortRef half = binop(c, "Divide", e, i32(2));
  PortRef scaled = binop(c, "Multiply", binop(c, "Multiply", a, pow2(c, c.op("Negative", "opset1", {half}), -64, 64)),
                         pow2(c, binop(c, "Subtract", half, e), -64, 64));
  PortRef frac = binop(c, "Subtract", scaled, f32(1.0));
  // Subnormal: exponent field 0 and fraction a * 2^-emin.
  PortRef subnormal = binop(c, "Less", a, f32(std::ldexp(1.0, emin)), ElemType::kBoolean);
  frac = select(subnormal, binop(c, "Multiply", a, f32(std::ldexp(1.0, -emin))), frac);
  PortRef mant = binop(c, "Multiply", frac, f32(std::ldexp(1.0, L.mbits)));
  PortRef field = select(subnormal, i32(0), binop(c, "Add", e, i32(L.bias)));
  PortRef inf = c.op("IsInf", "opset10", {f}, {{"detect_negative", "true"}, {"detect_positive", "true"}}, ElemType::kBoolean);
  PortRef nan = c.op("IsNaN", "opset10", {f}, {}, ElemType::kBoolean);
  PortRef special = c.op("LogicalOr", "opset1", {inf, nan}, kNumpy, ElemType::kBoolean);
  field = select(special, i32(std::ldexp(1.0, ebits) - 1), field);
  mant = select(inf, f32(0.0), select(nan, f32(std::ldexp(1.0, L.mbits - 1)), mant));
  // The sign bit, including -0.0 (1 / -0.0 = -inf).
  PortRef zero = f32(0.0);
  PortRef neg_zero = c.op("LogicalAnd", "opset1",
                          {binop(c, "Equal", f, zero, ElemType::kBoolean), binop(c, "Less", binop(c, "Divide", f32(1.0), f), zero, ElemType::kBoolean)},
                          kNumpy, ElemType::kBoolean);
  PortRef neg = c.op("LogicalOr", "opset1", {binop(c, "Less", f, zero, ElemType::kBoolean), neg_zero}, kNumpy, ElemType::kBoolean);
  PortRef sign = select(neg, c.const_i32({static_cast<int32_t>(1u << (L.width - 1))}, Ints{}), i32(0));
  PortRef bits = bitwise(c, "BitwiseOr", bitwise(c, "BitwiseLeftShift", field, i32(L.mbits)), c.convert(mant, ElemType::kI32));
  return bitwise(c, "BitwiseOr", bits, sign);
}

// The float (layout L, computed in f32) whose bit pattern is integer `x` of width L.width.
PortRef bits_float(NodeContext& c, PortRef x, const FloatLayout& L) {
  auto i32 = [&](double v) { return c.scalar(ElemType::kI32, v); };
  auto f32 = [&](double v) { return c.scalar(ElemType::kF32, v); };
  auto select = [&](PortRef cond, PortRef a, PortRef b) { return c.op("Select", "opset1", {cond, a, b}, kNumpy, c.type(a)); };
  const int ebits = L.width - 1 - L.mbits;
  // Narrower integers widen with sign or zero extension; either keeps the low L.width bits.
  PortRef v = c.convert(x, ElemType::kI32);
  PortRef sign = bitwise(c, "BitwiseAnd", v, c.const_i32({static_cast<int32_t>(1u << (L.width - 1))}, Ints{}));
  PortRef neg = binop(c, "NotEqual", sign, i32(0), ElemType::kBoolean);
  PortRef e = bitwise(c, "BitwiseAnd", bitwise(c, "BitwiseRightShift", v, i32(L.mbits)), i32(std::ldexp(1.0, ebits) - 1));
  PortRef m = c.convert(bitwise(c, "BitwiseAnd", v, i32(std::ldexp(1.0, L.mbits) - 1)), ElemType::kF32);
  PortRef frac = binop(c, "Multiply", m, f32(std::ldexp(1.0, -L.mbits)));
  PortRef normal = binop(c, "Multiply", binop(c, "Add", frac, f32(1.0)), pow2(c, binop(c, "Subtract", e, i32(L.bias)), 1 - L.bias, L.bias));
  PortRef sub = binop(c, "Multiply", frac, f32(std::ldexp(1.0, 1 - L.bias)));
  PortRef special = select(binop(c, "Equal", m, f32(0.0), ElemType::kBoolean), f32(INFINITY), f32(NAN));
  PortRef val = select(binop(c, "Equal", e, i32(std::ldexp(1.0, ebits) - 1), ElemType::kBoolean), special, normal);
  val = select(binop(c, "Equal", e, i32(0), ElemType::kBoolean), sub, val);
  return select(neg, c.op("Negative", "opset1", {val}), val);
}

void lower_bitcast(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType from = c.type(x);
  auto to = from_onnx(static_cast<DataType>(c.attr_int("to", 0)));
  if (!to || *to == ElemType::kString) c.unsupported("target type is not available in OpenVINO");
  if (elem_bits(from) != elem_bits(*to)) c.unsupported("BitCast needs types of the same width");
  if (from == *to) {
    c.set_output(0, x);
    return;
  }
  auto lf = float_layout(from), lt = float_layout(*to);
  if ((is_float(from) && !lf) || (is_float(*to) && !lt)) c.unsupported("only f32, f16 and bf16 bit patterns can be rebuilt (in f32 arithmetic)");
  PortRef bits = lf ? float_bits(c, x, *lf) : x;
  c.set_output(0, lt ? c.convert(bits_float(c, bits, *lt), *to) : c.convert(bits, *to));
}

}  // namespace

void register_tensor_ops(LowerRegistry& r) {
  r.add("Reshape", lower_reshape);
  r.add("Transpose", lower_transpose);
  r.add("Concat", lower_concat);
  r.add("Flatten", lower_flatten);
  r.add("Squeeze", lower_squeeze);
  r.add("Unsqueeze", lower_unsqueeze);
  r.add("Shape", lower_shape);
  r.add("Size", lower_size);
  r.add("Expand", lower_expand);
  r.add("ConstantOfShape", lower_constant_of_shape);
  r.add("Tile", lower_tile);
  r.add("Range", lower_range);
  r.add("EyeLike", lower_eye_like);
  r.add("Trilu", lower_trilu);
  r.add("Pad", lower_pad);
  r.add("CenterCropPad", lower_center_crop_pad);
  r.add("DepthToSpace", lower_depth_to_space);
  r.add("SpaceToDepth", lower_space_to_depth);
  r.add("BitCast", lower_bitcast);
}

}  // namespace irforge::ov
