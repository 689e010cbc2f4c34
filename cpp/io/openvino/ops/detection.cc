// SSD's detection head: the irforge-domain op DetectionOutput, lowered to OpenVINO's
// DetectionOutput-8. ONNX has no such op (its NonMaxSuppression leaves decoding, per-class
// top_k and keep_top_k to a decomposition nobody runs fast), so it exists only in the `irforge`
// domain; the Caffe reader makes it (README: "The graph builder"):
//   irforge::DetectionOutput(loc [N, P * L * 4], conf [N, P * C], priors [1, 2 or 1, P * 4])
//       -> [1, 1, N * K, 7] rows (image, label, score, xmin, ymin, xmax, ymax), the kept
//       detections first, then a row with image -1. L = 1 with share_location, else C.
//   attrs num_classes (C), background_label_id (-1: none), share_location (0/1), nms_threshold,
//       top_k (-1: all), keep_top_k (-1: all), code_type ("CORNER" | "CENTER_SIZE"),
//       variance_encoded_in_target (0/1: priors has 1 row and loc is not scaled by variances),
//       confidence_threshold. Semantics are Caffe's DetectionOutputLayer with eta = 1.
// The ONNX writer refuses a model holding it (io/onnx/writer.cc).

#include "io/openvino/lowering.h"
#include "support/error.h"

namespace irforge::ov {

namespace {

void lower_detection_output(NodeContext& c) {
  if (c.num_inputs() != 3 || !c.has_input(0) || !c.has_input(1) || !c.has_input(2))
    c.invalid("takes exactly three inputs (locations, confidences, priors)");
  if (c.num_outputs() != 1) c.invalid("has exactly one output");
  int64_t classes = c.attr_int("num_classes", 0);
  if (classes < 1) c.invalid("needs num_classes >= 1");
  int64_t background = c.attr_int("background_label_id", 0);
  if (background < -1 || background >= classes) c.invalid("background_label_id must be -1 or a class below num_classes");
  int64_t top_k = c.attr_int("top_k", -1), keep_top_k = c.attr_int("keep_top_k", -1);
  if (top_k == 0 || top_k < -1 || keep_top_k == 0 || keep_top_k < -1) c.invalid("top_k and keep_top_k must be positive or -1");
  std::string code = c.attr_string("code_type", "CORNER");
  if (code != "CORNER" && code != "CENTER_SIZE") c.unsupported("code_type '" + code + "' (CORNER or CENTER_SIZE)");
  float nms = c.attr_float("nms_threshold", 0.3f), conf = c.attr_float("confidence_threshold", 0.f);
  if (!(nms >= 0.f && nms <= 1.f)) c.invalid("nms_threshold must be in [0, 1]");
  if (conf != conf) c.invalid("confidence_threshold is NaN");
  auto flag = [&](const char* name, int64_t dflt) { return c.attr_int(name, dflt) ? "true" : "false"; };
  PortRef y = c.op("DetectionOutput", "opset8", {c.input(0), c.input(1), c.input_keep_precision(2)},
                   {{"background_label_id", std::to_string(background)},
                    {"top_k", std::to_string(top_k)},
                    {"variance_encoded_in_target", flag("variance_encoded_in_target", 0)},
                    {"keep_top_k", std::to_string(keep_top_k)},
                    {"code_type", "caffe.PriorBoxParameter." + code},
                    {"share_location", flag("share_location", 1)},
                    {"nms_threshold", fmt_float(nms)},
                    {"confidence_threshold", fmt_float(conf)},
                    {"clip_after_nms", "false"},
                    {"clip_before_nms", "false"},
                    {"decrease_label_id", "false"},
                    {"normalized", "true"},
                    {"input_height", "1"},
                    {"input_width", "1"},
                    {"objectness_score", "0"}});
  c.set_output(0, y);
}

}  // namespace

void register_detection_ops(LowerRegistry& r) { r.add("DetectionOutput", lower_detection_output, "irforge"); }

}  // namespace irforge::ov
