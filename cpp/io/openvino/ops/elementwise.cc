// Element-wise ONNX ops: arithmetic, comparison, logic, unary math and activations.
// ONNX broadcasting is numpy-style, as OpenVINO's auto_broadcast="numpy".
#include <algorithm>
#include <cmath>
#include <limits>

#include "io/openvino/lowering.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

LowerFn binary(const char* type, ElemType out = ElemType::kDynamic, const char* version = "opset1") {
  return [type, out, version](NodeContext& c) { c.set_output(0, c.op(type, version, {c.input(0), c.input(1)}, kNumpy, out)); };
}

LowerFn unary(const char* type, const char* version = "opset1") {
  return [type, version](NodeContext& c) { c.set_output(0, c.op(type, version, {c.input(0)})); };
}

// Sum/Max/Min/Mean take any number of inputs.
LowerFn variadic(const char* type, bool mean = false) {
  return [type, mean](NodeContext& c) {
    PortRef acc = c.input(0);
    for (size_t i = 1; i < c.num_inputs(); ++i) acc = c.op(type, "opset1", {acc, c.input(i)}, kNumpy);
    if (mean && c.num_inputs() > 1) acc = c.op("Divide", "opset1", {acc, c.scalar(c.type(acc), static_cast<double>(c.num_inputs()))}, kNumpy);
    c.set_output(0, acc);
  };
}

void lower_div(NodeContext& c) {
  // ONNX integer division truncates toward zero; OpenVINO's default (python) division floors.
  c.set_output(0, c.op("Divide", "opset1", {c.input(0), c.input(1)}, {{"m_pythondiv", "false"}, {"auto_broadcast", "numpy"}}));
}

void lower_pow(NodeContext& c) {
  // ONNX's output has the base's type. An integer base with a float exponent is computed in
  // the exponent's type and truncated (4 ^ 0.5 = 2, not 4 ^ 0); otherwise the exponent takes
  // the base's type.
  PortRef base = c.input(0), exp = c.input(1);
  ElemType tb = c.type(base), te = c.type(exp);
  if (is_integer(tb) && is_float(te)) {
    c.set_output(0, c.convert(c.op("Power", "opset1", {c.convert(base, te), exp}, kNumpy), tb));
    return;
  }
  c.set_output(0, c.op("Power", "opset1", {base, c.convert_like(exp, base)}, kNumpy));
}

void lower_mod(NodeContext& c) {
  PortRef x = c.input(0), y = c.input(1);
  if (c.attr_int("fmod", 0) != 0) {
    c.set_output(0, c.op("Mod", "opset1", {x, y}, kNumpy));
    return;
  }
  PortRef r = c.op("FloorMod", "opset1", {x, y}, kNumpy);
  ElemType t = c.type(r);
  if (is_float(t)) {
    // Python-style float modulo by ±inf (ONNX follows numpy): a finite x stays x when it is zero
    // or has the divisor's sign, else the result is the divisor. OpenVINO's FloorMod gives NaN.
    auto is = [&](const char* type, PortRef v) { return c.op(type, "opset10", {v}, {}, ElemType::kBoolean); };
    auto logical = [&](const char* type, PortRef a, PortRef b) { return c.op(type, "opset1", {a, b}, kNumpy, ElemType::kBoolean); };
    PortRef zero = c.scalar(t, 0.0);
    PortRef x_finite = c.op("LogicalNot", "opset1", {logical("LogicalOr", is("IsInf", x), is("IsNaN", x))}, {}, ElemType::kBoolean);
    PortRef by_inf = logical("LogicalAnd", is("IsInf", y), x_finite);
    PortRef same_sign = logical("Equal", logical("Greater", x, zero), logical("Greater", y, zero));
    PortRef keep_x = logical("LogicalOr", logical("Equal", x, zero), same_sign);
    PortRef inf_result = c.op("Select", "opset1", {keep_x, x, y}, kNumpy, t);
    r = c.op("Select", "opset1", {by_inf, inf_result, r}, kNumpy, t);
  }
  c.set_output(0, r);
}

// Cast to float8 saturates by default (ONNX Cast-19 `saturate`): out-of-range values and
// infinities become the largest finite value. OpenVINO's Convert gives NaN (e4m3) or inf (e5m2)
// instead, which is the saturate=0 behaviour; saturation is a Clamp in front.
PortRef saturated_convert(NodeContext& c, PortRef x, ElemType to, bool saturate) {
  double max = to == ElemType::kF8E4M3 ? 448.0 : to == ElemType::kF8E5M2 ? 57344.0 : 0.0;
  ElemType from = c.type(x);
  if (saturate && max > 0 && from != ElemType::kF8E4M3 && from != ElemType::kF8E5M2) {
    PortRef clamped = c.op("Clamp", "opset1", {x}, {{"min", std::to_string(-max)}, {"max", std::to_string(max)}});
    // The CPU plugin's Clamp turns NaN into the lower bound; NaN must stay NaN.
    if (is_float(from)) clamped = c.op("Select", "opset1", {c.op("IsNaN", "opset10", {x}, {}, ElemType::kBoolean), x, clamped}, kNumpy, from);
    x = clamped;
  }
  return c.op("Convert", "opset1", {x}, {{"destination_type", elem_name(to)}}, to);
}

void lower_cast(NodeContext& c) {
  auto to = from_onnx(static_cast<DataType>(c.attr_int("to", 1)));
  if (!to || *to == ElemType::kString) c.unsupported("cast to this element type is not available in OpenVINO");
  // A bf16 weight widened to f32 (how LLM checkpoints are read): stored as f16 in an fp16 IR.
  const Tensor* w = c.const_input(0);
  if (w && w->dtype() == DataType::kBfloat16 && *to == ElemType::kF32 && c.lowering().options().compress_to_fp16) {
    c.set_output(0, c.lowering().constant_bf16_as_f32(*w, c.node().inputs()[0]->name()));
    return;
  }
  // A Shape cast to int32 (tf2onnx writes one per dynamic dim): a ShapeOf that outputs i32,
  // one layer instead of two, as ovc folds it.
  PortRef x = c.input(0);
  const Layer& src = c.graph().layers[x.layer];
  if (*to == ElemType::kI32 && src.type == "ShapeOf" && src.inputs.size() == 1) {
    c.set_output(0, c.op("ShapeOf", "opset3", {src.inputs[0]}, {{"output_type", "i32"}}, ElemType::kI32));
    return;
  }
  c.set_output(0, saturated_convert(c, x, *to, c.attr_int("saturate", 1) != 0));
}

void lower_cast_like(NodeContext& c) {
  ElemType to = c.type(c.input(1));
  if (to == ElemType::kDynamic) {
    c.set_output(0, c.convert_like(c.input(0), c.input(1)));
    return;
  }
  c.set_output(0, c.type(c.input(0)) == to ? c.input(0) : saturated_convert(c, c.input(0), to, c.attr_int("saturate", 1) != 0));
}

void lower_identity(NodeContext& c) { c.set_output(0, c.input(0)); }

void lower_clip(NodeContext& c) {
  PortRef x = c.input(0);
  std::optional<double> lo, hi;
  bool dynamic_bounds = false;
  if (c.opset() < 11) {
    if (c.has_attr("min")) lo = c.attr_float("min", 0.f);
    if (c.has_attr("max")) hi = c.attr_float("max", 0.f);
  } else {
    for (size_t i : {size_t{1}, size_t{2}}) {
      if (!c.has_input(i)) continue;
      auto v = c.const_floats(i);
      if (v && v->size() == 1) (i == 1 ? lo : hi) = (*v)[0];
      else dynamic_bounds = true;
    }
  }
  ElemType t = c.type(x);
  if (!dynamic_bounds && is_float(t)) {
    double min = lo ? *lo : -std::numeric_limits<double>::infinity();
    double max = hi ? *hi : std::numeric_limits<double>::infinity();
    c.set_output(0, c.op("Clamp", "opset1", {x}, {{"min", fmt_float(min)}, {"max", fmt_float(max)}}));  // infinities print as inf
    return;
  }
  // Integer types or bounds computed at run time: Maximum/Minimum keep exact semantics.
  PortRef y = x;
  if (c.has_input(1)) y = c.op("Maximum", "opset1", {y, c.input(1)}, kNumpy);
  else if (lo) y = c.op("Maximum", "opset1", {y, c.scalar(t, *lo)}, kNumpy);
  if (c.has_input(2)) y = c.op("Minimum", "opset1", {y, c.input(2)}, kNumpy);
  else if (hi) y = c.op("Minimum", "opset1", {y, c.scalar(t, *hi)}, kNumpy);
  c.set_output(0, y);
}

void lower_leaky_relu(NodeContext& c) {
  PortRef x = c.input(0);
  c.set_output(0, c.op("PRelu", "opset1", {x, c.scalar(c.type(x), c.attr_float("alpha", 0.01f))}));
}

void lower_prelu(NodeContext& c) { c.set_output(0, c.op("PRelu", "opset1", {c.input(0), c.convert_like(c.input(1), c.input(0))})); }

void lower_elu(NodeContext& c) {
  c.set_output(0, c.op("Elu", "opset1", {c.input(0)}, {{"alpha", std::to_string(c.attr_float("alpha", 1.f))}}));
}

void lower_selu(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  PortRef alpha = c.scalar(t, c.attr_float("alpha", 1.67326319217681884765625f));
  PortRef gamma = c.scalar(t, c.attr_float("gamma", 1.05070102214813232421875f));
  c.set_output(0, c.op("Selu", "opset1", {x, alpha, gamma}));
}

void lower_hard_sigmoid(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  float alpha = c.attr_float("alpha", 0.2f), beta = c.attr_float("beta", 0.5f);
  // torch's hardsigmoid (alpha 1/6, beta 1/2) is OpenVINO's HSigmoid: one layer, no constants.
  if (std::fabs(alpha - 1.f / 6) < 1e-7f && beta == 0.5f) return c.set_output(0, c.op("HSigmoid", "opset5", {x}));
  c.set_output(0, c.op("HardSigmoid", "opset1", {x, c.scalar(t, alpha), c.scalar(t, beta)}));
}

void lower_gelu(NodeContext& c) {
  std::string mode = c.attr_string("approximate", "none") == "tanh" ? "TANH" : "ERF";
  c.set_output(0, c.op("Gelu", "opset7", {c.input(0)}, {{"approximation_mode", mode}}));
}

void lower_reciprocal(NodeContext& c) {
  PortRef x = c.input(0);
  c.set_output(0, c.op("Divide", "opset1", {c.scalar(c.type(x), 1.0), x}, kNumpy));
}

void lower_where(NodeContext& c) {
  c.set_output(0, c.op("Select", "opset1", {c.input(0), c.input(1), c.input(2)}, kNumpy, c.type(c.input(1))));
}

void lower_is_inf(NodeContext& c) {
  c.set_output(0, c.op("IsInf", "opset10", {c.input(0)},
                       {{"detect_negative", c.attr_int("detect_negative", 1) ? "true" : "false"},
                        {"detect_positive", c.attr_int("detect_positive", 1) ? "true" : "false"}},
                       ElemType::kBoolean));
}

void lower_round(NodeContext& c) { c.set_output(0, c.op("Round", "opset5", {c.input(0)}, {{"mode", "half_to_even"}})); }

void lower_softplus(NodeContext& c) { c.set_output(0, c.op("SoftPlus", "opset4", {c.input(0)})); }

void lower_thresholded_relu(NodeContext& c) {
  // y = x if x > alpha else 0
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  PortRef mask = c.op("Greater", "opset1", {x, c.scalar(t, c.attr_float("alpha", 1.f))}, kNumpy, ElemType::kBoolean);
  c.set_output(0, c.op("Select", "opset1", {mask, x, c.scalar(t, 0.0)}, kNumpy, t));
}

void lower_celu(NodeContext& c) {
  // max(0,x) + min(0, alpha*(exp(x/alpha)-1))
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  double alpha = c.attr_float("alpha", 1.f);
  PortRef a = c.scalar(t, alpha);
  PortRef e = c.op("Exp", "opset1", {c.op("Divide", "opset1", {x, a}, kNumpy)});
  PortRef neg = c.op("Multiply", "opset1", {a, c.op("Subtract", "opset1", {e, c.scalar(t, 1.0)}, kNumpy)}, kNumpy);
  PortRef zero = c.scalar(t, 0.0);
  c.set_output(0, c.op("Add", "opset1", {c.op("Maximum", "opset1", {x, zero}, kNumpy), c.op("Minimum", "opset1", {neg, zero}, kNumpy)}, kNumpy));
}

bool is_signed_int(ElemType t) {
  return t == ElemType::kI4 || t == ElemType::kI8 || t == ElemType::kI16 || t == ElemType::kI32 || t == ElemType::kI64;
}

void lower_bit_shift(NodeContext& c) {
  // ONNX (BitShift-28) defines shifts by a negative amount or by >= the bit width: the result is
  // the sign fill alone (-1 for a negative x shifted right, else 0). OpenVINO leaves them
  // undefined, so they are selected explicitly unless the amounts are constants within range.
  bool right = c.attr_string("direction") == "RIGHT";
  PortRef x = c.input(0), y = c.input(1);
  ElemType t = c.type(x);
  PortRef z = c.op(right ? "BitwiseRightShift" : "BitwiseLeftShift", "opset15", {x, y}, kNumpy);
  auto bits = static_cast<int64_t>(elem_bits(t));
  auto amounts = c.const_ints(1);
  bool in_range = amounts && std::all_of(amounts->begin(), amounts->end(), [&](int64_t v) { return v >= 0 && v < bits; });
  if (!in_range) {
    PortRef bad = c.op("GreaterEqual", "opset1", {y, c.scalar(t, static_cast<double>(bits))}, kNumpy, ElemType::kBoolean);
    PortRef fill = c.scalar(t, 0.0);
    if (is_signed_int(t)) {
      PortRef negative = c.op("Less", "opset1", {y, c.scalar(t, 0.0)}, kNumpy, ElemType::kBoolean);
      bad = c.op("LogicalOr", "opset1", {bad, negative}, kNumpy, ElemType::kBoolean);
      if (right) {
        PortRef x_neg = c.op("Less", "opset1", {x, c.scalar(t, 0.0)}, kNumpy, ElemType::kBoolean);
        fill = c.op("Select", "opset1", {x_neg, c.scalar(t, -1.0), fill}, kNumpy, t);
      }
    }
    z = c.op("Select", "opset1", {bad, fill, z}, kNumpy, t);
  }
  c.set_output(0, z);
}

void lower_shrink(NodeContext& c) {
  // y = x + bias if x < -lambd; x - bias if x > lambd; else 0
  PortRef x = c.input(0);
  ElemType t = c.type(x);
  double lambd = c.attr_float("lambd", 0.5f), bias = c.attr_float("bias", 0.f);
  PortRef low = c.op("Less", "opset1", {x, c.scalar(t, -lambd)}, kNumpy, ElemType::kBoolean);
  PortRef high = c.op("Greater", "opset1", {x, c.scalar(t, lambd)}, kNumpy, ElemType::kBoolean);
  PortRef b = c.scalar(t, bias);
  PortRef y = c.op("Select", "opset1", {high, c.op("Subtract", "opset1", {x, b}, kNumpy), c.scalar(t, 0.0)}, kNumpy, t);
  c.set_output(0, c.op("Select", "opset1", {low, c.op("Add", "opset1", {x, b}, kNumpy), y}, kNumpy, t));
}

// x * sigmoid(alpha * x): OpenVINO's Swish with beta = alpha.
// beta = 1 is Swish's default: no constant input then (SiLU, as ovc writes it).
PortRef swish(NodeContext& c, PortRef x) {
  float alpha = c.attr_float("alpha", 1.f);
  if (alpha == 1.f) return c.op("Swish", "opset4", {x});
  return c.op("Swish", "opset4", {x, c.scalar(c.type(x), alpha)});
}

void lower_swiglu(NodeContext& c) { c.set_output(0, c.op("Multiply", "opset1", {swish(c, c.input(0)), c.input(1)}, kNumpy)); }

}  // namespace

void register_elementwise_ops(LowerRegistry& r) {
  r.add("Add", binary("Add"));
  r.add("Sub", binary("Subtract"));
  r.add("Mul", binary("Multiply"));
  r.add("Div", lower_div);
  r.add("Pow", lower_pow);
  r.add("Mod", lower_mod);
  r.add("Max", variadic("Maximum"));
  r.add("Min", variadic("Minimum"));
  r.add("Sum", variadic("Add"));
  r.add("Mean", variadic("Add", true));
  r.add("Equal", binary("Equal", ElemType::kBoolean));
  r.add("Less", binary("Less", ElemType::kBoolean));
  r.add("Greater", binary("Greater", ElemType::kBoolean));
  r.add("LessOrEqual", binary("LessEqual", ElemType::kBoolean));
  r.add("GreaterOrEqual", binary("GreaterEqual", ElemType::kBoolean));
  r.add("And", binary("LogicalAnd", ElemType::kBoolean));
  r.add("Or", binary("LogicalOr", ElemType::kBoolean));
  r.add("Xor", binary("LogicalXor", ElemType::kBoolean));
  r.add("Not", unary("LogicalNot"));
  r.add("Abs", unary("Abs"));
  r.add("Neg", unary("Negative"));
  r.add("Exp", unary("Exp"));
  r.add("Log", unary("Log"));
  r.add("Sqrt", unary("Sqrt"));
  r.add("Relu", unary("ReLU"));
  r.add("Sigmoid", unary("Sigmoid"));
  r.add("Tanh", unary("Tanh"));
  r.add("Erf", unary("Erf"));
  r.add("Floor", unary("Floor"));
  r.add("Ceil", unary("Ceiling"));
  r.add("Sin", unary("Sin"));
  r.add("Cos", unary("Cos"));
  r.add("Tan", unary("Tan"));
  r.add("Asin", unary("Asin"));
  r.add("Acos", unary("Acos"));
  r.add("Atan", unary("Atan"));
  r.add("Sinh", unary("Sinh"));
  r.add("Cosh", unary("Cosh"));
  r.add("Asinh", unary("Asinh", "opset4"));
  r.add("Acosh", unary("Acosh", "opset4"));
  r.add("Atanh", unary("Atanh", "opset4"));
  r.add("Sign", unary("Sign"));
  r.add("Softsign", unary("SoftSign", "opset9"));
  r.add("Mish", unary("Mish", "opset4"));
  r.add("HardSwish", unary("HSwish", "opset4"));
  r.add("IsNaN", [](NodeContext& c) { c.set_output(0, c.op("IsNaN", "opset10", {c.input(0)}, {}, ElemType::kBoolean)); });
  r.add("IsInf", lower_is_inf);
  r.add("Round", lower_round);
  r.add("Softplus", lower_softplus);
  r.add("Reciprocal", lower_reciprocal);
  r.add("Identity", lower_identity);
  r.add("Cast", lower_cast);
  r.add("CastLike", lower_cast_like);
  r.add("Clip", lower_clip);
  r.add("LeakyRelu", lower_leaky_relu);
  r.add("PRelu", lower_prelu);
  r.add("Elu", lower_elu);
  r.add("Selu", lower_selu);
  r.add("HardSigmoid", lower_hard_sigmoid);
  r.add("Gelu", lower_gelu);
  r.add("Where", lower_where);
  r.add("ThresholdedRelu", lower_thresholded_relu);
  r.add("Celu", lower_celu);
  r.add("BitShift", lower_bit_shift);
  r.add("BitwiseAnd", binary("BitwiseAnd", ElemType::kDynamic, "opset13"));
  r.add("BitwiseOr", binary("BitwiseOr", ElemType::kDynamic, "opset13"));
  r.add("BitwiseXor", binary("BitwiseXor", ElemType::kDynamic, "opset13"));
  r.add("BitwiseNot", unary("BitwiseNot", "opset13"));
  r.add("Shrink", lower_shrink);
  r.add("Swish", [](NodeContext& c) { c.set_output(0, swish(c, c.input(0))); });
  r.add("SwiGLU", lower_swiglu);
}

}  // namespace irforge::ov
