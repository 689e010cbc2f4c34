// Recurrent ONNX ops: RNN, GRU, LSTM → RNNSequence/GRUSequence/LSTMSequence-5, or a Loop over
// time steps for what those lack; the stateful CausalConvWithState.
//
// Layouts differ: ONNX X is [seq, batch, input] (layout 0) or [batch, seq, input] (layout 1),
// states [num_directions, batch, hidden] (layout 0) or [batch, num_directions, hidden];
// OpenVINO takes X [batch, seq, input] and states [batch, num_directions, hidden] and returns
// Y [batch, num_directions, seq, hidden]. Gate order: LSTM weights are iofc in ONNX and fico
// in OpenVINO; GRU is zrh in both. ONNX biases hold the input and recurrent halves separately
// ([dirs, 2·gates·hidden]); OpenVINO adds them (except GRU's recurrent h bias under
// linear_before_reset).
//
// Constant weights are reordered and biases summed here, on the bytes, so the IR holds the
// OpenVINO-layout weights and no Split/Concat/Add per op; a layout Transpose in front of X and
// zero initial states built from the input's shape (torch.onnx.export's ConstantOfShape) are
// absorbed, so what remains around the sequence op is what the layouts need.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <map>
#include <memory>

#include "io/openvino/ops/quant_common.h"
#include "io/openvino/ops/subgraph.h"
#include "io/openvino/ops/tensor_util.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

enum class Cell { kRnn, kGru, kLstm };

const std::vector<int> kFico = {2, 0, 3, 1};  // OpenVINO's LSTM gate blocks from ONNX's iofc

// Composed with a Transpose in front (another RNN's output layout), or none when they cancel.
PortRef transpose(NodeContext& c, PortRef x, const Ints& perm) { return tensor_util::transpose_composed(c, x, perm); }

PortRef dim_1d(NodeContext& c, PortRef x, int64_t axis) {
  PortRef shape = c.op("ShapeOf", "opset3", {x}, {{"output_type", "i64"}}, ElemType::kI64);
  return c.op("Gather", "opset8", {shape, c.const_i64({axis}), c.scalar_i64(0)}, {{"batch_dims", "0"}});
}

std::vector<PortRef> split(NodeContext& c, PortRef x, int64_t axis, int parts) {
  return c.op_multi("Split", "opset1", {x, c.scalar_i64(axis)}, {{"num_splits", std::to_string(parts)}},
                    std::vector<ElemType>(static_cast<size_t>(parts), c.type(x)));
}

PortRef concat(NodeContext& c, const std::vector<PortRef>& parts, int64_t axis) {
  return c.op("Concat", "opset1", parts, {{"axis", std::to_string(axis)}});
}

// Reorders the gate blocks of `x` along `axis`: output block k is input block order[k].
PortRef reorder_gates(NodeContext& c, PortRef x, int64_t axis, const std::vector<int>& order) {
  std::vector<PortRef> blocks = split(c, x, axis, static_cast<int>(order.size()));
  std::vector<PortRef> out;
  for (int k : order) out.push_back(blocks[static_cast<size_t>(k)]);
  return concat(c, out, axis);
}

// Input i as f32 values when it is a constant f32 tensor of `dims` (other inputs take the
// general path, where OpenVINO validates the shapes).
std::optional<std::vector<float>> const_f32_input(NodeContext& c, size_t i, const Ints& dims) {
  if (!c.has_input(i)) return std::nullopt;
  const Tensor* t = c.const_input(i);
  if (!t || t->dtype() != DataType::kFloat || t->dims() != dims) return std::nullopt;
  auto values = c.const_floats(i);
  if (!values) return std::nullopt;
  return std::vector<float>(values->begin(), values->end());
}

// A weight constant computed here, compressible to f16 like the model's own weights.
PortRef weight_constant(NodeContext& c, const std::vector<float>& values, const Ints& dims, const std::string& name) {
  auto t = std::make_shared<Tensor>(name, DataType::kFloat, dims);
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  t->set_owned(std::move(bytes));
  PortRef p = c.lowering().constant(*t, true, name);
  Layer* l = &c.graph().layers[p.layer];
  if (l->decompression_convert) l = &c.graph().layers[l->inputs[0].layer];
  l->constant->tensor = t;  // the Const owns the computed bytes
  return p;
}

// Blocks of `block` floats, `groups` per direction: output block k is input block order[k].
std::vector<float> reorder_blocks(const std::vector<float>& v, size_t groups, size_t block, const std::vector<int>& order) {
  std::vector<float> out(v.size());
  for (size_t base = 0; base + groups * block <= v.size(); base += groups * block)
    for (size_t k = 0; k < order.size(); ++k)
      std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(base + static_cast<size_t>(order[k]) * block), block,
                  out.begin() + static_cast<std::ptrdiff_t>(base + k * block));
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

struct Activation {
  std::string name;  // lower case
  float alpha = 0.f, beta = 0.f;
};

bool native_activation(const Activation& a) { return a.name == "sigmoid" || a.name == "tanh" || a.name == "relu"; }

// The recurrent op as parsed from the node, in OpenVINO's layout.
struct Recurrent {
  Cell cell;
  int64_t hidden = 0, dirs = 1;
  std::string direction;
  bool batch_major = false;
  std::vector<std::vector<Activation>> acts;  // per direction: f (, g (, h))
  float clip = 0.f;                           // 0: none
  bool w_r_in_ov_gate_order = false;          // W and R already reordered (DynamicQuantizeLSTM)
  PortRef x, h0, c0, lens, w, r, b, p;        // x [batch, seq, input]; h0/c0 [batch, dirs, hidden]
};

// ONNX activations with their alpha/beta: the activation_alpha/beta lists are consumed, in
// order, by the functions that take the parameter; others get the ONNX defaults.
std::vector<std::vector<Activation>> parse_activations(NodeContext& c, Cell cell, int64_t dirs) {
  size_t per_dir = cell == Cell::kLstm ? 3 : cell == Cell::kGru ? 2 : 1;
  std::vector<std::string> names;
  if (const Attribute* a = c.node().attr("activations"))
    for (const std::string& s : a->strings) names.push_back(lower(s));
  if (names.empty()) {
    std::vector<std::string> one = cell == Cell::kLstm ? std::vector<std::string>{"sigmoid", "tanh", "tanh"}
                                   : cell == Cell::kGru ? std::vector<std::string>{"sigmoid", "tanh"}
                                                        : std::vector<std::string>{"tanh"};
    for (int64_t d = 0; d < dirs; ++d) names.insert(names.end(), one.begin(), one.end());
  } else if (names.size() == per_dir && dirs == 2) {
    names.insert(names.end(), names.begin(), names.end());
  }
  if (names.size() != per_dir * static_cast<size_t>(dirs))
    c.unsupported("expected " + std::to_string(per_dir * static_cast<size_t>(dirs)) + " activations");
  std::vector<float> alphas = c.attr_floats("activation_alpha"), betas = c.attr_floats("activation_beta");
  size_t ai = 0, bi = 0;
  std::vector<std::vector<Activation>> out(static_cast<size_t>(dirs));
  for (size_t k = 0; k < names.size(); ++k) {
    Activation a{names[k]};
    const std::string& n = a.name;
    bool takes_alpha = n == "affine" || n == "leakyrelu" || n == "thresholdedrelu" || n == "scaledtanh" || n == "hardsigmoid" || n == "elu";
    bool takes_beta = n == "affine" || n == "scaledtanh" || n == "hardsigmoid";
    a.alpha = n == "leakyrelu" ? 0.01f : n == "hardsigmoid" ? 0.2f : 1.f;
    a.beta = n == "hardsigmoid" ? 0.5f : n == "scaledtanh" ? 1.f : 0.f;
    if (takes_alpha && ai < alphas.size()) a.alpha = alphas[ai++];
    if (takes_beta && bi < betas.size()) a.beta = betas[bi++];
    if (!native_activation(a) && !takes_alpha && n != "softsign" && n != "softplus") c.unsupported("unknown activation '" + n + "'");
    out[k / per_dir].push_back(a);
  }
  return out;
}

PortRef activate(NodeContext& b, PortRef x, const Activation& a) {
  ElemType t = b.type(x);
  const std::string& n = a.name;
  if (n == "sigmoid") return b.op("Sigmoid", "opset1", {x});
  if (n == "tanh") return b.op("Tanh", "opset1", {x});
  if (n == "relu") return b.op("ReLU", "opset1", {x});
  if (n == "affine") return b.op("Add", "opset1", {b.op("Multiply", "opset1", {x, b.scalar(t, a.alpha)}, kNumpy), b.scalar(t, a.beta)}, kNumpy);
  if (n == "leakyrelu") return b.op("PReLU", "opset1", {x, b.scalar(t, a.alpha)});
  if (n == "thresholdedrelu")
    return b.op("Select", "opset1", {b.op("Greater", "opset1", {x, b.scalar(t, a.alpha)}, kNumpy, ElemType::kBoolean), x, b.scalar(t, 0)}, kNumpy, t);
  if (n == "scaledtanh")
    return b.op("Multiply", "opset1", {b.op("Tanh", "opset1", {b.op("Multiply", "opset1", {x, b.scalar(t, a.beta)}, kNumpy)}), b.scalar(t, a.alpha)}, kNumpy);
  if (n == "hardsigmoid") return b.op("HardSigmoid", "opset1", {x, b.scalar(t, a.alpha), b.scalar(t, a.beta)});
  if (n == "elu") return b.op("Elu", "opset1", {x}, {{"alpha", std::to_string(a.alpha)}});
  if (n == "softsign") return b.op("SoftSign", "opset9", {x});
  return b.op("SoftPlus", "opset4", {x});
}

// [batch, dirs, seq, hidden] etc. → ONNX layouts, set as the node's outputs.
void set_outputs(NodeContext& c, const Recurrent& rc, const std::vector<PortRef>& outs) {
  // Y: [batch, dirs, seq, hidden] → [seq, dirs, batch, hidden] or [batch, seq, dirs, hidden].
  if (c.output_used(0)) c.set_output(0, transpose(c, outs[0], rc.batch_major ? Ints{0, 2, 1, 3} : Ints{2, 1, 0, 3}));
  for (size_t i = 1; i < outs.size(); ++i)
    if (c.output_used(i)) c.set_output(i, rc.batch_major ? outs[i] : transpose(c, outs[i], {1, 0, 2}));
}

// RNNSequence/GRUSequence/LSTMSequence-5.
void lower_native(NodeContext& c, const Recurrent& rc) {
  ElemType t = c.type(rc.x);
  int gates = rc.cell == Cell::kLstm ? 4 : rc.cell == Cell::kGru ? 3 : 1;
  bool lbr = rc.cell == Cell::kGru && c.attr_int("linear_before_reset", 0) != 0;
  int64_t gh = gates * rc.hidden;
  const std::vector<int>& fico = kFico;
  // W and R [dirs, gates·hidden, cols]: gate blocks reordered on the bytes when constant.
  auto matrix = [&](size_t i, PortRef p) {
    if (rc.w_r_in_ov_gate_order) return p;
    const Tensor* t = c.const_input(i);
    if (t && t->dims().size() == 3)
      if (auto v = const_f32_input(c, i, {rc.dirs, gh, t->dims()[2]})) {
        if (rc.cell != Cell::kLstm) return p;
        return weight_constant(c, reorder_blocks(*v, 4, static_cast<size_t>(rc.hidden * t->dims()[2]), fico), t->dims(),
                               c.node().inputs()[i]->name() + "/fico");
      }
    return rc.cell == Cell::kLstm ? reorder_gates(c, p, 1, fico) : p;
  };
  PortRef w = matrix(1, rc.w), r = matrix(2, rc.r), b;
  int64_t b_width = (gates + (lbr ? 1 : 0)) * rc.hidden;
  if (auto v = const_f32_input(c, 3, {rc.dirs, 2 * gh})) {
    // Input and recurrent biases summed (under linear_before_reset: [z, r, Wb_h, Rb_h]).
    std::vector<float> sum(static_cast<size_t>(rc.dirs * b_width));
    size_t n = static_cast<size_t>(gh), h = static_cast<size_t>(rc.hidden);
    for (size_t d = 0; d < static_cast<size_t>(rc.dirs); ++d) {
      const float* wb = v->data() + d * 2 * n;
      const float* rb = wb + n;
      float* out = sum.data() + d * static_cast<size_t>(b_width);
      for (size_t k = 0; k < n; ++k) out[k] = wb[k] + (lbr && k >= 2 * h ? 0.f : rb[k]);
      if (lbr) std::copy_n(rb + 2 * h, h, out + n);
    }
    if (rc.cell == Cell::kLstm) sum = reorder_blocks(sum, 4, h, fico);
    b = weight_constant(c, sum, {rc.dirs, b_width}, c.node().inputs()[3]->name() + "/sum");
  } else if (rc.b.valid()) {
    std::vector<PortRef> halves = split(c, rc.b, 1, 2);  // input and recurrent biases
    if (lbr) {
      // [Wb_z + Rb_z, Wb_r + Rb_r, Wb_h, Rb_h]: the recurrent h bias stays inside r ⊙ (...).
      std::vector<PortRef> wb = split(c, halves[0], 1, 3), rb = split(c, halves[1], 1, 3);
      b = concat(c, {c.op("Add", "opset1", {wb[0], rb[0]}, kNumpy), c.op("Add", "opset1", {wb[1], rb[1]}, kNumpy), wb[2], rb[2]}, 1);
    } else {
      b = c.op("Add", "opset1", {halves[0], halves[1]}, kNumpy);
    }
    if (rc.cell == Cell::kLstm) b = reorder_gates(c, b, 1, fico);
  } else {
    b = weight_constant(c, std::vector<float>(static_cast<size_t>(rc.dirs * b_width), 0.f), {rc.dirs, b_width}, c.layer_name() + "/B");
    if (t != ElemType::kF32) b = c.convert(b, t);
  }
  std::string act_list;
  for (const Activation& a : rc.acts[0]) act_list += (act_list.empty() ? "" : ",") + a.name;
  NodeContext::Attrs attrs = {{"direction", rc.direction}, {"hidden_size", std::to_string(rc.hidden)}, {"activations", act_list},
                              {"activations_alpha", ""}, {"activations_beta", ""}, {"clip", std::to_string(rc.clip)}};
  if (rc.cell == Cell::kGru) attrs.insert(attrs.begin() + 1, {"linear_before_reset", lbr ? "true" : "false"});
  std::vector<PortRef> outs;
  if (rc.cell == Cell::kLstm)
    outs = c.op_multi("LSTMSequence", "opset5", {rc.x, rc.h0, rc.c0, rc.lens, w, r, b}, attrs, {t, t, t});
  else
    outs = c.op_multi(rc.cell == Cell::kGru ? "GRUSequence" : "RNNSequence", "opset5", {rc.x, rc.h0, rc.lens, w, r, b}, attrs, {t, t});
  set_outputs(c, rc, outs);
}

// The ONNX equations step by step in a Loop over time, one Loop per direction: for what the
// sequence ops lack (peepholes, input_forget, other activations, per-direction activations)
// and for sequence_lens under dynamic shapes, which the CPU plugin's sequence ops ignore.
// Past a batch row's length its state is kept and its output is zero; a reverse direction runs
// forward over the row's valid part reversed (ReverseSequence).
void lower_step_loop(NodeContext& c, const Recurrent& rc) {
  ElemType t = c.type(rc.x);
  int gates = rc.cell == Cell::kLstm ? 4 : rc.cell == Cell::kGru ? 3 : 1;
  bool lbr = rc.cell == Cell::kGru && c.attr_int("linear_before_reset", 0) != 0;
  bool input_forget = rc.cell == Cell::kLstm && c.attr_int("input_forget", 0) != 0;
  PortRef seq = c.op("Gather", "opset8", {c.op("ShapeOf", "opset3", {rc.x}, {{"output_type", "i64"}}, ElemType::kI64), c.scalar_i64(1), c.scalar_i64(0)});
  PortRef lens = c.convert(rc.lens, ElemType::kI64);
  auto pick = [&](PortRef v, int64_t d, int64_t axis) {
    return c.op("Gather", "opset8", {v, c.scalar_i64(d), c.scalar_i64(axis)}, {{"batch_dims", "0"}});
  };
  std::vector<PortRef> ys, hs, cs;
  for (int64_t d = 0; d < rc.dirs; ++d) {
    bool reverse = rc.direction == "reverse" || d == 1;
    const std::vector<Activation>& act = rc.acts[static_cast<size_t>(d)];
    PortRef x = reverse ? c.op("ReverseSequence", "opset1", {rc.x, lens}, {{"batch_axis", "0"}, {"seq_axis", "1"}}) : rc.x;
    PortRef w = pick(rc.w, d, 0), r = pick(rc.r, d, 0);  // [gates·hidden, input or hidden]
    PortRef wb, rb;
    if (rc.b.valid()) {
      std::vector<PortRef> halves = split(c, pick(rc.b, d, 0), 0, 2);
      wb = halves[0];
      rb = halves[1];
    } else {
      wb = rb = c.op("Broadcast", "opset3", {c.scalar(t, 0), c.const_i64({gates * rc.hidden})}, {{"mode", "numpy"}});
    }

    LoopBuilder loop(c, seq, c.scalar(ElemType::kBoolean, 1));
    NodeContext& b = loop.b();
    PortRef step = loop.iteration();
    auto in = [&](PortRef v, std::optional<int64_t> rank, const char* name) { return loop.invariant(v, dynamic_dims(rank), name); };
    PortRef x_t = b.op("Gather", "opset8", {in(x, 3, "x"), step, b.scalar_i64(1)}, {{"batch_dims", "0"}});  // [batch, input]
    PortRef h_in = loop.carried(pick(rc.h0, d, 1), dynamic_dims(2), "h");
    PortRef c_in = rc.cell == Cell::kLstm ? loop.carried(pick(rc.c0, d, 1), dynamic_dims(2), "c") : PortRef{};
    PortRef w_p = in(w, 2, "W"), r_p = in(r, 2, "R");
    auto matmul_t = [&](PortRef a, PortRef m) { return b.op("MatMul", "opset1", {a, m}, {{"transpose_a", "false"}, {"transpose_b", "true"}}); };
    auto add = [&](PortRef a, PortRef v) { return b.op("Add", "opset1", {a, v}, kNumpy); };
    auto mul = [&](PortRef a, PortRef v) { return b.op("Multiply", "opset1", {a, v}, kNumpy); };
    auto clipped = [&](PortRef v) {
      if (rc.clip <= 0.f) return v;
      std::string bound = std::to_string(rc.clip);
      return b.op("Clamp", "opset1", {v}, {{"min", "-" + bound}, {"max", bound}});
    };
    PortRef xw = add(matmul_t(x_t, w_p), in(wb, 1, "Wb"));
    PortRef hr = add(matmul_t(h_in, r_p), in(rb, 1, "Rb"));
    PortRef h_new, c_new;
    if (rc.cell == Cell::kRnn) {
      h_new = activate(b, clipped(add(xw, hr)), act[0]);
    } else if (rc.cell == Cell::kGru) {
      std::vector<PortRef> xs = split(b, xw, 1, 3), hs3 = split(b, hr, 1, 3);
      PortRef z = activate(b, clipped(add(xs[0], hs3[0])), act[0]);
      PortRef rg = activate(b, clipped(add(xs[1], hs3[1])), act[0]);
      PortRef pre;
      if (lbr) {
        pre = add(xs[2], mul(rg, hs3[2]));
      } else {
        // (r ⊙ h) R_hᵀ + Rb_h: the reset gate applies before the recurrent matmul.
        PortRef r_h = in(split(c, r, 0, 3)[2], 2, "R_h"), rb_h = in(split(c, rb, 0, 3)[2], 1, "Rb_h");
        pre = add(xs[2], add(matmul_t(mul(rg, h_in), r_h), rb_h));
      }
      PortRef hh = activate(b, clipped(pre), act[1]);
      h_new = add(hh, mul(z, b.op("Subtract", "opset1", {h_in, hh}, kNumpy)));  // (1 - z) ⊙ hh + z ⊙ h
    } else {
      std::vector<PortRef> g = split(b, add(xw, hr), 1, 4);  // i, o, f, c
      std::vector<PortRef> peep;
      if (rc.p.valid()) peep = split(b, in(pick(rc.p, d, 0), 1, "P"), 0, 3);  // i, o, f
      auto with_peep = [&](PortRef v, size_t k, PortRef cell_state) { return peep.empty() ? v : add(v, mul(peep[k], cell_state)); };
      PortRef i = activate(b, clipped(with_peep(g[0], 0, c_in)), act[0]);
      PortRef f = input_forget ? b.op("Subtract", "opset1", {b.scalar(t, 1), i}, kNumpy) : activate(b, clipped(with_peep(g[2], 2, c_in)), act[0]);
      PortRef cand = activate(b, clipped(g[3]), act[1]);
      c_new = add(mul(f, c_in), mul(i, cand));
      PortRef o = activate(b, clipped(with_peep(g[1], 1, c_new)), act[0]);
      h_new = mul(o, activate(b, c_new, act[2]));
    }
    // Rows whose sequence has ended keep their state and output zeros.
    PortRef live = b.op("Unsqueeze", "opset1", {b.op("Less", "opset1", {step, in(lens, 1, "lens")}, kNumpy, ElemType::kBoolean), b.const_i64({1})});
    auto keep = [&](PortRef next, PortRef prev) { return b.op("Select", "opset1", {live, next, prev}, kNumpy, t); };
    size_t h_out = loop.carry(h_in, keep(h_new, h_in));
    size_t c_out = rc.cell == Cell::kLstm ? loop.carry(c_in, keep(c_new, c_in)) : 0;
    size_t y_out = loop.concat_output(b.op("Unsqueeze", "opset1", {keep(h_new, b.scalar(t, 0)), b.const_i64({1})}), 1);
    std::vector<PortRef> outs = loop.finish();
    PortRef y = outs[y_out];  // [batch, seq, hidden]
    if (reverse) y = c.op("ReverseSequence", "opset1", {y, lens}, {{"batch_axis", "0"}, {"seq_axis", "1"}});
    ys.push_back(c.op("Unsqueeze", "opset1", {y, c.const_i64({1})}));
    hs.push_back(c.op("Unsqueeze", "opset1", {outs[h_out], c.const_i64({1})}));
    if (rc.cell == Cell::kLstm) cs.push_back(c.op("Unsqueeze", "opset1", {outs[c_out], c.const_i64({1})}));
  }
  std::vector<PortRef> outs = {concat(c, ys, 1), concat(c, hs, 1)};
  if (rc.cell == Cell::kLstm) outs.push_back(concat(c, cs, 1));
  set_outputs(c, rc, outs);
}

// Whether `v` is all zeros made by a ConstantOfShape (torch.onnx.export's default initial
// states, shaped from the input): zeros the lowering builds from the batch dim itself.
// A Slice of such zeros (one layer's states of a multi-layer export) is zeros too.
bool zero_fill(const Value& v, const Node& user) {
  const Node* n = v.producer();
  if (!n || n->graph() != user.graph() || !n->domain().empty()) return false;
  if (n->op_type() == "Slice" && !n->inputs().empty() && n->inputs()[0]) return zero_fill(*n->inputs()[0], user);
  if (n->op_type() == "Expand" && !n->inputs().empty() && n->inputs()[0]) {
    // The dynamo exporter's zeros: Expand of a constant zero.
    const Value& src = *n->inputs()[0];
    const Tensor* t = src.initializer().get();
    const Node* k = src.producer();
    if (!t && k && k->op_type() == "Constant" && k->domain().empty())
      if (const Attribute* a = k->attr("value")) t = a->t.get();
    if (!t || t->dtype() != DataType::kFloat) return false;
    auto values = tensor_as_doubles(*t);
    return values && !values->empty() && std::all_of(values->begin(), values->end(), [](double x) { return x == 0.0; });
  }
  if (n->op_type() != "ConstantOfShape") return false;
  const Attribute* a = n->attr("value");
  if (!a || !a->t) return true;
  if (a->t->dtype() != DataType::kFloat) return false;
  auto values = tensor_as_doubles(*a->t);
  return values && values->size() == 1 && (*values)[0] == 0.0;
}

// Layer `l` when it is a Const of i64 values.
std::optional<Ints> const_i64_values(const Layer& l) {
  if (l.type != "Const" || !l.constant || l.constant->source_type != ElemType::kI64 || l.constant->nbytes() % 8) return std::nullopt;
  Ints v(l.constant->nbytes() / 8);
  if (!v.empty()) std::memcpy(v.data(), l.constant->data(), l.constant->nbytes());
  return v;
}

// When batch-major `x` is an earlier sequence op's Y ([batch, dirs, seq, hidden]) through
// Transposes, Squeezes and dim-keeping Reshapes, and that op ran over full lengths that this
// lowering built (Broadcast of X's seq dim Gathered from its ShapeOf over its batch): those
// lengths and that batch, which are also this op's.
std::optional<std::pair<PortRef, PortRef>> upstream_full_lengths(NodeContext& c, PortRef x) {
  const OvGraph& g = c.graph();
  int64_t b = 0, s = 1;  // where x's batch and seq dims sit in the current tensor
  for (PortRef p = x;;) {
    const Layer& l = g.layers[p.layer];
    if (l.type == "LSTMSequence" || l.type == "GRUSequence" || l.type == "RNNSequence") {
      if (p.port != 0 || b != 0 || s != 2) return std::nullopt;
      PortRef lens = l.inputs[l.type == "LSTMSequence" ? 3 : 2];
      const Layer& bc = g.layers[lens.layer];
      if (bc.type != "Broadcast" || bc.inputs.size() != 2) return std::nullopt;
      const Layer& seq = g.layers[bc.inputs[0].layer];
      if (seq.type != "Gather" || seq.inputs.size() != 3 || g.layers[seq.inputs[0].layer].type != "ShapeOf") return std::nullopt;
      PortRef shape_source = g.layers[seq.inputs[0].layer].inputs[0];
      if (shape_source.layer != l.inputs[0].layer || shape_source.port != l.inputs[0].port) return std::nullopt;
      if (const_i64_values(g.layers[seq.inputs[1].layer]) != Ints{1} || const_i64_values(g.layers[seq.inputs[2].layer]) != Ints{0})
        return std::nullopt;
      return std::make_pair(lens, bc.inputs[1]);
    }
    if (l.inputs.size() != 2) return std::nullopt;
    auto arg = const_i64_values(g.layers[l.inputs[1].layer]);
    if (!arg) return std::nullopt;
    if (l.type == "Transpose") {
      if (b >= static_cast<int64_t>(arg->size()) || s >= static_cast<int64_t>(arg->size())) return std::nullopt;
      b = (*arg)[static_cast<size_t>(b)];
      s = (*arg)[static_cast<size_t>(s)];
    } else if (l.type == "Squeeze") {
      Ints axes = *arg;
      std::sort(axes.begin(), axes.end());
      for (int64_t* d : {&b, &s})
        for (int64_t a : axes) {
          if (a < 0) return std::nullopt;
          if (a <= *d) ++*d;
        }
    } else if (l.type == "Reshape") {
      // special_zero: a 0 copies the input dim at its position.
      bool zero_copies = false;
      for (const auto& kv : l.data) zero_copies = zero_copies || (kv.first == "special_zero" && kv.second == "true");
      if (!zero_copies || b >= static_cast<int64_t>(arg->size()) || s >= static_cast<int64_t>(arg->size()) ||
          (*arg)[static_cast<size_t>(b)] != 0 || (*arg)[static_cast<size_t>(s)] != 0)
        return std::nullopt;
    } else {
      return std::nullopt;
    }
    p = l.inputs[0];
  }
}

bool static_shape(NodeContext& c, size_t i) {
  const Type& t = c.node().inputs()[i]->type();
  if (!t.is_tensor() || !t.shape) return false;
  for (const Dim& d : *t.shape)
    if (!d.is_static()) return false;
  return true;
}

void lower_recurrent(NodeContext& c, Cell cell) {
  Recurrent rc{cell};
  rc.hidden = c.attr_int("hidden_size", 0);
  if (rc.hidden <= 0) c.unsupported("the hidden_size attribute is required");
  rc.direction = c.attr_string("direction", "forward");
  if (rc.direction != "forward" && rc.direction != "reverse" && rc.direction != "bidirectional")
    c.unsupported("unknown direction '" + rc.direction + "'");
  rc.dirs = rc.direction == "bidirectional" ? 2 : 1;
  rc.batch_major = c.attr_int("layout", 0) != 0;
  rc.acts = parse_activations(c, cell, rc.dirs);
  if (c.has_attr("clip")) rc.clip = c.attr_float("clip", 0.f);

  // X [seq, batch, input] made by a Transpose of a batch-major tensor: read that tensor.
  const Node* xt = c.node().inputs()[0] ? c.node().inputs()[0]->producer() : nullptr;
  if (!rc.batch_major && xt && xt->graph() == c.node().graph() && xt->op_type() == "Transpose" && xt->domain().empty() &&
      xt->attr("perm") && xt->attr_ints("perm") == Ints{1, 0, 2} && xt->inputs().size() == 1 && xt->inputs()[0]) {
    rc.x = c.lowering().port_of(xt->inputs()[0]);
  } else {
    rc.x = c.input(0);
    if (!rc.batch_major) rc.x = transpose(c, rc.x, {1, 0, 2});  // [batch, seq, input]
  }
  ElemType t = c.type(rc.x);
  // The full-length sequence_lens (and batch) of an RNN layer that X comes from serve this one
  // too (stacked layers); else they come from X's shape.
  PortRef batch, full_lens;
  if (auto prev = upstream_full_lengths(c, rc.x)) {
    full_lens = prev->first;
    batch = prev->second;
  } else {
    PortRef x_shape = c.op("ShapeOf", "opset3", {rc.x}, {{"output_type", "i64"}}, ElemType::kI64);
    auto dim = [&](int64_t axis) { return c.op("Gather", "opset8", {x_shape, c.const_i64({axis}), c.scalar_i64(0)}, {{"batch_dims", "0"}}); };
    batch = dim(0);
    if (!c.has_input(4)) full_lens = c.op("Broadcast", "opset3", {dim(1), batch}, {{"mode", "numpy"}});
  }
  PortRef zeros;
  std::map<const Value*, PortRef> states;  // h0 and c0 are often one value (torch's zeros)
  auto state = [&](size_t i) {
    const Value* v = c.has_input(i) ? c.node().inputs()[i] : nullptr;
    if (v && zero_fill(*v, c.node())) v = nullptr;
    if (v && states.count(v)) return states[v];
    PortRef p;
    if (v) {
      p = rc.batch_major ? c.input(i) : transpose(c, c.input(i), {1, 0, 2});
      states[v] = p;
    } else {
      if (!zeros.valid()) {
        PortRef shape = concat(c, {batch, c.const_i64({rc.dirs, rc.hidden})}, 0);
        zeros = c.op("Broadcast", "opset3", {c.scalar(t, 0), shape}, {{"mode", "numpy"}});
      }
      p = zeros;
    }
    return p;
  };
  rc.h0 = state(5);
  if (cell == Cell::kLstm) rc.c0 = state(6);
  rc.lens = c.has_input(4) ? c.input(4) : full_lens;
  if (c.has_input(3)) rc.b = c.input(3);
  if (cell == Cell::kLstm && c.has_input(7)) rc.p = c.input(7);

  bool native = !rc.p.valid() && !(cell == Cell::kLstm && c.attr_int("input_forget", 0) != 0) &&
                !(c.has_input(4) && !static_shape(c, 0));
  for (const auto& dir : rc.acts)
    for (size_t k = 0; k < dir.size(); ++k)
      native = native && native_activation(dir[k]) && dir[k].name == rc.acts[0][k].name;
  rc.w = c.input(1);
  rc.r = c.input(2);
  if (c.node().domain() == "com.microsoft") {
    // DynamicQuantizeLSTM: int8 W, R (ops/quant_contrib.cc) transposed on the bytes, their gate
    // blocks put in LSTMSequence's order there too; the step Loop reads ONNX's order.
    const std::vector<int> order = native ? kFico : std::vector<int>{0, 1, 2, 3};
    rc.w = lstm_quantized_weights(c, 1, 8, 9, order);
    rc.r = lstm_quantized_weights(c, 2, 10, 11, order);
    rc.w_r_in_ov_gate_order = native;
  }
  if (native) lower_native(c, rc);
  else lower_step_loop(c, rc);
}

// CausalConvWithState: a depthwise causal Conv1d over [past_state, input] (the past defaults to
// zeros), with an optional SiLU; present_state is the last kernel-1 positions of that sequence.
void lower_causal_conv_with_state(NodeContext& c) {
  std::string activation = c.attr_string("activation", "none");
  if (activation != "none" && activation != "silu" && activation != "swish") c.unsupported("unknown activation '" + activation + "'");
  PortRef x = c.input(0), w = c.input(1);  // [B, C, L], [C, 1, k]
  PortRef length = dim_1d(c, x, 2);
  PortRef past;
  if (c.has_input(3)) {
    past = c.input(3);
  } else {
    PortRef k_minus_1 = c.op("Subtract", "opset1", {dim_1d(c, w, 2), c.const_i64({1})}, kNumpy);
    PortRef shape = concat(c, {dim_1d(c, x, 0), dim_1d(c, x, 1), k_minus_1}, 0);
    past = c.op("Broadcast", "opset3", {c.scalar(c.type(x), 0), shape}, {{"mode", "numpy"}});
  }
  PortRef padded = concat(c, {past, x}, 2);
  // Depthwise: one group per channel, weights [C, 1, 1, k].
  PortRef y = c.op("GroupConvolution", "opset1", {padded, c.op("Unsqueeze", "opset1", {w, c.const_i64({1})})},
                   {{"strides", "1"}, {"pads_begin", "0"}, {"pads_end", "0"}, {"dilations", "1"}, {"auto_pad", "explicit"}});
  if (c.has_input(2)) y = c.op("Add", "opset1", {y, c.op("Reshape", "opset1", {c.input(2), c.const_i64({1, -1, 1})}, {{"special_zero", "false"}})}, kNumpy);
  if (activation != "none") y = c.op("Swish", "opset4", {y});
  c.set_output(0, y);
  if (c.output_used(1))
    c.set_output(1, c.op("Slice", "opset8", {padded, length, c.const_i64({std::numeric_limits<int64_t>::max()}), c.const_i64({1}), c.const_i64({2})}));
}

}  // namespace

void register_rnn_ops(LowerRegistry& r) {
  r.add("RNN", [](NodeContext& c) { lower_recurrent(c, Cell::kRnn); });
  r.add("GRU", [](NodeContext& c) { lower_recurrent(c, Cell::kGru); });
  r.add("LSTM", [](NodeContext& c) { lower_recurrent(c, Cell::kLstm); });
  r.add("DynamicQuantizeLSTM", [](NodeContext& c) { lower_recurrent(c, Cell::kLstm); }, "com.microsoft");
  r.add("CausalConvWithState", lower_causal_conv_with_state);
}

}  // namespace irforge::ov
