// Pooling: MaxPool (with indices), AveragePool, LpPool, the Global* pools and MaxUnpool.
// ONNX ceil_mode drops a last window that would start in the end padding, which is
// OpenVINO's "ceil_torch" rounding (MaxPool-14/AvgPool-14), not its plain "ceil".
#include <algorithm>
#include <string>

#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

namespace {

using namespace nn;

bool trivial(const Ints& v) {
  for (int64_t d : v)
    if (d != 1) return false;
  return true;
}

Window pool_window(NodeContext& c) {
  Ints kernel = c.attr_ints("kernel_shape");
  if (kernel.empty()) c.unsupported("kernel_shape is required");
  return window_attrs(c, static_cast<int64_t>(kernel.size()));
}

// ONNX MaxPool indices with storage_order=1 index the spatial dims column-major: for a 2-D
// pool, (n*C + c)*H*W + w*H + h instead of OpenVINO's row-major (n*C + c)*H*W + h*W + w.
PortRef column_major_indices(NodeContext& c, PortRef idx, PortRef x) {
  PortRef shape = shape_of(c, x);
  auto dim = [&](int64_t i) { return c.op("Gather", "opset8", {shape, c.scalar_i64(i), c.scalar_i64(0)}, {{"batch_dims", "0"}}); };
  PortRef h = dim(2), w = dim(3);
  PortRef hw = binary(c, "Multiply", h, w);
  PortRef in_plane = c.op("FloorMod", "opset1", {idx, hw}, kNumpy);
  PortRef base = binary(c, "Subtract", idx, in_plane);
  PortRef row = binary(c, "Divide", in_plane, w);
  PortRef col = c.op("FloorMod", "opset1", {in_plane, w}, kNumpy);
  return binary(c, "Add", base, binary(c, "Add", binary(c, "Multiply", col, h), row));
}

// The CPU plugin's MaxPool with an indices output pads same_lower like same_upper when the
// shapes are dynamic at compile time, so the SAME pads are made explicit here. They depend on
// the input size only through `in mod stride`: known for static dims and for stride 1 (total
// padding span - 1). same_upper is computed right by the plugin and is left to it when a pad is
// unknown; same_lower then has no correct lowering and is refused rather than run wrong.
void resolve_same_pads(NodeContext& c, Window& win, PortRef x) {
  if (win.auto_pad != "same_upper" && win.auto_pad != "same_lower") return;
  size_t n = win.kernel.size();
  PShape s = c.shape(x);
  Ints begin, end;
  for (size_t i = 0; i < n; ++i) {
    int64_t in = s && s->size() == n + 2 ? (*s)[i + 2] : -1, st = win.strides[i];
    int64_t span = (win.kernel[i] - 1) * win.dilations[i] + 1;
    if (in < 0 && st != 1) {
      if (win.auto_pad == "same_upper") return;
      c.unsupported("MaxPool with an indices output, auto_pad=SAME_LOWER and stride " + std::to_string(st) +
                    " needs spatial dim " + std::to_string(i) + " of the input to be static (the CPU plugin pads it as SAME_UPPER)");
    }
    int64_t out = in < 0 ? in : (in + st - 1) / st;
    int64_t total = in < 0 ? span - 1 : std::max<int64_t>(0, (out - 1) * st + span - in);
    begin.push_back(win.auto_pad == "same_upper" ? total / 2 : total - total / 2);
    end.push_back(total - begin.back());
  }
  win.pads_begin = begin;
  win.pads_end = end;
  win.auto_pad = "explicit";
}

void lower_max_pool(NodeContext& c) {
  Window win = pool_window(c);
  bool ceil = c.attr_int("ceil_mode", 0) != 0;
  PortRef x = c.input(0);
  if (c.output_used(1)) resolve_same_pads(c, win, x);
  NodeContext::Attrs attrs = {{"strides", join_ints(win.strides)},     {"dilations", join_ints(win.dilations)},
                              {"pads_begin", join_ints(win.pads_begin)}, {"pads_end", join_ints(win.pads_end)},
                              {"kernel", join_ints(win.kernel)},       {"rounding_type", ceil ? "ceil_torch" : "floor"},
                              {"auto_pad", win.auto_pad},              {"index_element_type", "i64"},
                              {"axis", "0"}};
  auto outs = c.op_multi("MaxPool", ceil ? "opset14" : "opset8", {x}, attrs, {c.type(x), ElemType::kI64});
  c.set_output(0, outs[0]);
  if (!c.output_used(1)) return;
  PortRef idx = outs[1];
  if (c.attr_int("storage_order", 0) != 0 && win.kernel.size() > 1) {
    if (win.kernel.size() != 2) c.unsupported("storage_order=1 indices are only lowered for 2-D pooling");
    idx = column_major_indices(c, idx, x);
  }
  c.set_output(1, idx);
}

// AvgPool-16 adds dilations; AvgPool-14 adds ceil_torch; AvgPool-1 has neither.
PortRef avg_pool(NodeContext& c, PortRef x, const Window& win, bool exclude_pad, bool ceil) {
  NodeContext::Attrs attrs = {{"strides", join_ints(win.strides)},  {"pads_begin", join_ints(win.pads_begin)},
                              {"pads_end", join_ints(win.pads_end)}, {"kernel", join_ints(win.kernel)},
                              {"exclude-pad", fmt_bool(exclude_pad)}, {"rounding_type", ceil ? "ceil_torch" : "floor"},
                              {"auto_pad", win.auto_pad}};
  const char* version = ceil ? "opset14" : "opset1";
  if (!trivial(win.dilations)) {
    attrs.emplace_back("dilations", join_ints(win.dilations));
    version = "opset16";
  }
  return c.op("AvgPool", version, {x}, attrs);
}

// With count_include_pad and ceil_mode, OpenVINO divides a window that reaches past the padded
// input by the whole kernel size; ONNX counts only the padding. Padding with zeros explicitly
// and excluding what lies beyond gives ONNX's divisor. Ceil mode's drop-the-last-window rule
// then compares against the padded end rather than the input's end + pads_begin; the two can
// disagree only when pads_end >= dilated kernel - stride + 1, and then the extra last window
// is sliced off (static dims).
void lower_average_pool(NodeContext& c) {
  Window win = pool_window(c);
  bool exclude_pad = c.attr_int("count_include_pad", 0) == 0;
  bool ceil = c.attr_int("ceil_mode", 0) != 0;
  PortRef x = c.input(0);
  if (exclude_pad || !ceil || win.auto_pad != "explicit") {
    c.set_output(0, avg_pool(c, x, win, exclude_pad, ceil));
    return;
  }
  size_t n = win.kernel.size();
  Ints keep_axes, keep_sizes;
  PShape s = c.shape(x);
  for (size_t i = 0; i < n; ++i) {
    int64_t span = (win.kernel[i] - 1) * win.dilations[i] + 1, st = win.strides[i];
    if (win.pads_end[i] < span - st + 1) continue;
    int64_t in = s && s->size() == n + 2 ? (*s)[i + 2] : -1;
    if (in < 0) c.unsupported("count_include_pad with ceil_mode and pads_end >= kernel - stride + 1 needs static spatial dims");
    int64_t padded = in + win.pads_begin[i] + win.pads_end[i];
    int64_t out = (padded - span + st - 1) / st + 1;
    if ((out - 1) * st >= in + win.pads_begin[i]) --out;
    keep_axes.push_back(static_cast<int64_t>(i) + 2);
    keep_sizes.push_back(out);
  }
  bool padded = false;
  for (size_t i = 0; i < n; ++i) padded = padded || win.pads_begin[i] || win.pads_end[i];
  if (padded) {
    Ints begin = {0, 0}, end = {0, 0};
    begin.insert(begin.end(), win.pads_begin.begin(), win.pads_begin.end());
    end.insert(end.end(), win.pads_end.begin(), win.pads_end.end());
    x = c.op("Pad", "opset12", {x, c.const_i64(begin), c.const_i64(end)}, {{"pad_mode", "constant"}});
    win.pads_begin.assign(n, 0);
    win.pads_end.assign(n, 0);
  }
  PortRef y = avg_pool(c, x, win, true, true);
  if (!keep_axes.empty())
    y = c.op("Slice", "opset8", {y, c.const_i64(Ints(keep_axes.size(), 0)), c.const_i64(keep_sizes), c.const_i64(Ints(keep_axes.size(), 1)), c.const_i64(keep_axes)});
  c.set_output(0, y);
}

// LpPool: (sum over the window of |x|^p)^(1/p), as an average pool that counts the zero padding
// times the window size. With ceil_mode, windows reaching past the padded input would be
// averaged over fewer elements; the extra end padding that ceil mode implies is made explicit
// instead, which needs static spatial dims.
void lower_lp_pool(NodeContext& c) {
  Window win = pool_window(c);
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  double p = c.opset() < 2 ? c.attr_float("p", 2.f) : static_cast<double>(c.attr_int("p", 2));
  if (c.attr_int("ceil_mode", 0) != 0 && win.auto_pad == "explicit") {
    PShape s = c.shape(x);
    size_t n = win.kernel.size();
    if (!s || s->size() != n + 2) c.unsupported("ceil_mode needs the input's spatial dims to be known");
    for (size_t i = 0; i < n; ++i) {
      int64_t in = (*s)[i + 2];
      if (in < 0) c.unsupported("ceil_mode needs the input's spatial dims to be known");
      int64_t span = (win.kernel[i] - 1) * win.dilations[i] + 1;
      int64_t padded = in + win.pads_begin[i] + win.pads_end[i];
      int64_t out = (padded - span + win.strides[i] - 1) / win.strides[i] + 1;
      if ((out - 1) * win.strides[i] >= in + win.pads_begin[i]) --out;
      win.pads_end[i] += std::max<int64_t>(0, (out - 1) * win.strides[i] + span - padded);
    }
  }
  PortRef a = c.op("Abs", "opset1", {x});
  if (p != 1.0) a = c.op("Power", "opset1", {a, c.scalar(t, p)}, kNumpy);
  double window = 1;
  for (int64_t k : win.kernel) window *= static_cast<double>(k);
  PortRef y = binary(c, "Multiply", avg_pool(c, a, win, false, false), c.scalar(t, window));
  if (p != 1.0) y = c.op("Power", "opset1", {y, c.scalar(t, 1.0 / p)}, kNumpy);
  c.set_output(0, y);
}

LowerFn global_pool(const char* reduce_type) {
  return [reduce_type](NodeContext& c) { c.set_output(0, reduce(c, reduce_type, c.input(0), trailing_axes(c, 0, 2))); };
}

void lower_global_lp_pool(NodeContext& c) {
  double p = c.opset() < 2 ? c.attr_float("p", 2.f) : static_cast<double>(c.attr_int("p", 2));
  PortRef x = c.input(0);
  PortRef axes = trailing_axes(c, 0, 2);
  if (p == 1.0 || p == 2.0) {
    c.set_output(0, reduce(c, p == 1.0 ? "ReduceL1" : "ReduceL2", x, axes));
    return;
  }
  ElemType t = c.type(x);
  PortRef s = reduce(c, "ReduceSum", c.op("Power", "opset1", {c.op("Abs", "opset1", {x}), c.scalar(t, p)}, kNumpy), axes);
  c.set_output(0, c.op("Power", "opset1", {s, c.scalar(t, 1.0 / p)}, kNumpy));
}

// MaxUnpool scatters X into zeros at the flat indices MaxPool produced (which count N and C).
// The output shape is the output_shape input, else (in - 1) * stride + kernel - pads per
// spatial dim.
void lower_max_unpool(NodeContext& c) {
  Window win = pool_window(c);
  PortRef x = c.input(0);
  int64_t n = static_cast<int64_t>(win.kernel.size());
  PortRef shape;
  if (c.has_input(2)) {
    shape = c.convert(c.input_keep_precision(2), ElemType::kI64);
  } else {
    PortRef xs = shape_of(c, x);
    auto gather = [&](const Ints& idx) { return c.op("Gather", "opset8", {xs, c.const_i64(idx), c.scalar_i64(0)}, {{"batch_dims", "0"}}); };
    Ints sp, extra;
    for (int64_t i = 0; i < n; ++i) {
      sp.push_back(i + 2);
      extra.push_back(win.kernel[i] - win.pads_begin[i] - win.pads_end[i] - win.strides[i]);
    }
    // (in - 1) * s + k - pads = in * s + (k - pads - s)
    PortRef spatial = binary(c, "Add", binary(c, "Multiply", gather(sp), c.const_i64(win.strides)), c.const_i64(extra));
    shape = c.op("Concat", "opset1", {gather({0, 1}), spatial}, {{"axis", "0"}});
  }
  PortRef total = reduce(c, "ReduceProd", shape, c.const_i64({0}));
  PortRef zeros = c.op("Broadcast", "opset3", {c.scalar(c.type(x), 0.0), total}, {{"mode", "numpy"}});
  PortRef flat = c.op("ScatterElementsUpdate", "opset3",
                      {zeros, reshape(c, c.input(1), Ints{-1}), reshape(c, x, Ints{-1}), c.scalar_i64(0)});
  c.set_output(0, reshape(c, flat, shape));
}

}  // namespace

void register_pool_ops(LowerRegistry& r) {
  r.add("MaxPool", lower_max_pool);
  r.add("AveragePool", lower_average_pool);
  r.add("LpPool", lower_lp_pool);
  r.add("GlobalAveragePool", global_pool("ReduceMean"));
  r.add("GlobalMaxPool", global_pool("ReduceMax"));
  r.add("GlobalLpPool", lower_global_lp_pool);
  r.add("MaxUnpool", lower_max_unpool);
}

}  // namespace irforge::ov
