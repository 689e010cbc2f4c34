// UNIDIRECTIONAL_SEQUENCE_LSTM with int8 input/output and an int16 cell: TFLite's integer kernel
// (lstm_eval.cc, the "8x8_16" step) as float math with a quantize point wherever the kernel
// rounds, unrolled over the time steps (the rounding sits inside the recurrence, so one ONNX LSTM
// node cannot carry it). Per step, as the kernel computes it:
//   gate pre-activations: (W x + b) and (R h) each requantized to Q3.12 (scale 2^-12, int16),
//     summed with saturation (the non-layer-norm kernel ignores the intermediates' scales 0-3);
//   sigmoid / tanh of Q3.12 -> Q0.15 (scale 2^-15, int16);
//   cell = sat16(q_c(f * c) + q_c(i * g)), q_c the cell state's power-of-two scale, then clipped;
//   tanh(cell) -> Q0.15, and hidden = q8(o * tanh(cell)) with intermediate 4's scale, which is
//   also the next step's output state and the op's output (both must share that quantization).
// One kernel quirk is reproduced on purpose: ApplyTanh dispatches on 15 + log2(cell scale) in
// 0..6 and does nothing otherwise, so for a cell scale below 2^-15 or above 2^-9 the kernel's
// tanh buffer keeps the input gate and hidden = o * i. Matching the interpreter means doing the
// same (a model calibrated to |cell| < 0.5 gets 2^-16, e.g. a small Keras LSTM).
#include <cmath>
#include <cstring>

#include "io/tflite/translate.h"

namespace irforge::tflite {

namespace {

constexpr int64_t kMaxUnrolledSteps = 1024;  // each step is ~25 nodes

// `real` rounded to the grid of (scale, zero point) and saturated to the type's range.
Value* on_grid(OpContext& c, Value* real, float scale, int64_t zero_point, int8_t type, const std::string& what) {
  TensorDef t;
  t.name = c.name + "/" + what;
  t.type = type;
  t.quant.scale = {scale};
  t.quant.zero_point = {zero_point};
  return c.tr.fake_quantize(real, t);
}

// The per-tensor (scale, zero point) of a tensor the kernel requires quantized as `type`.
void per_tensor(OpContext& c, const TensorDef& t, int8_t type, const char* role, float* scale, int64_t* zero_point) {
  if (t.type != type || t.quant.scale.size() != 1 || t.quant.zero_point.size() != 1)
    c.unsupported(std::string("the integer LSTM kernel needs its ") + role + " ('" + t.name + "') quantized per tensor as " +
                  (type == kInt8 ? "int8" : type == kInt16 ? "int16" : "int32"));
  if (!(t.quant.scale[0] > 0.f) || !std::isfinite(t.quant.scale[0]))
    c.invalid(std::string(role) + " '" + t.name + "' has a non-positive or non-finite scale");
  *scale = t.quant.scale[0];
  *zero_point = t.quant.zero_point[0];
}

Value* scalar_index(OpContext& c, int64_t i) {
  std::vector<uint8_t> bytes(8);
  std::memcpy(bytes.data(), &i, 8);
  return c.tr.builder().owned_constant(c.tr.graph(), c.name + "/step", DataType::kInt64, {}, std::move(bytes));
}

}  // namespace

void integer_lstm(OpContext& c) {
  const TensorDef& x_def = c.in_tensor(0);
  if (x_def.type != kInt8) c.unsupported("an integer LSTM with a non-int8 input (only the int8 input, int16 cell kernel is supported)");
  if (!c.has_input(1)) c.unsupported("an integer LSTM with coupled input and forget gates (CIFG)");
  for (size_t i : {9, 10, 11, 16, 17, 20, 21, 22, 23})
    if (c.has_input(i)) c.unsupported("an integer peephole, projection or layer-norm LSTM");
  if (c.opt<int8_t>(4, kActTanh) != kActTanh) c.unsupported("an LSTM activation other than tanh");
  for (size_t i = 1; i <= 15; ++i)
    if ((i <= 8 || i >= 12) && !c.is_const(i)) c.unsupported("input " + std::to_string(i) + " (a weight or bias) is not a constant");
  if (c.op.intermediates.size() == 12) c.unsupported("the 8x8_8 integer LSTM kernel (12 intermediates; only the int16-cell 8x8_16 kernel is supported)");
  if (c.op.intermediates.size() != 5)
    c.invalid("has " + std::to_string(c.op.intermediates.size()) + " intermediate tensors; the int8 LSTM kernel needs 5 (the hidden scale is the fifth)");
  for (size_t i = 1; i <= 8; ++i) {
    float s;
    int64_t z;
    per_tensor(c, c.in_tensor(i), kInt8, "weight", &s, &z);
  }
  for (size_t i = 12; i <= 15; ++i)
    if (c.in_tensor(i).type != kInt32) c.unsupported("the integer LSTM kernel needs int32 gate biases ('" + c.in_tensor(i).name + "')");

  float out_state_scale, cell_scale, hidden_scale, output_scale;
  int64_t out_state_zp, cell_zp, hidden_zp, output_zp;
  per_tensor(c, c.in_tensor(18), kInt8, "output state", &out_state_scale, &out_state_zp);
  per_tensor(c, c.in_tensor(19), kInt16, "cell state", &cell_scale, &cell_zp);
  per_tensor(c, c.tr.subgraph().tensors[c.op.intermediates[4]], kInt8, "hidden intermediate", &hidden_scale, &hidden_zp);
  per_tensor(c, c.out_tensor(0), kInt8, "output", &output_scale, &output_zp);
  int cell_exponent = 0;
  if (cell_zp != 0 || std::frexp(cell_scale, &cell_exponent) != 0.5f)
    c.invalid("cell state scale " + std::to_string(cell_scale) + " (zero point " + std::to_string(cell_zp) +
              ") is not a power of two with zero point 0, which the integer kernel requires");
  --cell_exponent;  // cell_scale = 2^cell_exponent
  // The kernel copies the hidden int8 values into the output state and the output unchanged.
  if (hidden_scale != out_state_scale || hidden_zp != out_state_zp || hidden_scale != output_scale || hidden_zp != output_zp)
    c.unsupported("the hidden intermediate, output state and output are quantized differently (the kernel reinterprets the int8 values)");

  const bool time_major = c.opt<uint8_t>(10, 0) != 0;
  const int64_t time_axis = time_major ? 0 : 1;
  if (x_def.shape.size() != 3) c.invalid("input is not 3-D");
  if (!x_def.shape_signature.empty() && x_def.shape_signature.size() == 3 && x_def.shape_signature[time_axis] == -1)
    c.unsupported("an integer LSTM over a dynamic number of time steps (it is unrolled)");
  const int64_t steps = x_def.shape[time_axis];
  if (steps < 1 || steps > kMaxUnrolledSteps)
    c.unsupported("an integer LSTM over " + std::to_string(steps) + " time steps (it is unrolled: 1.." + std::to_string(kMaxUnrolledSteps) + ")");
  const TensorDef& rw = c.in_tensor(5);
  if (rw.shape.size() != 2 || rw.shape[0] != rw.shape[1]) c.invalid("recurrent weights are not square [cells, cells] (no projection)");

  // Gate order i, f, g (cell), o; weights transposed so that x @ W gives [.., 4 * cells].
  auto stacked = [&](std::vector<size_t> idx, int64_t axis, std::vector<int64_t> perm) {
    std::vector<Value*> parts;
    for (size_t i : idx) parts.push_back(c.weight(i, perm));
    return c.node("Concat", parts, std::move(Attrs().i("axis", axis)));
  };
  Value* w = stacked({1, 2, 3, 4}, 1, {1, 0});
  Value* r = stacked({5, 6, 7, 8}, 1, {1, 0});
  Value* bias = stacked({12, 13, 14, 15}, 0, {});

  const float q3_12 = std::ldexp(1.f, -12), q0_15 = std::ldexp(1.f, -15);
  Value* x_part = on_grid(c, c.node("Add", {c.node("MatMul", {c.in(0), w}), bias}), q3_12, 0, kInt16, "input_gates");
  Value* h = c.in(18);
  Value* cell = c.in(19);
  const bool tanh_applied = cell_exponent + 15 >= 0 && cell_exponent + 15 <= 6;
  float cell_clip = c.opt<float>(6, 0.f);
  // The kernel's clip: the real clip in cell steps, truncated to int16.
  float clip_steps = std::trunc(std::fmin(std::fmax(cell_clip / cell_scale, -32768.f), 32767.f));
  std::vector<Value*> outs;
  for (int64_t t = 0; t < steps; ++t) {
    Value* xt = c.node("Gather", {x_part, scalar_index(c, t)}, std::move(Attrs().i("axis", time_axis)));
    Value* rec = on_grid(c, c.node("MatMul", {h, r}), q3_12, 0, kInt16, "recurrent_gates");
    Value* pre = on_grid(c, c.node("Add", {xt, rec}), q3_12, 0, kInt16, "gates");
    auto g = c.nodes("Split", {pre}, 4, std::move(Attrs().i("axis", -1).i("num_outputs", 4)));
    Value* in_gate = on_grid(c, c.node("Sigmoid", {g[0]}), q0_15, 0, kInt16, "input_gate");
    Value* forget = on_grid(c, c.node("Sigmoid", {g[1]}), q0_15, 0, kInt16, "forget_gate");
    Value* cand = on_grid(c, c.node("Tanh", {g[2]}), q0_15, 0, kInt16, "cell_gate");
    Value* out_gate = on_grid(c, c.node("Sigmoid", {g[3]}), q0_15, 0, kInt16, "output_gate");
    Value* kept = on_grid(c, c.node("Mul", {forget, cell}), cell_scale, 0, kInt16, "forget_cell");
    Value* added = on_grid(c, c.node("Mul", {in_gate, cand}), cell_scale, 0, kInt16, "input_cell");
    cell = on_grid(c, c.node("Add", {kept, added}), cell_scale, 0, kInt16, "cell");
    if (clip_steps > 0) cell = c.node("Clip", {cell, c.f32(-clip_steps * cell_scale), c.f32(clip_steps * cell_scale)});
    Value* squashed = tanh_applied ? on_grid(c, c.node("Tanh", {cell}), q0_15, 0, kInt16, "cell_tanh") : in_gate;
    h = on_grid(c, c.node("Mul", {out_gate, squashed}), hidden_scale, hidden_zp, kInt8, "hidden");
    outs.push_back(c.node("Unsqueeze", {h, c.i64s({time_axis})}));
  }
  c.set_out(0, outs.size() == 1 ? outs[0] : c.node("Concat", outs, std::move(Attrs().i("axis", time_axis))));
}

}  // namespace irforge::tflite
