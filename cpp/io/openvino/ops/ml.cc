// Ops of the ai.onnx.ml domain that are plain tensor math: Binarizer and ArrayFeatureExtractor.
// (String-keyed ones such as LabelEncoder, and TreeEnsemble, have no lowering.)
#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

namespace {

using namespace nn;

// Binarizer: 1 where X > threshold, else 0, in X's type.
void lower_binarizer(NodeContext& c) {
  PortRef x = c.input(0);
  PortRef above = c.op("Greater", "opset1", {x, c.scalar(c.type(x), c.attr_float("threshold", 0.f))}, kNumpy, ElemType::kBoolean);
  c.set_output(0, c.convert(above, c.type(x)));
}

// ArrayFeatureExtractor: the elements of X's last axis at the (flattened) indices Y. A 1-D X
// gives [1, len(Y)], as onnxruntime does.
void lower_array_feature_extractor(NodeContext& c) {
  auto rank = c.input_rank(0);
  if (!rank) c.unsupported("the rank of X must be known");
  PortRef x = c.input(0);
  PortRef idx = reshape(c, c.convert(c.input_keep_precision(1), ElemType::kI64), Ints{-1});
  PortRef y = c.op("Gather", "opset8", {x, idx, c.scalar_i64(-1)}, {{"batch_dims", "0"}});
  if (*rank == 1) y = c.op("Unsqueeze", "opset1", {y, c.const_i64({0})});
  c.set_output(0, y);
}

}  // namespace

void register_ml_ops(LowerRegistry& r) {
  r.add("Binarizer", lower_binarizer, "ai.onnx.ml");
  r.add("ArrayFeatureExtractor", lower_array_feature_extractor, "ai.onnx.ml");
}

}  // namespace irforge::ov
