// ONNX signal-processing ops lowered to OpenVINO: DFT, STFT, Hann/Hamming/BlackmanWindow,
// MelWeightMatrix.
//
// ONNX keeps complex tensors as a trailing dim of 2 (real inputs may use a trailing 1); OpenVINO's
// DFT/IDFT take and give the trailing 2, RDFT takes a real tensor without that dim and IRDFT
// gives one. OpenVINO counts negative DFT axes over the signal dims only (rank - 1), so ONNX
// axes, which count the trailing dim, are made non-negative first.
#include <cmath>
#include <optional>

#include "io/openvino/lowering.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

PortRef bin(NodeContext& c, const char* type, PortRef a, PortRef b) { return c.op(type, "opset1", {a, b}, kNumpy); }

PortRef to_1d(NodeContext& c, PortRef p) {
  return c.op("Reshape", "opset1", {c.convert(p, ElemType::kI64), c.const_i64({1})}, {{"special_zero", "false"}});
}

PortRef to_scalar(NodeContext& c, PortRef p) {
  return c.op("Reshape", "opset1", {p, c.const_i64({}, Ints{0})}, {{"special_zero", "false"}});
}

PortRef shape_of(NodeContext& c, PortRef x) { return c.op("ShapeOf", "opset3", {x}, {{"output_type", "i64"}}, ElemType::kI64); }

// Drops / appends the trailing complex dim of size 1.
PortRef squeeze_last(NodeContext& c, PortRef x) { return c.op("Squeeze", "opset1", {x, c.const_i64({-1})}); }
PortRef unsqueeze_last(NodeContext& c, PortRef x) { return c.op("Unsqueeze", "opset1", {x, c.const_i64({-1})}); }

// A real [..., 1] tensor as complex [..., 2] with zero imaginary parts.
PortRef to_complex(NodeContext& c, PortRef x) {
  PortRef zeros = bin(c, "Multiply", x, c.scalar(c.type(x), 0.0));
  return c.op("Concat", "opset1", {x, zeros}, {{"axis", "-1"}});
}

// The full spectrum [..., n, ..., 2] of a real signal from its one-sided RDFT `half` along the
// constant axis `a` (of a rank-r result): bin k is bin min(k, n - k), conjugated when k > n - k.
// This is also more accurate than a complex DFT of the zero-padded signal on the CPU plugin.
PortRef hermitian_extend(NodeContext& c, PortRef half, PortRef n, int64_t a, int64_t r) {
  PortRef k = c.op("Range", "opset4", {c.scalar_i64(0), n, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
  PortRef mirror = bin(c, "Subtract", n, k);
  PortRef full = c.op("Gather", "opset8", {half, bin(c, "Minimum", k, mirror), c.scalar_i64(a)}, {{"batch_dims", "0"}});
  ElemType t = c.type(half);
  PortRef conj = c.op("Greater", "opset1", {k, mirror}, kNumpy, ElemType::kBoolean);
  PortRef imag_sign = c.op("Select", "opset1", {conj, c.scalar(t, -1), c.scalar(t, 1)}, kNumpy, t);
  PortRef real_sign = c.op("Broadcast", "opset3", {c.scalar(t, 1), shape_of(c, imag_sign)}, {{"mode", "numpy"}});
  PortRef signs = c.op("Concat", "opset1", {c.op("Unsqueeze", "opset1", {real_sign, c.const_i64({1})}),
                                            c.op("Unsqueeze", "opset1", {imag_sign, c.const_i64({1})})},
                       {{"axis", "1"}});
  Ints target(static_cast<size_t>(r - a), 1);
  target.front() = -1;
  target.back() = 2;
  signs = c.op("Reshape", "opset1", {signs, c.const_i64(target)}, {{"special_zero", "false"}});
  return bin(c, "Multiply", full, signs);
}

void lower_dft(NodeContext& c) {
  PortRef x = c.input(0);
  PShape s = c.shape(x);
  if (!s || s->empty() || s->back() < 1) c.unsupported("DFT needs a known rank and a static trailing (real/complex) dim");
  auto r = static_cast<int64_t>(s->size());
  bool real = s->back() == 1;
  bool inverse = c.attr_int("inverse", 0) != 0, onesided = c.attr_int("onesided", 0) != 0;
  bool via_rdft = real && !inverse;  // RDFT (+ Hermitian extension unless one-sided)
  // The axis: an attribute up to opset 19 (default 1), an optional input from 20 (default -2).
  std::optional<int64_t> axis;
  PortRef axes;
  if (c.opset() < 20) {
    axis = norm_axis(c.attr_int("axis", 1), r);
  } else if (!c.has_input(2)) {
    axis = r - 2;
  } else if (auto v = c.const_ints(2); v && v->size() == 1) {
    axis = norm_axis((*v)[0], r);
  } else {
    axes = bin(c, "FloorMod", to_1d(c, c.input(2)), c.scalar_i64(r));
  }
  // The last dim holds (real, imaginary): the signal axes are 0..r-2.
  if (r < 2 || (axis && (*axis < 0 || *axis > r - 2)))
    c.invalid("axis " + (axis ? std::to_string(*axis) : std::string("?")) + " is not a signal axis of a rank-" + std::to_string(r) + " input (0.." + std::to_string(r - 2) + ")");
  // RDFT/IRDFT (and the Hermitian extension) need a constant axis in the CPU plugin: a run-time
  // axis is swapped with the last signal axis around the transform.
  std::optional<PortRef> swap;
  if (!axis && (onesided || via_rdft)) {
    Ints iota(static_cast<size_t>(r));
    for (int64_t i = 0; i < r; ++i) iota[static_cast<size_t>(i)] = i;
    PortRef idx = c.const_i64(iota);
    auto eq = [&](PortRef a, PortRef b) { return c.op("Equal", "opset1", {a, b}, kNumpy, ElemType::kBoolean); };
    PortRef last = c.scalar_i64(r - 2);
    PortRef perm = c.op("Select", "opset1", {eq(idx, last), axes, idx}, kNumpy, ElemType::kI64);
    swap = c.op("Select", "opset1", {eq(idx, axes), last, perm}, kNumpy, ElemType::kI64);
    x = c.op("Transpose", "opset1", {x, *swap});
    axis = r - 2;
  }
  if (axis) axes = c.const_i64({*axis});
  std::vector<PortRef> size;
  if (c.has_input(1)) size.push_back(to_1d(c, c.input(1)));
  auto with = [&](PortRef data) {
    std::vector<PortRef> in = {data, axes};
    in.insert(in.end(), size.begin(), size.end());
    return in;
  };
  PortRef y;
  if (inverse && onesided) {
    if (real) c.unsupported("an inverse one-sided DFT needs a complex (half-spectrum) input");
    y = unsqueeze_last(c, c.op("IRDFT", "opset9", with(x)));
  } else if (inverse) {
    y = c.op("IDFT", "opset7", with(real ? to_complex(c, x) : x));
  } else if (via_rdft) {
    y = c.op("RDFT", "opset9", with(squeeze_last(c, x)));
    if (!onesided) {
      PortRef n = size.empty() ? c.op("Gather", "opset8", {shape_of(c, x), axes, c.scalar_i64(0)}, {{"batch_dims", "0"}})
                               : size[0];
      y = hermitian_extend(c, y, to_scalar(c, n), *axis, r);
    }
  } else {
    y = c.op("DFT", "opset7", with(x));
    if (onesided) {
      // Complex input, one-sided output: the first n / 2 + 1 bins of the full transform.
      PortRef n = c.op("Gather", "opset8", {shape_of(c, y), axes, c.scalar_i64(0)}, {{"batch_dims", "0"}});
      PortRef half = bin(c, "Add", bin(c, "Divide", n, c.scalar_i64(2)), c.scalar_i64(1));
      y = c.op("Slice", "opset8", {y, c.const_i64({0}), half, c.const_i64({1}), axes});
    }
  }
  if (swap) y = c.op("Transpose", "opset1", {y, *swap});
  c.set_output(0, y);
}

void lower_stft(NodeContext& c) {
  // OpenVINO's STFT-15 takes a real [batch, length] signal and always returns the one-sided
  // spectrum as [batch, frames, bins, 2] (transpose_frames=false), like ONNX's default.
  PortRef signal = c.input(0);
  PShape s = c.shape(signal);
  if (!s || s->size() != 3 || (*s)[2] != 1) c.unsupported("STFT is lowered for real signals [batch, length, 1] only");
  if (c.attr_int("onesided", 1) == 0) c.unsupported("OpenVINO's STFT computes one-sided spectra only (onesided=0)");
  PortRef x = squeeze_last(c, signal);
  PortRef step = to_scalar(c, c.convert(c.input(1), ElemType::kI64));
  PortRef window, frame;
  if (c.has_input(3)) frame = to_scalar(c, c.convert(c.input(3), ElemType::kI64));
  if (c.has_input(2)) {
    window = c.input(2);
    if (!c.has_input(3)) frame = to_scalar(c, shape_of(c, window));
  } else {
    if (!c.has_input(3))
      frame = c.op("Gather", "opset8", {shape_of(c, x), c.scalar_i64(1), c.scalar_i64(0)}, {{"batch_dims", "0"}});
    window = c.op("Broadcast", "opset3", {c.scalar(c.type(x), 1.0), to_1d(c, frame)}, {{"mode", "numpy"}});
  }
  c.set_output(0, c.op("STFT", "opset15", {x, c.convert_like(window, x), frame, step}, {{"transpose_frames", "false"}}));
}

// Generalized cosine window a0 - a1 cos(2πn/N) + a2 cos(4πn/N), n = 0..size-1, with N = size
// (periodic) or size - 1 (symmetric).
LowerFn cosine_window(double a0, double a1, double a2) {
  return [=](NodeContext& c) {
    auto out = from_onnx(static_cast<DataType>(c.attr_int("output_datatype", 1)));
    if (!out) c.unsupported("output_datatype has no OpenVINO element type");
    PortRef size = to_scalar(c, c.convert(c.input(0), ElemType::kF32));
    PortRef n = c.op("Range", "opset4", {c.scalar(ElemType::kF32, 0), size, c.scalar(ElemType::kF32, 1)}, {{"output_type", "f32"}},
                     ElemType::kF32);
    PortRef period = c.attr_int("periodic", 1) != 0 ? size : bin(c, "Subtract", size, c.scalar(ElemType::kF32, 1));
    PortRef phase = bin(c, "Divide", bin(c, "Multiply", n, c.scalar(ElemType::kF32, 2 * M_PI)), period);
    PortRef w = bin(c, "Subtract", c.scalar(ElemType::kF32, a0), bin(c, "Multiply", c.scalar(ElemType::kF32, a1), c.op("Cos", "opset1", {phase})));
    if (a2 != 0) {
      PortRef cos2 = c.op("Cos", "opset1", {bin(c, "Multiply", phase, c.scalar(ElemType::kF32, 2))});
      w = bin(c, "Add", w, bin(c, "Multiply", c.scalar(ElemType::kF32, a2), cos2));
    }
    c.set_output(0, c.convert(w, *out));
  };
}

void lower_mel_weight_matrix(NodeContext& c) {
  // ONNX: num_mel_bins + 2 points spaced evenly on the mel scale from the lower edge frequency,
  // mapped to DFT bins b = floor((dft_length + 1) * hz / sample_rate); filter i rises linearly
  // over bins [b_i, b_i+1] and falls over [b_i+1, b_i+2). Output [dft_length / 2 + 1, num_mel_bins].
  auto out = from_onnx(static_cast<DataType>(c.attr_int("output_datatype", 1)));
  if (!out) c.unsupported("output_datatype has no OpenVINO element type");
  const ElemType f = ElemType::kF32;
  auto scalar_f = [&](size_t i) { return to_scalar(c, c.convert(c.input(i), f)); };
  auto scalar_i = [&](size_t i) { return to_scalar(c, c.convert(c.input(i), ElemType::kI64)); };
  PortRef mels = scalar_i(0), dft_length = scalar_i(1);
  auto hz_to_mel = [&](PortRef hz) {
    PortRef ratio = bin(c, "Add", c.scalar(f, 1), bin(c, "Divide", hz, c.scalar(f, 700)));
    return bin(c, "Multiply", c.scalar(f, 2595 / std::log(10.0)), c.op("Log", "opset1", {ratio}));
  };
  PortRef lo = hz_to_mel(scalar_f(3)), hi = hz_to_mel(scalar_f(4));
  PortRef points = c.op("Range", "opset4", {c.scalar_i64(0), bin(c, "Add", mels, c.scalar_i64(2)), c.scalar_i64(1)}, {{"output_type", "i64"}},
                        ElemType::kI64);
  // The mel step divides by the number of points (num_mel_bins + 2), as the ONNX reference does.
  PortRef step = bin(c, "Divide", bin(c, "Subtract", hi, lo), c.convert(bin(c, "Add", mels, c.scalar_i64(2)), f));
  PortRef mel = bin(c, "Add", bin(c, "Multiply", c.convert(points, f), step), lo);
  PortRef hz = bin(c, "Multiply", c.scalar(f, 700),
                   bin(c, "Subtract", c.op("Power", "opset1", {c.scalar(f, 10), bin(c, "Divide", mel, c.scalar(f, 2595))}, kNumpy), c.scalar(f, 1)));
  PortRef scaled = bin(c, "Multiply", c.convert(bin(c, "Add", dft_length, c.scalar_i64(1)), f), hz);
  PortRef bins = c.convert(c.op("Floor", "opset1", {bin(c, "Divide", scaled, scalar_f(2))}), f);
  // left / center / right edges of each filter as [1, mels] rows; spectrogram bins j as [S, 1].
  auto edges = [&](int64_t start) {
    PortRef e = c.op("Slice", "opset8", {bins, c.const_i64({start}), bin(c, "Add", to_1d(c, mels), c.const_i64({start})), c.const_i64({1})});
    return c.op("Unsqueeze", "opset1", {e, c.const_i64({0})});
  };
  PortRef left = edges(0), center = edges(1), right = edges(2);
  PortRef spec_bins = bin(c, "Add", bin(c, "Divide", dft_length, c.scalar_i64(2)), c.scalar_i64(1));
  PortRef j = c.op("Range", "opset4", {c.scalar(f, 0), c.convert(spec_bins, f), c.scalar(f, 1)}, {{"output_type", "f32"}}, f);
  j = c.op("Unsqueeze", "opset1", {j, c.const_i64({1})});
  auto cmp = [&](const char* type, PortRef a, PortRef b) { return c.op(type, "opset1", {a, b}, kNumpy, ElemType::kBoolean); };
  auto both = [&](PortRef a, PortRef b) { return c.op("LogicalAnd", "opset1", {a, b}, kNumpy, ElemType::kBoolean); };
  PortRef one = c.scalar(f, 1), zero = c.scalar(f, 0);
  // Rising edge (j - l) / (c - l) on l <= j <= c; a filter with c == l is 1 at j == c.
  PortRef rise_width = bin(c, "Subtract", center, left);
  PortRef rise = bin(c, "Divide", bin(c, "Subtract", j, left), bin(c, "Maximum", rise_width, one));
  rise = c.op("Select", "opset1", {cmp("Equal", rise_width, zero), one, rise}, kNumpy, f);
  PortRef on_rise = both(cmp("GreaterEqual", j, left), cmp("LessEqual", j, center));
  // Falling edge (r - j) / (r - c) on c < j < r.
  PortRef fall = bin(c, "Divide", bin(c, "Subtract", right, j), bin(c, "Maximum", bin(c, "Subtract", right, center), one));
  PortRef on_fall = both(cmp("Greater", j, center), cmp("Less", j, right));
  PortRef w = c.op("Select", "opset1", {on_fall, fall, zero}, kNumpy, f);
  w = c.op("Select", "opset1", {on_rise, rise, w}, kNumpy, f);
  c.set_output(0, c.convert(w, *out));
}

}  // namespace

void register_signal_ops(LowerRegistry& r) {
  r.add("DFT", lower_dft);
  r.add("STFT", lower_stft);
  r.add("HannWindow", cosine_window(0.5, 0.5, 0));
  r.add("HammingWindow", cosine_window(25.0 / 46, 21.0 / 46, 0));
  r.add("BlackmanWindow", cosine_window(0.42, 0.5, 0.08));
  r.add("MelWeightMatrix", lower_mel_weight_matrix);
}

}  // namespace irforge::ov
