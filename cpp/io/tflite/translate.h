// What a TFLite operator translator sees: the subgraph being translated, the builder, and
// helpers that turn TFLite tensors into IR values.
//
// Quantized tensors are carried as their real (dequantized) values: a constant int8/uint8/int16/
// int32 tensor with a scale becomes its integer bytes → DequantizeLinear (the decompression
// subgraph the OpenVINO writer lowers to Convert/Subtract/Multiply and the CPU plugin runs
// compressed); an operator whose output is a quantized activation computes in float and its
// result goes through QuantizeLinear → DequantizeLinear with that tensor's scale and zero point
// (FakeQuantize in OpenVINO IR, a Q/DQ pair in ONNX). So integer kernels become float kernels
// between quantization points, which is what the interpreter's kernels compute up to rounding.
//
// Layout: TFLite is NHWC; ONNX Conv/Pool are NCHW. Translators put the NCHW op between two
// Transposes (nhwc_to_nchw / nchw_to_nhwc); a transpose-sinking pass removes the pairs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/tflite/schema.h"
#include "ir/builder.h"

namespace irforge::tflite {

// Attribute lists built in one expression (Attribute is move-only).
class Attrs {
 public:
  Attrs& i(const std::string& n, int64_t v) { return add(n, AttrKind::kInt, [&](Attribute& a) { a.i = v; }); }
  Attrs& f(const std::string& n, float v) { return add(n, AttrKind::kFloat, [&](Attribute& a) { a.f = v; }); }
  Attrs& s(const std::string& n, std::string v) { return add(n, AttrKind::kString, [&](Attribute& a) { a.s = std::move(v); }); }
  Attrs& ints(const std::string& n, std::vector<int64_t> v) { return add(n, AttrKind::kInts, [&](Attribute& a) { a.ints = std::move(v); }); }
  Attrs& graph(const std::string& n, std::unique_ptr<Graph> g) { return add(n, AttrKind::kGraph, [&](Attribute& a) { a.g = std::move(g); }); }
  std::vector<Attribute> take() { return std::move(list_); }

 private:
  template <typename F>
  Attrs& add(const std::string& n, AttrKind k, F&& set) {
    Attribute a;
    a.name = n;
    a.kind = k;
    set(a);
    list_.push_back(std::move(a));
    return *this;
  }
  std::vector<Attribute> list_;
};

class Translator;

// One operator being translated.
struct OpContext {
  Translator& tr;
  const OperatorDef& op;
  int32_t code;
  std::string name;  // e.g. "CONV_2D#12" (for messages and node names)

  size_t num_inputs() const { return op.inputs.size(); }
  bool has_input(size_t i) const { return i < op.inputs.size() && op.inputs[i] >= 0; }
  const TensorDef& in_tensor(size_t i) const;
  const TensorDef& out_tensor(size_t i) const;
  Value* in(size_t i);  // real value of input i (constants created on first use)
  // Constant input i as integers (int32/int64 buffers); throws kUnsupported when not constant.
  std::vector<int64_t> const_ints(size_t i);
  bool is_const(size_t i) const;
  // The builtin options table (invalid when absent: translators then use the schema defaults).
  // Its union type is not checked: a mismatched table is read through the same bounds-checked
  // slots, so a damaged file gives wrong attributes, which the op checks then reject, never a
  // read outside the file.
  flatbuf::Table options() const { return op.options; }
  template <typename T>
  T opt(uint16_t s, T fallback) const { return op.options.valid() ? op.options.scalar<T>(s, fallback) : fallback; }

  Value* node(const std::string& op_type, const std::vector<Value*>& inputs, Attrs attrs = {});
  std::vector<Value*> nodes(const std::string& op_type, const std::vector<Value*>& inputs, size_t n, Attrs attrs = {});
  Value* i64s(const std::vector<int64_t>& v);  // a 1-D int64 constant
  Value* f32(float v);                         // a float scalar constant
  Value* transpose(Value* x, std::vector<int64_t> perm);
  Value* activation(Value* x, int8_t fused);   // fused_activation_function
  // A weight input with its dims permuted (constants stay constants: the Transpose is folded, and
  // a quantized weight's DequantizeLinear comes after it with the channel axis moved along).
  Value* weight(size_t i, const std::vector<int64_t>& perm);
  void set_out(size_t i, Value* v);
  [[noreturn]] void unsupported(const std::string& why) const;
  [[noreturn]] void invalid(const std::string& why) const;
};

using TranslateFn = std::function<void(OpContext&)>;
// The translator table (ops.cc): builtin code -> translator.
const std::map<int32_t, TranslateFn>& translators();

// UNIDIRECTIONAL_SEQUENCE_LSTM with int8 activations and an int16 cell (lstm_integer.cc).
void integer_lstm(OpContext& c);

// Control flow and resource variables (control_flow.cc).
void if_op(OpContext& c);
void while_op(OpContext& c);
void call_once(OpContext& c);
void var_handle(OpContext& c);
void read_variable(OpContext& c);
void assign_variable(OpContext& c);

// What the translators of all subgraphs of one model share.
struct TranslationState {
  // Resource variables (VAR_HANDLE "container/shared_name") -> their current real value. The
  // model is translated as one stateless invocation: a variable holds what the CALL_ONCE init
  // (or an earlier ASSIGN_VARIABLE of the same invocation) stored.
  std::map<std::string, Value*> variables;
  int depth = 0;          // subgraphs being inlined inside each other right now
  size_t instances = 0;   // subgraph translations so far (IF/WHILE/CALL_ONCE bodies)
  size_t inlined_ops = 0; // operators in them
};

class Translator {
 public:
  // `target` is the graph the nodes go to (the main graph when null); `state` is shared with the
  // translators of the enclosing subgraphs (a fresh one when null).
  Translator(Builder& b, const ModelDef& m, const SubgraphDef& sg, std::shared_ptr<const Storage> file, std::string label,
             Graph* target = nullptr, TranslationState* state = nullptr, bool in_body = false)
      : b_(b), m_(m), sg_(sg), file_(std::move(file)), label_(std::move(label)), values_(sg.tensors.size(), nullptr),
        g_(target ? target : &b.main_graph()), state_(state ? state : &own_state_), in_body_(in_body) {}
  void run(const SignatureDef* sig);
  // Translates subgraph `index` into graph `g` with its inputs bound to `inputs` (values visible
  // from `g`) and returns its outputs' values. `user` names the calling operator in messages;
  // `body`: `g` is an IF/WHILE body (or this translator already is inside one).
  std::vector<Value*> inline_subgraph(uint32_t index, Graph& g, const std::vector<Value*>& inputs, const std::string& user, bool body);
  // The IR type of a tensor as a graph input (quantized tensors are carried as float).
  Type input_type(const TensorDef& t, const std::string& name) const;

  Builder& builder() { return b_; }
  Graph& graph() { return *g_; }
  TranslationState& state() { return *state_; }
  // True inside an IF/WHILE body (nodes go to a subgraph that may run zero or many times).
  bool in_body() const { return in_body_; }
  // Resource handles made by VAR_HANDLE in this subgraph: tensor -> variable key.
  std::map<int32_t, std::string>& resources() { return resources_; }
  const SubgraphDef& subgraph() const { return sg_; }
  const ModelDef& model() const { return m_; }
  const std::string& label() const { return label_; }
  Value* value(int32_t tensor, const std::string& user);
  bool has_data(const TensorDef& t) const;
  // Raw bytes of a tensor's buffer (nullptr when it has none); n = their count.
  const uint8_t* data(const TensorDef& t, size_t* n) const;
  Value* raw_constant(int32_t tensor, const std::vector<int64_t>& perm);
  Value* dequantize(Value* raw, const TensorDef& t, int64_t axis);
  Value* fake_quantize(Value* real, const TensorDef& t);
  void define(int32_t tensor, Value* v);
  std::string tensor_label(int32_t tensor) const;

 private:
  void check_translators() const;
  void translate_operators();
  Builder& b_;
  const ModelDef& m_;
  const SubgraphDef& sg_;
  std::shared_ptr<const Storage> file_;
  std::string label_;
  std::vector<Value*> values_;
  Graph* g_;
  TranslationState own_state_;
  TranslationState* state_;
  bool in_body_;
  std::map<int32_t, std::string> resources_;
};

// Data types.
DataType ir_dtype(int8_t tflite_type);
bool is_quantized_int(const TensorDef& t);  // int8/uint8/int16 with a scale: a quantized activation

}  // namespace irforge::tflite
