#include "io/tflite/reader.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "io/tflite/translate.h"
#include "ir/validate_ops.h"
#include "support/error.h"
#include "support/mapped_file.h"

namespace irforge {

namespace tflite {

DataType ir_dtype(int8_t t) {
  switch (t) {
    case kFloat32: return DataType::kFloat;
    case kFloat16: return DataType::kFloat16;
    case kInt32: return DataType::kInt32;
    case kUint8: return DataType::kUint8;
    case kInt64: return DataType::kInt64;
    case kBool: return DataType::kBool;
    case kInt16: return DataType::kInt16;
    case kInt8: return DataType::kInt8;
    case kFloat64: return DataType::kDouble;
    case kUint64: return DataType::kUint64;
    case kUint32: return DataType::kUint32;
    case kUint16: return DataType::kUint16;
    case kBfloat16: return DataType::kBfloat16;
    default: return DataType::kUndefined;
  }
}

static const char* type_name(int8_t t) {
  static const char* const names[] = {"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16", "COMPLEX64", "INT8",
                                      "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT", "UINT32", "UINT16", "INT4", "BFLOAT16"};
  return t >= 0 && t <= 18 ? names[t] : "unknown";
}

bool is_quantized_int(const TensorDef& t) {
  return t.quant.present() && (t.type == kInt8 || t.type == kUint8 || t.type == kInt16);
}

// ---- OpContext --------------------------------------------------------------------------------

const TensorDef& OpContext::in_tensor(size_t i) const {
  if (!has_input(i)) invalid("input " + std::to_string(i) + " is missing");
  return tr.subgraph().tensors[op.inputs[i]];
}
const TensorDef& OpContext::out_tensor(size_t i) const {
  if (i >= op.outputs.size()) invalid("output " + std::to_string(i) + " is missing");
  return tr.subgraph().tensors[op.outputs[i]];
}
Value* OpContext::in(size_t i) {
  if (!has_input(i)) invalid("input " + std::to_string(i) + " is missing");
  return tr.value(op.inputs[i], name);
}
bool OpContext::is_const(size_t i) const { return has_input(i) && tr.has_data(in_tensor(i)); }

std::vector<int64_t> OpContext::const_ints(size_t i) {
  const TensorDef& t = in_tensor(i);
  size_t n = 0;
  const uint8_t* p = tr.data(t, &n);
  if (!p && !(n == 0 && tr.has_data(t)))
    unsupported("input " + std::to_string(i) + " ('" + t.name + "') must be a constant");
  std::vector<int64_t> out;
  if (t.type == kInt32) {
    if (n % 4) invalid("constant '" + t.name + "' has " + std::to_string(n) + " bytes, not a whole number of int32");
    out.resize(n / 4);
    for (size_t k = 0; k < out.size(); ++k) {
      int32_t v;
      std::memcpy(&v, p + 4 * k, 4);
      out[k] = v;
    }
  } else if (t.type == kInt64) {
    if (n % 8) invalid("constant '" + t.name + "' has " + std::to_string(n) + " bytes, not a whole number of int64");
    out.resize(n / 8);
    if (n) std::memcpy(out.data(), p, n);
  } else {
    unsupported("input " + std::to_string(i) + " ('" + t.name + "') must be an int32 or int64 constant, not " + type_name(t.type));
  }
  return out;
}

Value* OpContext::node(const std::string& op_type, const std::vector<Value*>& inputs, Attrs attrs) {
  return nodes(op_type, inputs, 1, std::move(attrs))[0];
}
std::vector<Value*> OpContext::nodes(const std::string& op_type, const std::vector<Value*>& inputs, size_t n, Attrs attrs) {
  return tr.builder().node(tr.graph(), op_type, inputs, attrs.take(), n, "", name + "/" + op_type);
}
Value* OpContext::i64s(const std::vector<int64_t>& v) {
  std::vector<uint8_t> bytes(v.size() * 8);
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return tr.builder().owned_constant(tr.graph(), name + "/const", DataType::kInt64, {static_cast<int64_t>(v.size())}, std::move(bytes));
}
Value* OpContext::f32(float v) {
  std::vector<uint8_t> bytes(4);
  std::memcpy(bytes.data(), &v, 4);
  return tr.builder().owned_constant(tr.graph(), name + "/const", DataType::kFloat, {}, std::move(bytes));
}
Value* OpContext::transpose(Value* x, std::vector<int64_t> perm) { return node("Transpose", {x}, std::move(Attrs().ints("perm", std::move(perm)))); }

Value* OpContext::activation(Value* x, int8_t fused) {
  switch (fused) {
    case kActNone: return x;
    case kActRelu: return node("Relu", {x});
    case kActReluN1To1: return node("Clip", {x, f32(-1.f), f32(1.f)});
    case kActRelu6: return node("Clip", {x, f32(0.f), f32(6.f)});
    case kActTanh: return node("Tanh", {x});
    default: unsupported("fused activation function " + std::to_string(fused));
  }
}

Value* OpContext::weight(size_t i, const std::vector<int64_t>& perm) {
  if (!is_const(i)) {
    Value* v = in(i);
    return perm.empty() ? v : transpose(v, perm);
  }
  const TensorDef& t = in_tensor(i);
  if (perm.size() != t.shape.size() && !perm.empty())
    invalid("weight '" + t.name + "' has rank " + std::to_string(t.shape.size()) + ", expected " + std::to_string(perm.size()));
  Value* raw = tr.raw_constant(op.inputs[i], perm);
  if (t.quant.present() && t.type != kFloat32 && t.type != kFloat16) {
    int64_t axis = t.quant.dimension;
    if (!perm.empty())
      axis = std::find(perm.begin(), perm.end(), int64_t{t.quant.dimension}) - perm.begin();
    return tr.dequantize(raw, t, axis);
  }
  if (t.type == kFloat16) return node("Cast", {raw}, std::move(Attrs().i("to", static_cast<int64_t>(DataType::kFloat))));
  return raw;
}

void OpContext::set_out(size_t i, Value* v) {
  if (i >= op.outputs.size()) invalid("output " + std::to_string(i) + " is missing");
  tr.define(op.outputs[i], v);
}

void OpContext::unsupported(const std::string& why) const {
  fail(ErrorKind::kUnsupported, "operator " + name + ": " + why);
}
void OpContext::invalid(const std::string& why) const { fail_invalid("operator " + name + ": " + why); }

// ---- Translator -------------------------------------------------------------------------------

std::string Translator::tensor_label(int32_t tensor) const {
  return "tensor " + std::to_string(tensor) + " '" + sg_.tensors[tensor].name + "'";
}

bool Translator::has_data(const TensorDef& t) const { return t.buffer != 0 && m_.buffers[t.buffer].size > 0; }

const uint8_t* Translator::data(const TensorDef& t, size_t* n) const {
  *n = 0;
  if (!has_data(t)) return nullptr;
  const BufferDef& b = m_.buffers[t.buffer];
  *n = b.size;
  return file_->data() + b.offset;
}

Value* Translator::raw_constant(int32_t tensor, const std::vector<int64_t>& perm) {
  const TensorDef& t = sg_.tensors[tensor];
  DataType dt = ir_dtype(t.type);
  if (dt == DataType::kUndefined)
    fail(ErrorKind::kUnsupported, tensor_label(tensor) + ": constants of type " + type_name(t.type) + " are not supported");
  if (t.sparse) fail(ErrorKind::kUnsupported, tensor_label(tensor) + ": sparse constants are not supported");
  const BufferDef& buf = m_.buffers[t.buffer];
  uint64_t elems = 1;
  for (int64_t d : t.shape) {
    if (d != 0 && elems > (uint64_t{1} << 40) / static_cast<uint64_t>(d))
      fail(ErrorKind::kResourceLimit, tensor_label(tensor) + ": more than 2^40 elements");
    elems *= static_cast<uint64_t>(d);
  }
  uint64_t want = raw_bytes_for(dt, elems).value_or(~uint64_t{0});
  if (want != buf.size)
    fail_invalid(tensor_label(tensor) + ": its buffer " + std::to_string(t.buffer) + " holds " + std::to_string(buf.size) +
                 " bytes but shape and type need " + std::to_string(want));
  Value* v = b_.constant(graph(), t.name.empty() ? "const" : t.name, dt, t.shape, file_, buf.offset);
  bool identity = true;
  for (size_t k = 0; k < perm.size(); ++k) identity &= perm[k] == static_cast<int64_t>(k);
  if (!identity) {
    Attrs a;
    a.ints("perm", perm);
    v = b_.node(graph(), "Transpose", {v}, a.take(), 1, "", t.name + "/Transpose")[0];
  }
  return v;
}

Value* Translator::dequantize(Value* raw, const TensorDef& t, int64_t axis) {
  const Quantization& q = t.quant;
  DataType dt = ir_dtype(t.type);
  size_t n = q.scale.size();
  if (n > 1 && (t.quant.dimension < 0 || static_cast<size_t>(t.quant.dimension) >= t.shape.size() ||
                static_cast<uint64_t>(t.shape[t.quant.dimension]) != n))
    fail_invalid("tensor '" + t.name + "': " + std::to_string(n) + " quantization scales do not match dimension " +
                 std::to_string(t.quant.dimension) + " of its shape");
  std::vector<int64_t> dims = n > 1 ? std::vector<int64_t>{static_cast<int64_t>(n)} : std::vector<int64_t>{};
  std::vector<uint8_t> sb(n * 4);
  std::memcpy(sb.data(), q.scale.data(), sb.size());
  size_t es = static_cast<size_t>(raw_bytes_for(dt, 1).value_or(1));
  std::vector<uint8_t> zb(n * es);
  for (size_t k = 0; k < n; ++k) {
    int64_t z = q.zero_point[k];
    if (t.type == kInt32 && z != 0) fail_invalid("tensor '" + t.name + "': an int32 tensor with a non-zero zero point");
    std::memcpy(zb.data() + k * es, &z, es);  // little-endian: the low bytes
  }
  Value* scale = b_.owned_constant(graph(), t.name + "/scale", DataType::kFloat, dims, std::move(sb));
  Value* zp = b_.owned_constant(graph(), t.name + "/zero_point", dt, dims, std::move(zb));
  Attrs a;
  if (n > 1) a.i("axis", axis);
  return b_.node(graph(), "DequantizeLinear", {raw, scale, zp}, a.take(), 1, "", t.name + "/DequantizeLinear")[0];
}

Value* Translator::fake_quantize(Value* real, const TensorDef& t) {
  const Quantization& q = t.quant;
  if (q.scale.size() != 1)
    fail(ErrorKind::kUnsupported, "tensor '" + t.name + "': per-channel quantized activations are not supported");
  DataType dt = ir_dtype(t.type);
  std::vector<uint8_t> sb(4), zb(static_cast<size_t>(raw_bytes_for(dt, 1).value_or(1)));
  std::memcpy(sb.data(), q.scale.data(), 4);
  int64_t z = q.zero_point[0];
  std::memcpy(zb.data(), &z, zb.size());
  Value* scale = b_.owned_constant(graph(), t.name + "/scale", DataType::kFloat, {}, std::move(sb));
  Value* zp = b_.owned_constant(graph(), t.name + "/zero_point", dt, {}, std::move(zb));
  Value* qv = b_.node(graph(), "QuantizeLinear", {real, scale, zp}, {}, 1, "", t.name + "/QuantizeLinear")[0];
  return b_.node(graph(), "DequantizeLinear", {qv, scale, zp}, {}, 1, "", t.name + "/DequantizeLinear")[0];
}

Value* Translator::value(int32_t tensor, const std::string& user) {
  if (values_[tensor]) return values_[tensor];
  if (resources_.count(tensor))
    fail(ErrorKind::kUnsupported, tensor_label(tensor) + ": the variable handle made by VAR_HANDLE is used by operator " + user +
                                      " (only READ_VARIABLE and ASSIGN_VARIABLE in the same subgraph are supported)");
  const TensorDef& t = sg_.tensors[tensor];
  if (has_data(t)) {
    Value* v = raw_constant(tensor, {});
    if (t.quant.present() && t.type != kFloat32 && t.type != kFloat16) v = dequantize(v, t, t.quant.dimension);
    return values_[tensor] = v;
  }
  if (t.is_variable) {
    // State of a stateful op (LSTM): the interpreter resets it to real zero (a quantized one to
    // its zero point) before the first invocation; as a real value it is a float zero.
    DataType dt = DataType::kFloat;
    if (t.type != kFloat32 && !is_quantized_int(t))
      fail(ErrorKind::kUnsupported, tensor_label(tensor) + ": a variable tensor of type " + type_name(t.type));
    uint64_t elems = 1;
    for (int64_t d : t.shape) elems = d > 0 && elems > (uint64_t{1} << 24) / static_cast<uint64_t>(d) ? ~uint64_t{0} : elems * static_cast<uint64_t>(d);
    if (elems > (uint64_t{1} << 24)) fail(ErrorKind::kResourceLimit, tensor_label(tensor) + ": a variable tensor of more than 2^24 elements");
    return values_[tensor] = b_.owned_constant(graph(), t.name, dt, t.shape, std::vector<uint8_t>(elems * 4, 0));
  }
  fail_invalid(tensor_label(tensor) + " is read by operator " + user +
               " but is neither an input, a constant, nor the output of an earlier operator");
}

void Translator::define(int32_t tensor, Value* v) {
  const TensorDef& t = sg_.tensors[tensor];
  if (values_[tensor] || has_data(t)) fail_invalid(tensor_label(tensor) + " is written twice (or is a constant written by an operator)");
  if (is_quantized_int(t)) v = fake_quantize(v, t);
  values_[tensor] = v;
}

void Translator::check_translators() const {
  // Every operator must have a translator: collect all that do not, then fail once.
  std::map<std::string, int> missing;
  for (const OperatorDef& op : sg_.operators) {
    const OperatorCodeDef& c = m_.operator_codes[op.opcode_index];
    if (c.builtin == CUSTOM) missing["CUSTOM '" + c.custom + "'"]++;
    else if (!translators().count(c.builtin)) missing[op_name(c.builtin)]++;
  }
  if (!missing.empty()) {
    std::string list;
    for (auto& [n, k] : missing) list += (list.empty() ? "" : ", ") + n + (k > 1 ? " (x" + std::to_string(k) + ")" : "");
    fail(ErrorKind::kUnsupported, std::to_string(missing.size()) + " operator type(s) have no translator" +
                                      (in_body_ || g_ != &b_.main_graph() ? " in subgraph '" + sg_.name + "'" : "") + ": " + list);
  }
}

Type Translator::input_type(const TensorDef& t, const std::string& name) const {
  DataType dt = is_quantized_int(t) ? DataType::kFloat : ir_dtype(t.type);
  if (dt == DataType::kUndefined) fail(ErrorKind::kUnsupported, "tensor '" + t.name + "': a graph input of type " + type_name(t.type));
  Shape shape;
  for (size_t k = 0; k < t.shape.size(); ++k) {
    bool dynamic = !t.shape_signature.empty() && k < t.shape_signature.size() && t.shape_signature[k] == -1;
    shape.push_back(dynamic ? Dim::symbol(name + "_" + std::to_string(k)) : Dim::of(t.shape[k]));
  }
  return Type::tensor(dt, shape);
}

void Translator::translate_operators() {
  // Operators of a nested subgraph are named after it ("body:ADD#0") so messages tell them apart.
  std::string prefix = g_ != &b_.main_graph() || in_body_ ? (sg_.name.empty() ? "subgraph" : sg_.name) + ":" : "";
  for (size_t i = 0; i < sg_.operators.size(); ++i) {
    const OperatorDef& op = sg_.operators[i];
    int32_t code = m_.operator_codes[op.opcode_index].builtin;
    OpContext ctx{*this, op, code, prefix + op_name(code) + "#" + std::to_string(i)};
    try {
      translators().at(code)(ctx);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.find(ctx.name) == std::string::npos) msg = "operator " + ctx.name + ": " + msg;
      throw Error(e.kind(), msg);
    }
    for (size_t k = 0; k < op.outputs.size(); ++k)
      if (op.outputs[k] >= 0 && !values_[op.outputs[k]] && !resources_.count(op.outputs[k]))
        fail(ErrorKind::kInternal, "operator " + ctx.name + " left output " + std::to_string(k) + " undefined");
  }
}

std::vector<Value*> Translator::inline_subgraph(uint32_t index, Graph& g, const std::vector<Value*>& inputs, const std::string& user,
                                                bool body) {
  // Limits: a subgraph that (indirectly) calls itself would recurse forever, and IF/WHILE
  // bodies nested in each other multiply the work (each WHILE translates its cond twice).
  constexpr int kMaxDepth = 16;
  constexpr size_t kMaxInstances = 4096;
  constexpr size_t kMaxInlinedOps = size_t{1} << 20;
  if (index >= m_.subgraphs.size())
    fail_invalid("operator " + user + ": subgraph index " + std::to_string(index) + " is out of range (the model has " +
                 std::to_string(m_.subgraphs.size()) + ")");
  if (state_->depth >= kMaxDepth)
    fail(ErrorKind::kResourceLimit, "operator " + user + ": subgraphs nested more than " + std::to_string(kMaxDepth) +
                                        " deep (a subgraph that calls itself?)");
  if (++state_->instances > kMaxInstances)
    fail(ErrorKind::kResourceLimit, "operator " + user + ": more than " + std::to_string(kMaxInstances) + " subgraph translations in one model");
  const SubgraphDef& sg = m_.subgraphs[index];
  if ((state_->inlined_ops += sg.operators.size()) > kMaxInlinedOps)
    fail(ErrorKind::kResourceLimit, "operator " + user + ": more than " + std::to_string(kMaxInlinedOps) +
                                        " operators in translated subgraphs (IF/WHILE bodies repeated by nesting)");
  if (sg.inputs.size() != inputs.size())
    fail_invalid("operator " + user + ": subgraph " + std::to_string(index) + " '" + sg.name + "' takes " + std::to_string(sg.inputs.size()) +
                 " inputs, the operator passes " + std::to_string(inputs.size()));
  struct DepthGuard {
    int& d;
    explicit DepthGuard(int& x) : d(x) { ++d; }
    ~DepthGuard() { --d; }
  } guard(state_->depth);
  Translator t(b_, m_, sg, file_, label_, &g, state_, body || in_body_);
  t.check_translators();
  for (size_t k = 0; k < inputs.size(); ++k) {
    int32_t idx = sg.inputs[k];
    if (t.values_[idx]) fail_invalid("subgraph '" + sg.name + "': " + t.tensor_label(idx) + " is listed twice as an input");
    t.values_[idx] = inputs[k];
  }
  t.translate_operators();
  std::vector<Value*> outs;
  for (int32_t idx : sg.outputs) outs.push_back(t.value(idx, user + " (output of subgraph '" + sg.name + "')"));
  return outs;
}

void Translator::run(const SignatureDef* sig) {
  check_translators();

  auto sig_name = [&](bool output, int32_t tensor) -> std::string {
    if (sig)
      for (auto& [n, idx] : output ? sig->outputs : sig->inputs)
        if (static_cast<int32_t>(idx) == tensor && !n.empty()) return n;
    const std::string& n = sg_.tensors[tensor].name;
    return n.empty() ? (output ? "output_" : "input_") + std::to_string(tensor) : n;
  };

  for (int32_t idx : sg_.inputs) {
    const TensorDef& t = sg_.tensors[idx];
    DataType dt = ir_dtype(t.type);
    if (dt == DataType::kUndefined) fail(ErrorKind::kUnsupported, tensor_label(idx) + ": a graph input of type " + type_name(t.type));
    if (values_[idx]) fail_invalid(tensor_label(idx) + " is listed twice as a subgraph input");
    std::string name = sig_name(false, idx);
    Shape shape;
    for (size_t k = 0; k < t.shape.size(); ++k) {
      bool dynamic = !t.shape_signature.empty() && t.shape_signature[k] == -1;
      shape.push_back(dynamic ? Dim::symbol(name + "_" + std::to_string(k)) : Dim::of(t.shape[k]));
    }
    Value* v = b_.input(graph(), name, Type::tensor(dt, shape));
    if (is_quantized_int(t)) v = dequantize(v, t, 0);
    values_[idx] = v;
  }

  translate_operators();
  for (int32_t idx : sg_.outputs) {
    const TensorDef& t = sg_.tensors[idx];
    Value* v = value(idx, "(graph output)");
    if (is_quantized_int(t)) {  // the model's caller gets the integers
      const Quantization& q = t.quant;
      DataType dt = ir_dtype(t.type);
      std::vector<uint8_t> sb(4), zb(static_cast<size_t>(raw_bytes_for(dt, 1).value_or(1)));
      std::memcpy(sb.data(), q.scale.data(), 4);
      std::memcpy(zb.data(), &q.zero_point[0], zb.size());
      Value* scale = b_.owned_constant(graph(), t.name + "/out_scale", DataType::kFloat, {}, std::move(sb));
      Value* zp = b_.owned_constant(graph(), t.name + "/out_zero_point", dt, {}, std::move(zb));
      v = b_.node(graph(), "QuantizeLinear", {v, scale, zp}, {}, 1, "", t.name + "/QuantizeLinear")[0];
    }
    b_.output(graph(), v, sig_name(true, idx));
  }
}

}  // namespace tflite

namespace {

std::unique_ptr<Model> read(std::shared_ptr<const Storage> storage, const std::string& label) {
  try {
    flatbuf::Buffer buf(storage->data(), storage->size());
    tflite::ModelDef m = tflite::parse_tflite(buf);
    const tflite::SignatureDef* sig = m.signatures.empty() ? nullptr : &m.signatures[0];
    const tflite::SubgraphDef& sg = m.subgraphs[sig ? sig->subgraph : 0];
    Builder b(label);
    tflite::Translator(b, m, sg, storage, label).run(sig);
    auto model = b.finish();
    model->producer_name = "tflite";
    return model;
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind(label, 0) != 0) msg = label + ": " + msg;
    throw Error(e.kind(), msg);
  }
}

}  // namespace

std::unique_ptr<Model> read_tflite_file(const std::string& path) {
  auto file = MappedFile::open(path);
  auto model = read(std::make_shared<MappedStorage>(file), path);
  validate_ops(*model);
  return model;
}

std::unique_ptr<Model> read_tflite_bytes(std::shared_ptr<const Storage> bytes, const std::string& label) {
  auto model = read(std::move(bytes), label);
  validate_ops(*model);
  return model;
}

}  // namespace irforge
