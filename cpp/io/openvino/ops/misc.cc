// ONNX ops of the "misc" family lowered to OpenVINO opsets: Det, NonMaxSuppression, RoiAlign.
#include <cmath>
#include <limits>

#include "io/openvino/lowering.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

PortRef bin(NodeContext& c, const char* type, PortRef a, PortRef b) { return c.op(type, "opset1", {a, b}, kNumpy); }

PortRef to_scalar(NodeContext& c, PortRef p) {
  return c.op("Reshape", "opset1", {p, c.const_i64({}, Ints{0})}, {{"special_zero", "false"}});
}

PortRef gather(NodeContext& c, PortRef x, int64_t index, int64_t axis) {
  return c.op("Gather", "opset8", {x, c.scalar_i64(index), c.scalar_i64(axis)}, {{"batch_dims", "0"}});
}

void lower_det(NodeContext& c) {
  // OpenVINO has no determinant: Gaussian elimination with partial pivoting, unrolled over the
  // static matrix size n. Step k moves the row with the largest |a_ik| (i >= k) to row k (a row
  // swap flips the sign), multiplies the determinant by the pivot and clears column k below it.
  // Swapping rows k and p of A is A + (e_k - e_p) (row_p - row_k)^T.
  PortRef a = c.input(0);
  PShape s = c.shape(a);
  if (!s || s->size() < 2 || s->back() < 0) c.unsupported("Det needs a known rank and a static matrix size");
  int64_t n = s->back();
  // The elimination is unrolled: about 30 layers and two n-element constants per row.
  if (n > 256) c.unsupported("Det of " + std::to_string(n) + "x" + std::to_string(n) + " matrices (unrolled elimination; at most 256x256)");
  ElemType t = c.type(a);
  if (n == 0) {  // the determinant of a 0x0 matrix is 1: the product over no elements
    c.set_output(0, c.op("ReduceProd", "opset1", {a, c.const_i64({-2, -1})}, {{"keep_dims", "false"}}));
    return;
  }
  PortRef zero = c.scalar(t, 0.0), one = c.scalar(t, 1.0);
  PortRef det;
  for (int64_t k = 0; k < n; ++k) {
    Ints below_k(static_cast<size_t>(n)), unit_k(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < n; ++i) below_k[static_cast<size_t>(i)] = i >= k;
    unit_k[static_cast<size_t>(k)] = 1;
    PortRef rows_ge_k = c.convert(c.const_i64(below_k), ElemType::kBoolean);
    PortRef col = gather(c, a, k, -1);  // [..., n]
    PortRef score = c.op("Select", "opset1", {rows_ge_k, c.op("Abs", "opset1", {col}), c.scalar(t, -1.0)}, kNumpy, t);
    auto top = c.op_multi("TopK", "opset11", {score, c.scalar_i64(1)},
                          {{"axis", "-1"}, {"mode", "max"}, {"sort", "value"}, {"index_element_type", "i64"}, {"stable", "true"}},
                          {t, ElemType::kI64});
    PortRef e_p = c.op("OneHot", "opset1", {top[1], c.scalar_i64(n), one, zero}, {{"axis", "-1"}}, t);  // [..., 1, n]
    PortRef e_k = c.convert(c.const_i64(unit_k), t);
    PortRef row_k = c.op("Unsqueeze", "opset1", {gather(c, a, k, -2), c.const_i64({-2})});                 // [..., 1, n]
    PortRef row_p = c.op("MatMul", "opset1", {e_p, a}, {{"transpose_a", "false"}, {"transpose_b", "false"}});  // [..., 1, n]
    PortRef e_p_vec = c.op("Squeeze", "opset1", {e_p, c.const_i64({-2})});
    PortRef dir = c.op("Unsqueeze", "opset1", {bin(c, "Subtract", e_k, e_p_vec), c.const_i64({-1})});  // [..., n, 1]
    a = bin(c, "Add", a, bin(c, "Multiply", dir, bin(c, "Subtract", row_p, row_k)));
    PortRef swapped = c.op("NotEqual", "opset1", {top[1], c.scalar_i64(k)}, kNumpy, ElemType::kBoolean);
    PortRef pivot = gather(c, gather(c, a, k, -2), k, -1);  // [...]
    PortRef signed_pivot = c.op("Select", "opset1", {c.op("Squeeze", "opset1", {swapped, c.const_i64({-1})}),
                                                     c.op("Negative", "opset1", {pivot}), pivot},
                                kNumpy, t);
    det = k == 0 ? signed_pivot : bin(c, "Multiply", det, signed_pivot);
    if (k + 1 == n) break;
    // Rows below k: row_i -= (a_ik / pivot) row_k. A zero pivot means the column is zero from
    // row k down (the determinant is already 0): divide by 1 instead.
    Ints below(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) below[static_cast<size_t>(i)] = i > k;
    PortRef safe = c.op("Select", "opset1", {c.op("Equal", "opset1", {pivot, zero}, kNumpy, ElemType::kBoolean), one, pivot}, kNumpy, t);
    PortRef factors = bin(c, "Multiply", bin(c, "Divide", gather(c, a, k, -1), c.op("Unsqueeze", "opset1", {safe, c.const_i64({-1})})),
                          c.convert(c.const_i64(below), t));
    PortRef new_row_k = c.op("Unsqueeze", "opset1", {gather(c, a, k, -2), c.const_i64({-2})});
    a = bin(c, "Subtract", a, bin(c, "Multiply", c.op("Unsqueeze", "opset1", {factors, c.const_i64({-1})}), new_row_k));
  }
  c.set_output(0, det);
}

void lower_non_max_suppression(NodeContext& c) {
  // ONNX scalars arrive as 1-element tensors. ONNX suppresses a box when IoU > threshold and
  // keeps per-class results ordered by batch, class, then score (sort_result_descending=false).
  // A missing score threshold means no score filtering.
  PortRef max_out = c.has_input(2) ? to_scalar(c, c.convert(c.input(2), ElemType::kI64)) : c.scalar_i64(0);
  PortRef iou = c.has_input(3) ? to_scalar(c, c.input(3)) : c.scalar(ElemType::kF32, 0.0);
  PortRef score = c.has_input(4) ? to_scalar(c, c.input(4)) : c.scalar(ElemType::kF32, -std::numeric_limits<float>::max());
  PortRef boxes = c.input(0);
  auto outs = c.op_multi("NonMaxSuppression", "opset9",
                         {boxes, c.input(1), max_out, c.convert_like(iou, boxes), c.convert_like(score, boxes)},
                         {{"box_encoding", c.attr_int("center_point_box", 0) ? "center" : "corner"},
                          {"sort_result_descending", "false"},
                          {"output_type", "i64"}},
                         {ElemType::kI64, c.type(boxes), ElemType::kI64});
  c.set_output(0, outs[0]);
}

void lower_roi_align(NodeContext& c) {
  // ONNX coordinate_transformation_mode (opset 16; before it, output_half_pixel) maps to
  // OpenVINO's aligned_mode: half_pixel shifts by -0.5 pixel, output_half_pixel does not.
  std::string mode = c.opset() >= 16 ? c.attr_string("coordinate_transformation_mode", "half_pixel") : "output_half_pixel";
  std::string aligned;
  if (mode == "half_pixel") aligned = "half_pixel_for_nn";
  else if (mode == "output_half_pixel") aligned = "asymmetric";
  else c.unsupported("coordinate_transformation_mode '" + mode + "' is not supported");
  std::string scale = fmt_float(c.attr_float("spatial_scale", 1.f));
  PortRef x = c.input(0);
  c.set_output(0, c.op("ROIAlign", "opset9", {x, c.convert_like(c.input(1), x), c.convert(c.input(2), ElemType::kI32)},
                       {{"pooled_h", std::to_string(c.attr_int("output_height", 1))},
                        {"pooled_w", std::to_string(c.attr_int("output_width", 1))},
                        {"sampling_ratio", std::to_string(c.attr_int("sampling_ratio", 0))},
                        {"spatial_scale", scale},
                        {"mode", c.attr_string("mode", "avg")},
                        {"aligned_mode", aligned}}));
}

}  // namespace

void register_misc_ops(LowerRegistry& r) {
  r.add("Det", lower_det);
  r.add("NonMaxSuppression", lower_non_max_suppression);
  r.add("RoiAlign", lower_roi_align);
}

}  // namespace irforge::ov
