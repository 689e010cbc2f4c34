#include "passes/legalize/expand_activations_norms.h"

#include <cmath>

#include "passes/legalize/expand_util.h"
#include "support/error.h"

namespace irforge::passes {

namespace {

DataType stash(const Node* node) {
  int64_t s = node->attr_int("stash_type", 1);
  if (s != 1 && s != static_cast<int64_t>(DataType::kDouble) && s != static_cast<int64_t>(DataType::kFloat16) &&
      s != static_cast<int64_t>(DataType::kBfloat16))
    fail(ErrorKind::kUnsupported, "cannot expand " + node->describe() + ": stash_type " + std::to_string(s) + " is not a float type");
  return static_cast<DataType>(s);
}

Value* scale_of(const Node* node) {
  if (!node->input(1)) fail(ErrorKind::kInvalidModel, "cannot expand " + node->describe() + ": it has no scale input");
  return node->input(1);
}

// scale * (a / sqrt(mean(a^2 over axes) + epsilon)), normalized in stash type `st` and cast
// back to `t`: the common part of LayerNormalization (a = x - mean) and RMSNormalization (a = x).
Value* normalize_and_scale(Expansion& e, const Node* node, Value* a, const std::vector<int64_t>& axes, DataType st, DataType t) {
  Value* ms = e.reduce_mean(e.op("Mul", {a, a}, {}, st), axes);
  Value* den = e.op("Sqrt", {e.op("Add", {ms, e.scalar(node->attr_float("epsilon", 1e-5f), st)}, {}, st)}, {}, st);
  return e.op("Mul", {e.cast(e.op("Div", {a, den}, {}, st), st, t), scale_of(node)});
}

}  // namespace

// Gelu(x) = 0.5 x (1 + erf(x / sqrt 2)); approximate="tanh":
//           0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
void expand_gelu(Graph& g, Node* node, int64_t opset) {
  Expansion e(g, node, opset);
  Value* x = node->input(0);
  Value* inner;
  if (node->attr_string("approximate", "none") == "tanh") {
    Value* x3 = e.op("Mul", {e.op("Mul", {x, x}), x});
    Value* s = e.op("Add", {x, e.op("Mul", {x3, e.scalar(0.044715)})});
    inner = e.op("Tanh", {e.op("Mul", {s, e.scalar(std::sqrt(2.0 / M_PI))})});
  } else {
    inner = e.op("Erf", {e.op("Mul", {x, e.scalar(M_SQRT1_2)})});
  }
  Value* y = e.op("Mul", {e.op("Mul", {x, e.op("Add", {inner, e.scalar(1.0)})}), e.scalar(0.5)});
  e.finish(y);
}

// LayerNormalization: over axes [axis, rank) in stash_type,
//   y = (x - mean) / sqrt(var + epsilon) * Scale + B.
void expand_layer_normalization(Graph& g, Node* node, int64_t opset) {
  Expansion e(g, node, opset);
  Value* x = node->input(0);
  DataType t = e.elem(), st = stash(node);
  auto axes = e.trailing_axes(x, node->attr_int("axis", -1));
  Value* xs = e.cast(x, t, st);
  Value* d = e.op("Sub", {xs, e.reduce_mean(xs, axes)}, {}, st);
  Value* y = normalize_and_scale(e, node, d, axes, st, t);
  if (node->input(2)) y = e.op("Add", {y, node->input(2)});
  e.finish(y);
}

// RMSNormalization: over axes [axis, rank) in stash_type,
//   y = x / sqrt(mean(x^2) + epsilon) * scale.
void expand_rms_normalization(Graph& g, Node* node, int64_t opset) {
  Expansion e(g, node, opset);
  Value* x = node->input(0);
  DataType t = e.elem(), st = stash(node);
  auto axes = e.trailing_axes(x, node->attr_int("axis", -1));
  Value* xs = e.cast(x, t, st);
  e.finish(normalize_and_scale(e, node, xs, axes, st, t));
}

// Swish(x) = x * sigmoid(alpha * x).
void expand_swish(Graph& g, Node* node, int64_t opset) {
  Expansion e(g, node, opset);
  Value* x = node->input(0);
  float alpha = node->attr_float("alpha", 1.f);
  Value* arg = alpha == 1.f ? x : e.op("Mul", {x, e.scalar(alpha)});
  e.finish(e.op("Mul", {x, e.op("Sigmoid", {arg})}));
}

// HardSigmoid(x) = max(0, min(1, alpha * x + beta)).
void expand_hard_sigmoid(Graph& g, Node* node, int64_t opset) {
  Expansion e(g, node, opset);
  Value* v = e.op("Add", {e.op("Mul", {node->input(0), e.scalar(node->attr_float("alpha", 0.2f))}), e.scalar(node->attr_float("beta", 0.5f))});
  e.finish(e.op("Max", {e.op("Min", {v, e.scalar(1.0)}), e.scalar(0.0)}));
}

// HardSwish(x) = x * HardSigmoid(x; alpha = 1/6, beta = 0.5).
void expand_hard_swish(Graph& g, Node* node, int64_t opset) {
  Expansion e(g, node, opset);
  Value* x = node->input(0);
  std::vector<Attribute> attrs;
  attrs.push_back(float_attr("alpha", 1.f / 6.f));
  attrs.push_back(float_attr("beta", 0.5f));
  e.finish(e.op("Mul", {x, e.op("HardSigmoid", {x}, std::move(attrs))}));
}

// Mish(x) = x * tanh(softplus(x)).
void expand_mish(Graph& g, Node* node, int64_t opset) {
  Expansion e(g, node, opset);
  Value* x = node->input(0);
  e.finish(e.op("Mul", {x, e.op("Tanh", {e.op("Softplus", {x})})}));
}

}  // namespace irforge::passes
