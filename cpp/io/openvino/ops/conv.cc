// Convolutions: Conv, ConvTranspose, ConvInteger, DeformConv. ONNX keeps grouped weights flat
// ([M, C/G, k...]); OpenVINO's group ops want them split ([G, M/G, C/G, k...]). ONNX bias is a
// separate optional input; OpenVINO adds it with a broadcast Add, which the CPU plugin fuses.
#include <algorithm>
#include <limits>

#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

namespace {

using namespace nn;

// ONNX weights [A, B, k...] → OpenVINO's grouped [G, A/G, B, k...] (Conv: A = M, B = C/G;
// ConvTranspose: A = C, B = M/G).
PortRef grouped_weights(NodeContext& c, PortRef w, int64_t group) {
  PShape s = c.shape(w);
  if (s && !s->empty() && std::all_of(s->begin(), s->end(), [](int64_t d) { return d >= 0; })) {
    if ((*s)[0] % group != 0) c.invalid("group " + std::to_string(group) + " does not divide the weights' first dim " + std::to_string((*s)[0]));
    Ints target = {group, (*s)[0] / group};
    target.insert(target.end(), s->begin() + 1, s->end());
    return reshape(c, w, target);
  }
  PortRef tail = c.op("Slice", "opset8",
                      {shape_of(c, w), c.const_i64({1}), c.const_i64({std::numeric_limits<int64_t>::max()}), c.const_i64({1})});
  return reshape(c, w, c.op("Concat", "opset1", {c.const_i64({group, -1}), tail}, {{"axis", "0"}}));
}

PortRef add_bias(NodeContext& c, PortRef y, size_t bias_input, int64_t n) {
  if (!c.has_input(bias_input)) return y;
  // A constant bias is written as [1, C, 1, ...] directly rather than reshaped at run time.
  if (const Tensor* t = c.const_input(bias_input)) {
    Ints dims(static_cast<size_t>(n + 2), 1);
    dims[1] = static_cast<int64_t>(t->element_count());
    if (PortRef b = c.const_input_as(bias_input, dims); b.valid()) return binary(c, "Add", y, b);
  }
  return binary(c, "Add", y, per_channel(c, c.input(bias_input), n + 2));
}

// Input `i` (weights) in OpenVINO's grouped layout; a constant is written in that layout.
PortRef grouped_weights_input(NodeContext& c, size_t i, int64_t group) {
  if (const Tensor* t = c.const_input(i); t && !t->dims().empty() && group > 0 && t->dims()[0] % group == 0) {
    Ints target = {group, t->dims()[0] / group};
    target.insert(target.end(), t->dims().begin() + 1, t->dims().end());
    if (PortRef w = c.const_input_as(i, target); w.valid()) return w;
  }
  return grouped_weights(c, c.input(i), group);
}

// The group attribute, refused unless it is a positive count (the grouped layouts divide by it).
int64_t group_of(NodeContext& c) {
  int64_t group = c.attr_int("group", 1);
  if (group < 1) c.invalid("group " + std::to_string(group) + " must be at least 1");
  return group;
}

PortRef convolution(NodeContext& c, PortRef x, PortRef w, const Window& win, int64_t group) {
  if (group == 1) return c.op("Convolution", "opset1", {x, w}, conv_attrs(win));
  return c.op("GroupConvolution", "opset1", {x, grouped_weights(c, w, group)}, conv_attrs(win));
}

void lower_conv(NodeContext& c) {
  int64_t n = spatial_rank(c, 1);
  Window win = window_attrs(c, n);
  int64_t group = group_of(c);
  PortRef y = group == 1 ? convolution(c, c.input(0), c.input(1), win, 1)
                         : c.op("GroupConvolution", "opset1", {c.input(0), grouped_weights_input(c, 1, group)}, conv_attrs(win));
  c.set_output(0, add_bias(c, y, 2, n));
}

// With output_shape (or SAME_*, whose output is input * stride) the padding follows from the
// output size. OpenVINO takes that size as a third input and names the split the other way
// round: given an output size, its same_upper puts the odd padding unit at the beginning,
// which is what ONNX (onnxruntime) does for NOTSET and SAME_LOWER; its same_lower puts it at
// the end, as ONNX SAME_UPPER does. A negative total extends the output at the end in both,
// and both count output_padding into the total.
void lower_conv_transpose(NodeContext& c) {
  int64_t n = spatial_rank(c, 1);
  Window win = window_attrs(c, n);
  Ints output_padding = c.attr_ints("output_padding");
  if (output_padding.empty()) output_padding.assign(static_cast<size_t>(n), 0);
  int64_t group = group_of(c);
  std::vector<PortRef> inputs = {c.input(0), group == 1 ? c.input(1) : grouped_weights_input(c, 1, group)};
  Ints output_shape = c.attr_ints("output_shape");
  bool same = win.auto_pad == "same_upper" || win.auto_pad == "same_lower";
  if (!output_shape.empty() || same) win.auto_pad = win.auto_pad == "same_upper" ? "same_lower" : "same_upper";
  if (!output_shape.empty()) {
    if (static_cast<int64_t>(output_shape.size()) < n) c.unsupported("output_shape has fewer values than spatial dimensions");
    inputs.push_back(c.const_i64(Ints(output_shape.end() - n, output_shape.end())));
  } else if (same) {
    Ints spatial;
    for (int64_t i = 0; i < n; ++i) spatial.push_back(i + 2);
    PortRef in = c.op("Gather", "opset8", {shape_of(c, inputs[0]), c.const_i64(spatial), c.scalar_i64(0)}, {{"batch_dims", "0"}});
    inputs.push_back(binary(c, "Multiply", in, c.const_i64(win.strides)));
  }
  NodeContext::Attrs attrs = conv_attrs(win);
  attrs.emplace_back("output_padding", join_ints(output_padding));
  PortRef y = c.op(group == 1 ? "ConvolutionBackpropData" : "GroupConvolutionBackpropData", "opset1", inputs, attrs);
  c.set_output(0, add_bias(c, y, 2, n));
}

// ConvInteger: (x - x_zero_point) conv (w - w_zero_point) accumulated in int32. Computed in f32
// (exact while partial sums stay below 2^24) because the CPU plugin has no integer convolution.
void lower_conv_integer(NodeContext& c) {
  int64_t n = spatial_rank(c, 1);
  Window win = window_attrs(c, n);
  PortRef x = c.convert(c.input(0), ElemType::kF32);
  if (c.has_input(2)) x = binary(c, "Subtract", x, c.convert(c.input_keep_precision(2), ElemType::kF32));
  PortRef w = c.convert(c.input_keep_precision(1), ElemType::kF32);
  // A symmetric weight zero point (quantize_dynamic's int8 0) subtracts nothing; skipping it also
  // keeps w's static shape, which grouped weights are reshaped by.
  const Tensor* wz = c.has_input(3) ? c.const_input(3) : nullptr;
  bool zero_wz = all_zero_bytes(wz);
  if (c.has_input(3) && !zero_wz) {
    PortRef zp = c.convert(c.input_keep_precision(3), ElemType::kF32);
    // A per-output-channel zero point [M] applies along the weights' first axis.
    if (c.input_rank(3).value_or(0) == 1) {
      Ints target(static_cast<size_t>(n + 2), 1);
      target[0] = -1;
      zp = reshape(c, zp, target);
    }
    w = binary(c, "Subtract", w, zp);
  }
  PortRef y = convolution(c, x, w, win, group_of(c));
  c.set_output(0, c.convert(y, ElemType::kI32));
}

// DeformConv (opset 19) is DeformableConvolution-8 with the mask as its optional 4th input and
// the bias added after. ONNX samples outside the input as zero with bilinear weights on the
// border, which is OpenVINO's bilinear_interpolation_pad=true.
void lower_deform_conv(NodeContext& c) {
  int64_t n = spatial_rank(c, 1);
  if (n != 2) c.unsupported("only 2-D DeformConv maps to OpenVINO's DeformableConvolution");
  Window win = window_attrs(c, n);
  std::vector<PortRef> inputs = {c.input(0), c.input(2), c.input(1)};
  if (c.has_input(4)) inputs.push_back(c.input(4));
  NodeContext::Attrs attrs = conv_attrs(win);
  attrs.emplace_back("group", std::to_string(group_of(c)));
  int64_t offset_group = c.attr_int("offset_group", 1);
  if (offset_group < 1) c.invalid("offset_group " + std::to_string(offset_group) + " must be at least 1");
  attrs.emplace_back("deformable_group", std::to_string(offset_group));
  attrs.emplace_back("bilinear_interpolation_pad", "true");
  PortRef y = c.op("DeformableConvolution", "opset8", inputs, attrs);
  c.set_output(0, add_bias(c, y, 3, n));
}

}  // namespace

void register_conv_ops(LowerRegistry& r) {
  r.add("Conv", lower_conv);
  r.add("ConvTranspose", lower_conv_transpose);
  r.add("ConvInteger", lower_conv_integer);
  r.add("DeformConv", lower_deform_conv);
}

}  // namespace irforge::ov
