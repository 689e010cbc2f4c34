// Loss ONNX ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, decomposed (OpenVINO
// has no loss ops).
//   picked[n, d...] = input[n, target[n, d...], d...]   (input = log-probabilities)
//   w = weight[target] (or 1), 0 where target == ignore_index
//   loss = -picked · w;  "mean" = Σloss / Σw (Σloss / count without weight or ignore_index)
#include "io/openvino/lowering.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

PortRef reduce_all(NodeContext& c, PortRef x, const char* op) {
  PortRef flat = c.op("Reshape", "opset1", {x, c.const_i64({-1})}, {{"special_zero", "false"}});
  return c.op(op, "opset1", {flat, c.const_i64({0})}, {{"keep_dims", "false"}});
}

// `log_prob` is [N, C, d...] log-probabilities; writes the loss to output 0.
void nll(NodeContext& c, PortRef log_prob) {
  PortRef target = c.input(1);
  ElemType t = c.type(log_prob);
  std::string reduction = c.attr_string("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean") c.unsupported("unknown reduction '" + reduction + "'");
  // Ignored positions may hold out-of-range class ids: gather class 0 there and weigh it 0.
  PortRef ignored;
  if (c.has_attr("ignore_index")) {
    ignored = c.op("Equal", "opset1", {target, c.scalar(c.type(target), static_cast<double>(c.attr_int("ignore_index", 0)))}, kNumpy,
                   ElemType::kBoolean);
    target = c.op("Select", "opset1", {ignored, c.scalar(c.type(target), 0), target}, kNumpy, c.type(target));
  }
  PortRef picked = c.op("GatherElements", "opset6", {log_prob, c.op("Unsqueeze", "opset1", {target, c.const_i64({1})})}, {{"axis", "1"}});
  PortRef loss = c.op("Negative", "opset1", {c.op("Squeeze", "opset1", {picked, c.const_i64({1})})});
  PortRef w;
  if (c.has_input(2)) w = c.op("Gather", "opset8", {c.convert_like(c.input(2), log_prob), target, c.scalar_i64(0)}, {{"batch_dims", "0"}});
  if (ignored.valid()) w = c.op("Select", "opset1", {ignored, c.scalar(t, 0), w.valid() ? w : c.scalar(t, 1)}, kNumpy, t);
  if (w.valid()) loss = c.op("Multiply", "opset1", {loss, w}, kNumpy);
  if (reduction == "sum") {
    loss = reduce_all(c, loss, "ReduceSum");
  } else if (reduction == "mean") {
    // w has the target's shape (a Select over `ignored` or a Gather by target).
    loss = w.valid() ? c.op("Divide", "opset1", {reduce_all(c, loss, "ReduceSum"), reduce_all(c, w, "ReduceSum")}, kNumpy)
                     : reduce_all(c, loss, "ReduceMean");
  }
  c.set_output(0, loss);
}

void lower_nll_loss(NodeContext& c) { nll(c, c.input(0)); }

void lower_softmax_cross_entropy_loss(NodeContext& c) {
  PortRef log_prob = c.op("LogSoftmax", "opset5", {c.input(0)}, {{"axis", "1"}});
  nll(c, log_prob);
  if (c.output_used(1)) c.set_output(1, log_prob);
}

}  // namespace

void register_loss_ops(LowerRegistry& r) {
  r.add("NegativeLogLikelihoodLoss", lower_nll_loss);
  r.add("SoftmaxCrossEntropyLoss", lower_softmax_cross_entropy_loss);
}

}  // namespace irforge::ov
