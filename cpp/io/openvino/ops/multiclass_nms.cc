// Paddle's multiclass_nms3 (PaddleDetection's PP-YOLOE/YOLO heads): the irforge-domain op
// MulticlassNms, lowered to OpenVINO's MulticlassNms-9, which implements exactly Paddle's
// semantics. ONNX's NonMaxSuppression returns only indices (no per-image keep_top_k across
// classes, no nms_eta, no pixel-box +1 areas), so the op exists only in the `irforge` domain and
// the ONNX writer refuses it (io/onnx/writer.cc). The Paddle frontend makes it:
//   irforge::MulticlassNms(bboxes [N, M, 4], scores [N, C, M])
//       -> Out [K, 6] f32 rows (label, score, x1, y1, x2, y2), per image, by class then by
//          descending score; Index [K, 1] i32 (image * M + box); NmsRoisNum [N] i32 (K per image).
//   attrs score_threshold, nms_top_k (-1: all), keep_top_k (-1: all), nms_threshold, normalized
//       (0: pixel boxes, areas with +1), nms_eta (1: plain NMS, below 1: adaptive threshold),
//       background_label (-1: none).

#include "io/openvino/lowering.h"
#include "support/error.h"

namespace irforge::ov {

namespace {

void lower_multiclass_nms(NodeContext& c) {
  if (c.num_inputs() != 2 || !c.has_input(0) || !c.has_input(1)) c.invalid("takes exactly two inputs (boxes, scores)");
  if (c.num_outputs() != 3) c.invalid("has exactly three outputs (Out, Index, NmsRoisNum)");
  int64_t nms_top_k = c.attr_int("nms_top_k", -1), keep_top_k = c.attr_int("keep_top_k", -1);
  if (nms_top_k < -1 || keep_top_k < -1) c.invalid("nms_top_k and keep_top_k must be -1 or non-negative");
  int64_t background = c.attr_int("background_label", -1);
  if (background < -1) c.invalid("background_label must be -1 or a class index");
  float iou = c.attr_float("nms_threshold", 0.3f), score = c.attr_float("score_threshold", 0.f), eta = c.attr_float("nms_eta", 1.f);
  if (!(iou >= 0.f && iou <= 1.f)) c.invalid("nms_threshold must be in [0, 1]");
  if (score != score) c.invalid("score_threshold is NaN");
  if (!(eta > 0.f && eta <= 1.f)) c.invalid("nms_eta must be in (0, 1]");
  PortRef boxes = c.input(0);
  auto outs = c.op_multi("MulticlassNms", "opset9", {boxes, c.convert_like(c.input(1), boxes)},
                         {{"sort_result_type", "classid"},
                          {"output_type", "i32"},
                          {"nms_top_k", std::to_string(nms_top_k)},
                          {"keep_top_k", std::to_string(keep_top_k)},
                          {"sort_result_across_batch", "false"},
                          {"iou_threshold", fmt_float(iou)},
                          {"score_threshold", fmt_float(score)},
                          {"background_class", std::to_string(background)},
                          {"nms_eta", fmt_float(eta)},
                          {"normalized", c.attr_int("normalized", 1) ? "true" : "false"}},
                         {c.type(boxes), ElemType::kI32, ElemType::kI32});
  for (size_t i = 0; i < 3; ++i) c.set_output(i, outs[i]);
}

}  // namespace

void register_multiclass_nms_ops(LowerRegistry& r) { r.add("MulticlassNms", lower_multiclass_nms, "irforge"); }

}  // namespace irforge::ov
