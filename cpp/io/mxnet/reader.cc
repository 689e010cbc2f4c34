#include "io/mxnet/reader.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "support/json.h"
#include "io/mxnet/rnn_params.h"
#include "ir/builder.h"
#include "support/error.h"
#include "support/fp16.h"
#include "support/mapped_file.h"

namespace irforge {
namespace {

// The NDArray-list container (MXNet's NDArray::Save / mx.nd.save): a list header, the arrays,
// then their names ("arg:..." learned parameters, "aux:..." running statistics).
constexpr uint64_t kListMagic = 0x112;
constexpr uint32_t kArrayV1 = 0xF993fac8;  // int64 shape, no storage type
constexpr uint32_t kArrayV2 = 0xF993fac9;  // + storage type
constexpr uint32_t kArrayV3 = 0xF993faca;  // + NumPy shape semantics (ndim -1 = none)
constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr int64_t kMaxElements = int64_t{1} << 40;

struct Param {
  bool none = false;  // an array saved without shape or data
  DataType dtype = DataType::kFloat;
  int type_flag = 0;
  std::vector<int64_t> dims;
  size_t offset = 0, nbytes = 0;
};

class Cursor {
 public:
  Cursor(const Storage& s, const std::string& label) : p_(s.data()), size_(s.size()), label_(label) {}
  template <typename T>
  T read(const char* what) {
    if (size_ - pos_ < sizeof(T)) bad(std::string("truncated ") + what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  size_t skip(uint64_t n, const char* what) {
    if (n > size_ - pos_) bad(std::string("truncated ") + what + " (" + std::to_string(n) + " bytes declared, " + std::to_string(size_ - pos_) + " left)");
    size_t at = pos_;
    pos_ += static_cast<size_t>(n);
    return at;
  }
  std::string str(uint64_t n, const char* what) {
    size_t at = skip(n, what);
    return std::string(reinterpret_cast<const char*>(p_ + at), static_cast<size_t>(n));
  }
  size_t left() const { return size_ - pos_; }
  [[noreturn]] void bad(const std::string& what) const { fail_invalid(label_ + ": not a valid MXNet .params file: " + what + " at byte " + std::to_string(pos_)); }

 private:
  const uint8_t* p_;
  size_t size_, pos_ = 0;
  const std::string& label_;
};

std::unordered_map<std::string, Param> read_params(const Storage& s, const std::string& label) {
  Cursor c(s, label);
  if (c.read<uint64_t>("header") != kListMagic) c.bad("no NDArray-list magic (0x112)");
  c.read<uint64_t>("header");
  uint64_t n = c.read<uint64_t>("array count");
  if (n > c.left() / 16) c.bad("array count " + std::to_string(n) + " exceeds the file");
  std::vector<Param> arrays;
  for (uint64_t i = 0; i < n; ++i) {
    uint32_t magic = c.read<uint32_t>("array magic");
    if (magic != kArrayV1 && magic != kArrayV2 && magic != kArrayV3)
      fail(ErrorKind::kUnsupported, label + ": array " + std::to_string(i) + " is in a legacy or unknown NDArray format (magic 0x" +
                                        [&] { char b[16]; std::snprintf(b, sizeof b, "%08x", magic); return std::string(b); }() + ")");
    if (magic != kArrayV1) {
      int32_t stype = c.read<int32_t>("storage type");
      if (stype != 0) fail(ErrorKind::kUnsupported, label + ": array " + std::to_string(i) + " is sparse (storage type " + std::to_string(stype) + ")");
    }
    int32_t ndim = c.read<int32_t>("shape rank");
    Param p;
    if (ndim < 0 || (ndim == 0 && magic != kArrayV3)) {  // a none array: no context, type or data
      p.none = true;
      arrays.push_back(p);
      continue;
    }
    if (ndim > 32) c.bad("array " + std::to_string(i) + " has rank " + std::to_string(ndim));
    int64_t count = 1;
    for (int32_t d = 0; d < ndim; ++d) {
      int64_t dim = c.read<int64_t>("shape");
      if (dim < 0 || dim > kMaxDim) fail(ErrorKind::kResourceLimit, label + ": array " + std::to_string(i) + " has dimension " + std::to_string(dim));
      if (dim && count > kMaxElements / dim) fail(ErrorKind::kResourceLimit, label + ": array " + std::to_string(i) + " has more than 2^40 elements");
      count *= dim;
      p.dims.push_back(dim);
    }
    c.read<int32_t>("device type");
    c.read<int32_t>("device id");
    p.type_flag = c.read<int32_t>("type flag");
    size_t width;
    switch (p.type_flag) {
      case 0: p.dtype = DataType::kFloat; width = 4; break;
      case 1: p.dtype = DataType::kDouble; width = 8; break;
      case 2: p.dtype = DataType::kFloat16; width = 2; break;
      case 3: p.dtype = DataType::kUint8; width = 1; break;
      case 4: p.dtype = DataType::kInt32; width = 4; break;
      case 5: p.dtype = DataType::kInt8; width = 1; break;
      case 6: p.dtype = DataType::kInt64; width = 8; break;
      default: c.bad("array " + std::to_string(i) + " has unknown type flag " + std::to_string(p.type_flag));
    }
    p.nbytes = static_cast<size_t>(count) * width;
    p.offset = c.skip(p.nbytes, "array data");
    arrays.push_back(std::move(p));
  }
  uint64_t names = c.read<uint64_t>("name count");
  if (names != n) c.bad(std::to_string(names) + " names for " + std::to_string(n) + " arrays");
  std::unordered_map<std::string, Param> out;
  for (uint64_t i = 0; i < n; ++i) {
    std::string name = c.str(c.read<uint64_t>("name length"), "name");
    // "arg:conv0_weight" / "aux:bn0_moving_mean" name the symbol's variables.
    if (name.rfind("arg:", 0) == 0 || name.rfind("aux:", 0) == 0) name = name.substr(4);
    out[name] = arrays[i];
  }
  return out;
}

Attribute attr_i(const char* name, int64_t v) { Attribute a; a.name = name; a.kind = AttrKind::kInt; a.i = v; return a; }
Attribute attr_f(const char* name, float v) { Attribute a; a.name = name; a.kind = AttrKind::kFloat; a.f = v; return a; }
Attribute attr_s(const char* name, std::string v) { Attribute a; a.name = name; a.kind = AttrKind::kString; a.s = std::move(v); return a; }
Attribute attr_ints(const char* name, std::vector<int64_t> v) { Attribute a; a.name = name; a.kind = AttrKind::kInts; a.ints = std::move(v); return a; }
Attribute attr_strings(const char* name, std::vector<std::string> v) { Attribute a; a.name = name; a.kind = AttrKind::kStrings; a.strings = std::move(v); return a; }
template <typename... A>
std::vector<Attribute> attrs(A... a) {
  std::vector<Attribute> v;
  (v.push_back(std::move(a)), ...);
  return v;
}

const std::unordered_map<std::string, const char*>& binary_ops() {
  static const std::unordered_map<std::string, const char*> m = {
      {"elemwise_add", "Add"}, {"_plus", "Add"}, {"_Plus", "Add"}, {"broadcast_add", "Add"}, {"broadcast_plus", "Add"},
      {"elemwise_sub", "Sub"}, {"_minus", "Sub"}, {"_Minus", "Sub"}, {"broadcast_sub", "Sub"}, {"broadcast_minus", "Sub"},
      {"elemwise_mul", "Mul"}, {"_mul", "Mul"}, {"_Mul", "Mul"}, {"broadcast_mul", "Mul"},
      {"elemwise_div", "Div"}, {"_div", "Div"}, {"_Div", "Div"}, {"broadcast_div", "Div"},
      {"_maximum", "Max"}, {"broadcast_maximum", "Max"}, {"_minimum", "Min"}, {"broadcast_minimum", "Min"},
      {"_power", "Pow"}, {"broadcast_power", "Pow"}};
  return m;
}
const std::unordered_map<std::string, const char*>& unary_ops() {
  static const std::unordered_map<std::string, const char*> m = {
      {"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"exp", "Exp"}, {"log", "Log"}, {"sqrt", "Sqrt"},
      {"abs", "Abs"}, {"negative", "Neg"}, {"softsign", "Softsign"}, {"Dropout", "Identity"}, {"_copy", "Identity"},
      {"identity", "Identity"}, {"BlockGrad", "Identity"}, {"stop_gradient", "Identity"}, {"Flatten", "Flatten"}, {"flatten", "Flatten"}};
  return m;
}
const std::unordered_set<std::string>& scalar_ops() {
  static const std::unordered_set<std::string> s = {"_plus_scalar", "_minus_scalar", "_rminus_scalar", "_mul_scalar", "_div_scalar",
                                                    "_rdiv_scalar", "_power_scalar", "_maximum_scalar", "_minimum_scalar"};
  return s;
}
const std::unordered_set<std::string>& other_ops() {
  static const std::unordered_set<std::string> s = {
      "null", "Convolution", "Deconvolution", "BatchNorm", "Activation", "LeakyReLU", "Pooling", "FullyConnected", "Concat", "concat",
      "Reshape", "reshape", "SoftmaxOutput", "Softmax", "softmax", "log_softmax", "SoftmaxActivation", "UpSampling", "add_n",
      "ElementWiseSum", "transpose", "clip", "RNN", "_rnn_param_concat", "_zeros", "zeros", "swapaxes", "SwapAxis", "SliceChannel",
      "split", "stack", "expand_dims"};
  return s;
}

class Translator {
 public:
  Translator(const json::Value& sym, std::string label, std::shared_ptr<const Storage> storage, std::unordered_map<std::string, Param> params,
             std::string params_label)
      : sym_(sym), label_(std::move(label)), storage_(std::move(storage)), params_(std::move(params)),
        params_label_(std::move(params_label)), b_(label_) {}

  std::unique_ptr<Model> run() {
    const json::Value* nodes = sym_.find("nodes");
    const json::Value* heads = sym_.find("heads");
    if (!sym_.is_object() || !nodes || !nodes->is_array() || !heads || !heads->is_array())
      fail_invalid(label_ + ": not an MXNet symbol file (needs 'nodes' and 'heads' arrays)");
    std::string unknown;
    size_t n_unknown = 0;
    for (const json::Value& n : nodes->array) {
      std::string op = str_member(n, "op");
      if (binary_ops().count(op) || unary_ops().count(op) || scalar_ops().count(op) || other_ops().count(op)) continue;
      if (++n_unknown <= 20) unknown += std::string(unknown.empty() ? "" : ", ") + "'" + str_member(n, "name") + "' (" + op + ")";
    }
    if (n_unknown)
      fail(ErrorKind::kUnsupported, label_ + ": " + std::to_string(n_unknown) + " node(s) of unsupported ops: " + unknown + (n_unknown > 20 ? ", ..." : ""));
    for (const json::Value& h : heads->array) head_ids_.insert(entry(h, nodes->array.size()).first);
    nodes_ = &nodes->array;
    find_rnn_neighbours();
    outputs_.resize(nodes->array.size());
    for (size_t i = 0; i < nodes->array.size(); ++i) node(i, nodes->array[i]);
    if (heads->array.empty()) fail_invalid(label_ + ": the symbol has no heads (outputs)");
    std::unordered_set<std::string> used;
    for (const json::Value& h : heads->array) {
      auto [id, idx] = entry(h, nodes->array.size());
      std::string name = str_member(nodes->array[id], "name");
      if (idx) name += ":" + std::to_string(idx);
      if (!used.insert(name).second) continue;
      b_.output(b_.main_graph(), value(id, idx), name);
    }
    return b_.finish();
  }

 private:
  [[noreturn]] void bad(const std::string& what) const { fail_invalid(where() + ": " + what); }
  [[noreturn]] void unsupported(const std::string& what) const { fail(ErrorKind::kUnsupported, where() + ": " + what); }
  std::string where() const { return label_ + ": node " + std::to_string(cur_id_) + " '" + name_ + "' (" + op_ + ")"; }

  static std::string str_member(const json::Value& v, const char* key) {
    const json::Value* m = v.is_object() ? v.find(key) : nullptr;
    return m && m->is_string() ? m->string : "";
  }
  static std::string number_text(const json::Value& v) {
    return v.is_int ? std::to_string(v.integer) : std::to_string(v.number);
  }
  std::pair<size_t, size_t> entry(const json::Value& e, size_t limit) const {
    if (!e.is_array() || e.array.size() < 2 || !e.array[0].is_number() || !e.array[1].is_number())
      fail_invalid(label_ + ": an input or head entry must be [node, output, ...]");
    double id = e.array[0].number, idx = e.array[1].number;
    if (!(id >= 0 && id < static_cast<double>(limit)) || !(idx >= 0 && idx < 64) || id != static_cast<double>(static_cast<size_t>(id)))
      fail_invalid(label_ + ": entry [" + number_text(e.array[0]) + ", " + number_text(e.array[1]) + "] refers to no earlier node output");
    return {static_cast<size_t>(id), static_cast<size_t>(idx)};
  }

  // ---- attributes (MXNet stores every attribute as a string) ------------------------------
  const std::string* attr(const char* key) const {
    for (const json::Value* a : attr_objects_) {
      const json::Value* v = a->find(key);
      if (v && v->is_string() && v->string != "None") return &v->string;
    }
    return nullptr;
  }
  std::vector<int64_t> ints(const char* key, std::vector<int64_t> def) const {
    const std::string* s = attr(key);
    if (!s) return def;
    std::vector<int64_t> out;
    const char* p = s->c_str();
    while (*p) {
      if (*p == '(' || *p == ')' || *p == '[' || *p == ']' || *p == ',' || *p == ' ' || *p == 'L') {
        ++p;
        continue;
      }
      char* end = nullptr;
      long long v = std::strtoll(p, &end, 10);
      if (end == p) bad("attribute " + std::string(key) + "='" + *s + "' is not a tuple of integers");
      out.push_back(v);
      p = end;
    }
    return out;
  }
  int64_t integer(const char* key, int64_t def) const {
    std::vector<int64_t> v = ints(key, {def});
    if (v.size() != 1) bad("attribute " + std::string(key) + " must be one integer");
    return v[0];
  }
  float number(const char* key, float def) const {
    const std::string* s = attr(key);
    if (!s) return def;
    char* end = nullptr;
    double v = std::strtod(s->c_str(), &end);
    if (end == s->c_str() || *end) bad("attribute " + std::string(key) + "='" + *s + "' is not a number");
    return static_cast<float>(v);
  }
  bool boolean(const char* key, bool def) const {
    const std::string* s = attr(key);
    if (!s) return def;
    if (*s == "True" || *s == "true" || *s == "1") return true;
    if (*s == "False" || *s == "false" || *s == "0") return false;
    bad("attribute " + std::string(key) + "='" + *s + "' is not a boolean");
  }
  std::string text(const char* key, const std::string& def) const {
    const std::string* s = attr(key);
    return s ? *s : def;
  }
  std::vector<int64_t> window(const char* key, size_t n, int64_t def) const {
    std::vector<int64_t> v = ints(key, {});
    if (v.empty()) v.assign(n, def);
    if (v.size() != n) bad("attribute " + std::string(key) + " has " + std::to_string(v.size()) + " values for a " + std::to_string(n) + "-D kernel");
    for (int64_t x : v)
      if (x < 0 || x > kMaxDim) bad("attribute " + std::string(key) + " has value " + std::to_string(x));
    return v;
  }

  // ---- values ------------------------------------------------------------------------------
  Graph& g() { return b_.main_graph(); }
  Value* op(const std::string& type, const std::vector<Value*>& in, std::vector<Attribute> a = {}) {
    return b_.node(g(), type, in, std::move(a), 1, "", node_name_)[0];
  }
  std::vector<Value*> op_multi(const std::string& type, const std::vector<Value*>& in, std::vector<Attribute> a, size_t n) {
    return b_.node(g(), type, in, std::move(a), n, "", node_name_);
  }
  Value* const_i64(const std::vector<int64_t>& v) {
    return b_.owned_constant(g(), name_ + "/shape", {static_cast<int64_t>(v.size())}, v);
  }
  Value* const_f32(const std::vector<float>& v, std::vector<int64_t> dims, const std::string& what) {
    return b_.owned_constant(g(), name_ + "/" + what, std::move(dims), v);
  }

  // A variable (op "null"): a parameter from the .params file, else a graph input.
  Value* variable(size_t id) {
    const std::string& name = names_[id];
    auto it = params_.find(name);
    if (it == params_.end()) {
      Value* v = b_.input(g(), name, Type::tensor(DataType::kFloat));
      return v;
    }
    const Param& p = it->second;
    if (p.none) fail_invalid(params_label_ + ": parameter '" + name + "' is an array without shape or data");
    if (p.dtype == DataType::kFloat) return b_.constant(g(), name, DataType::kFloat, p.dims, storage_, p.offset);
    // Other float widths become float32 (MXNet's inference math is float32).
    return b_.owned_constant(g(), name, p.dims, param_floats(p, name));
  }
  std::vector<float> param_floats(const Param& p, const std::string& name) const {
    if (p.none) fail_invalid(params_label_ + ": parameter '" + name + "' is an array without shape or data");
    size_t width = p.dtype == DataType::kDouble ? 8 : p.dtype == DataType::kFloat16 ? 2 : p.dtype == DataType::kFloat ? 4 : 1;
    size_t n = p.nbytes / width;
    std::vector<float> f(n);
    const uint8_t* src = storage_->data() + p.offset;
    if (p.dtype == DataType::kFloat) {
      if (n) std::memcpy(f.data(), src, n * 4);
    } else if (p.dtype == DataType::kDouble) {
      for (size_t i = 0; i < n; ++i) { double d; std::memcpy(&d, src + 8 * i, 8); f[i] = static_cast<float>(d); }
    } else if (p.dtype == DataType::kFloat16) {
      for (size_t i = 0; i < n; ++i) { uint16_t h; std::memcpy(&h, src + 2 * i, 2); f[i] = f16_to_f32(h); }
    } else {
      fail(ErrorKind::kUnsupported, params_label_ + ": parameter '" + name + "' has integer type flag " + std::to_string(p.type_flag));
    }
    return f;
  }
  Value* value(size_t id, size_t idx) {
    auto& outs = outputs_[id];
    if (ops_[id] == "null" && outs.empty()) outs.push_back(variable(id));
    if (idx >= outs.size()) fail_invalid(label_ + ": output " + std::to_string(idx) + " of node '" + names_[id] + "' does not exist");
    return outs[idx];
  }
  Value* in(size_t i) {
    if (i >= inputs_.size()) bad("needs at least " + std::to_string(i + 1) + " input(s), has " + std::to_string(inputs_.size()));
    return value(inputs_[i].first, inputs_[i].second);
  }
  const Param* param_of(size_t i) const {
    if (i >= inputs_.size()) return nullptr;
    size_t id = inputs_[i].first;
    if (ops_[id] != "null") return nullptr;
    auto it = params_.find(names_[id]);
    return it == params_.end() ? nullptr : &it->second;
  }
  const Param& need_param(size_t i, const char* what) const {
    const Param* p = param_of(i);
    if (!p) bad(std::string("its ") + what + " (input " + std::to_string(i) + ") must be a parameter in the .params file");
    return *p;
  }

  // ---- nodes -------------------------------------------------------------------------------
  void node(size_t id, const json::Value& n) {
    cur_id_ = id;
    op_ = str_member(n, "op");
    name_ = str_member(n, "name");
    if (name_.empty()) name_ = "node" + std::to_string(id);
    names_.push_back(name_);
    ops_.push_back(op_);
    node_name_ = head_ids_.count(id) ? name_ + "/" + op_ : name_;
    attr_objects_.clear();
    for (const char* key : {"attrs", "attr", "param"})
      if (const json::Value* a = n.find(key); a && a->is_object()) attr_objects_.push_back(a);
    inputs_.clear();
    if (const json::Value* ins = n.find("inputs")) {
      if (!ins->is_array()) bad("'inputs' must be an array");
      for (const json::Value& e : ins->array) inputs_.push_back(entry(e, id));  // only earlier nodes
    }
    if (op_ == "null") return;
    outputs_[id] = translate();
  }

  std::vector<Value*> translate() {
    const std::string& o = op_;
    if (auto it = binary_ops().find(o); it != binary_ops().end()) return {op(it->second, {in(0), in(1)})};
    // mode 'always' drops at inference too: a random result no IR reproduces.
    if (o == "Dropout" && text("mode", "training") == "always" && number("p", 0.5f) > 0) unsupported("mode 'always' (dropout at inference)");
    if (auto it = unary_ops().find(o); it != unary_ops().end())
      return {std::string(it->second) == "Flatten" ? op("Flatten", {in(0)}, attrs(attr_i("axis", 1))) : op(it->second, {in(0)})};
    if (scalar_ops().count(o)) return {scalar_op()};
    if (o == "Convolution" || o == "Deconvolution") return {convolution(o == "Deconvolution")};
    if (o == "BatchNorm") return {batch_norm()};
    if (o == "Activation") return {activation(text("act_type", "relu"))};
    if (o == "LeakyReLU") return {leaky_relu()};
    if (o == "Pooling") return {pooling()};
    if (o == "FullyConnected") return {fully_connected()};
    if (o == "Concat" || o == "concat" || o == "_rnn_param_concat") {
      std::vector<Value*> xs;
      for (size_t i = 0; i < inputs_.size(); ++i) xs.push_back(in(i));
      if (xs.empty()) bad("has no inputs");
      return {op("Concat", xs, attrs(attr_i("axis", integer("dim", integer("axis", 1)))))};
    }
    if (o == "add_n" || o == "ElementWiseSum") {
      std::vector<Value*> xs;
      for (size_t i = 0; i < inputs_.size(); ++i) xs.push_back(in(i));
      if (xs.empty()) bad("has no inputs");
      return {op("Sum", xs)};
    }
    if (o == "Reshape" || o == "reshape") return {reshape()};
    if (o == "SoftmaxOutput" || o == "Softmax") return {softmax_output()};
    if (o == "SoftmaxActivation") {
      if (text("mode", "instance") == "channel") return {op("Softmax", {in(0)}, attrs(attr_i("axis", 1)))};
      return {softmax_output()};
    }
    if (o == "softmax" || o == "log_softmax") {
      if (boolean("use_length", false)) unsupported("use_length (a softmax over a length given per row)");
      Value* x = in(0);
      if (attr("temperature")) x = op("Div", {x, const_f32({number("temperature", 1.f)}, {}, "temperature")});
      return {op(o == "softmax" ? "Softmax" : "LogSoftmax", {x}, attrs(attr_i("axis", integer("axis", -1))))};
    }
    if (o == "UpSampling") return {upsampling()};
    if (o == "RNN") return rnn();
    if (o == "_zeros" || o == "zeros") return zeros();
    if (o == "swapaxes" || o == "SwapAxis") return {swapaxes()};
    if (o == "SliceChannel" || o == "split") return slice_channel();
    if (o == "stack") {
      std::vector<Value*> xs;
      Value* axis = const_i64({integer("axis", 0)});
      for (size_t i = 0; i < inputs_.size(); ++i) xs.push_back(op("Unsqueeze", {in(i), axis}));
      if (xs.empty()) bad("has no inputs");
      return {op("Concat", xs, attrs(attr_i("axis", integer("axis", 0))))};
    }
    if (o == "expand_dims") return {op("Unsqueeze", {in(0), const_i64({integer("axis", 0)})})};
    if (o == "transpose") {
      std::vector<int64_t> axes = ints("axes", {});
      if (axes.empty()) return {op("Transpose", {in(0)})};
      return {op("Transpose", {in(0)}, attrs(attr_ints("perm", axes)))};
    }
    if (o == "clip")
      return {op("Clip", {in(0), const_f32({number("a_min", 0.f)}, {}, "min"), const_f32({number("a_max", 0.f)}, {}, "max")})};
    unsupported("op");
  }

  Value* scalar_op() {
    Value* x = in(0);
    Value* s = const_f32({number("scalar", 0.f)}, {}, "scalar");
    const std::string& o = op_;
    if (o == "_plus_scalar") return op("Add", {x, s});
    if (o == "_minus_scalar") return op("Sub", {x, s});
    if (o == "_rminus_scalar") return op("Sub", {s, x});
    if (o == "_mul_scalar") return op("Mul", {x, s});
    if (o == "_div_scalar") return op("Div", {x, s});
    if (o == "_rdiv_scalar") return op("Div", {s, x});
    if (o == "_power_scalar") return op("Pow", {x, s});
    if (o == "_maximum_scalar") return op("Max", {x, s});
    return op("Min", {x, s});
  }

  Value* convolution(bool transposed) {
    if (text("layout", "NCHW").find('C') != 1) unsupported("layout " + text("layout", ""));
    std::vector<int64_t> kernel = ints("kernel", {});
    if (kernel.empty() || kernel.size() > 3) bad("kernel must have 1 to 3 values");
    for (int64_t k : kernel)
      if (k < 1 || k > kMaxDim) bad("kernel sizes must be positive");
    size_t n = kernel.size();
    std::vector<int64_t> stride = window("stride", n, 1), dilate = window("dilate", n, 1), pad = window("pad", n, 0);
    for (size_t i = 0; i < n; ++i)
      if (stride[i] < 1 || dilate[i] < 1) bad("stride and dilate must be at least 1");
    int64_t filters = integer("num_filter", 0), group = integer("num_group", 1);
    if (filters < 1 || group < 1 || filters % group) bad("num_filter must be a positive multiple of num_group");
    const Param& w = need_param(1, "weight");
    if (w.dims.size() != n + 2 || !std::equal(kernel.begin(), kernel.end(), w.dims.begin() + 2) ||
        (transposed ? w.dims[1] * group : w.dims[0]) != filters)
      bad("weight shape does not match num_filter " + std::to_string(filters) + ", num_group and kernel");
    std::vector<Value*> xs = {in(0), in(1)};
    if (!boolean("no_bias", transposed)) xs.push_back(in(2));
    std::vector<int64_t> pads = pad;
    pads.insert(pads.end(), pad.begin(), pad.end());
    std::vector<Attribute> a = attrs(attr_ints("kernel_shape", kernel), attr_ints("strides", stride), attr_ints("dilations", dilate),
                                     attr_ints("pads", pads), attr_i("group", group));
    if (transposed) {
      // target_shape (any value non-zero) sets the output size: MXNet then ignores pad and adj and
      // pads ceil(excess / 2) in front, floor at the end, as ONNX output_shape does.
      std::vector<int64_t> target = ints("target_shape", {});
      if (std::any_of(target.begin(), target.end(), [](int64_t t) { return t != 0; })) {
        if (target.size() != n) bad("target_shape has " + std::to_string(target.size()) + " values for a " + std::to_string(n) + "-D kernel");
        for (int64_t t : target)
          if (t < 1 || t > kMaxDim) bad("target_shape values must be positive");
        a.erase(std::remove_if(a.begin(), a.end(), [](const Attribute& x) { return x.name == "pads"; }), a.end());
        a.push_back(attr_ints("output_shape", target));
        return op("ConvTranspose", xs, std::move(a));
      }
      std::vector<int64_t> adj = window("adj", n, 0);
      for (size_t i = 0; i < n; ++i)
        if (adj[i] >= std::max(stride[i], dilate[i])) bad("adj must be smaller than stride or dilate");
      a.push_back(attr_ints("output_padding", adj));
    }
    return op(transposed ? "ConvTranspose" : "Conv", xs, std::move(a));
  }

  Value* batch_norm() {
    if (integer("axis", 1) != 1) unsupported("axis other than 1");
    float eps = number("eps", 1e-3f);
    if (!(eps >= 0)) bad("eps must not be negative");
    const Param& beta = need_param(2, "beta");
    need_param(3, "moving_mean");
    need_param(4, "moving_var");
    Value* gamma = in(1);
    // fix_gamma (the symbolic API's default) means gamma is 1 whatever the file holds.
    if (boolean("fix_gamma", true)) {
      int64_t c = beta.dims.size() == 1 ? beta.dims[0] : -1;
      if (c < 0) bad("beta must be 1-D");
      gamma = const_f32(std::vector<float>(static_cast<size_t>(c), 1.f), {c}, "gamma");
    }
    return op("BatchNormalization", {in(0), gamma, in(2), in(3), in(4)}, attrs(attr_f("epsilon", eps)));
  }

  Value* activation(const std::string& type) {
    static const std::unordered_map<std::string, const char*> m = {
        {"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"softrelu", "Softplus"}, {"softsign", "Softsign"}};
    if (type == "log_sigmoid") return op("Neg", {op("Softplus", {op("Neg", {in(0)})})});  // log(sigmoid(x)) = -softplus(-x), no underflow
    if (type == "mish") return op("Mish", {in(0)});
    auto it = m.find(type);
    if (it == m.end()) unsupported("act_type '" + type + "'");
    return op(it->second, {in(0)});
  }

  Value* leaky_relu() {
    std::string type = text("act_type", "leaky");
    float slope = number("slope", 0.25f);
    if (type == "leaky") return op("LeakyRelu", {in(0)}, attrs(attr_f("alpha", slope)));
    if (type == "elu") return op("Elu", {in(0)}, attrs(attr_f("alpha", slope)));
    if (type == "selu") return op("Selu", {in(0)});
    if (type == "gelu") return op("Gelu", {in(0)});  // MXNet's is the erf form
    if (type == "gelu_tanh") return op("Gelu", {in(0)}, attrs(attr_s("approximate", "tanh")));
    // rrelu draws its slope at training only; inference uses the middle of the range.
    if (type == "rrelu") return op("LeakyRelu", {in(0)}, attrs(attr_f("alpha", (number("lower_bound", 0.125f) + number("upper_bound", 0.334f)) / 2)));
    if (type == "prelu") {
      // gamma is per channel (axis 1) whatever the input's rank: shaped [C, 1, ..., 1] with
      // rank - 2 ones, computed from the input's shape (the symbol has no shapes; fold makes it a
      // constant once input= gives them). A fixed [C, 1, 1] broadcast wrongly on [N, C] or [N, C, W].
      const Param& g = need_param(1, "gamma");
      if (g.dims.size() != 1) bad("prelu gamma must be 1-D");
      Value* rank = op("Shape", {op("Shape", {in(0)})});
      Value* trailing = op("Max", {op("Sub", {rank, const_i64({2})}), const_i64({0})});
      Value* ones = op("Slice", {const_i64(std::vector<int64_t>(64, 1)), const_i64({0}), trailing, const_i64({0})});
      Value* target = op("Concat", {const_i64({-1}), ones}, attrs(attr_i("axis", 0)));
      return op("PRelu", {in(0), op("Reshape", {in(1), target})});
    }
    unsupported("act_type '" + type + "'");
  }

  Value* pooling() {
    std::string type = text("pool_type", "max");
    if (type != "max" && type != "avg" && type != "sum") unsupported("pool_type '" + type + "'");
    if (text("layout", "NCHW").find('C') != 1) unsupported("layout " + text("layout", ""));
    if (boolean("global_pool", false)) {
      if (type == "sum") unsupported("global sum pooling");
      return op(type == "max" ? "GlobalMaxPool" : "GlobalAveragePool", {in(0)});
    }
    std::vector<int64_t> kernel = ints("kernel", {});
    if (kernel.empty() || kernel.size() > 3) bad("kernel must have 1 to 3 values");
    size_t n = kernel.size();
    for (int64_t k : kernel)
      if (k < 1 || k > kMaxDim) bad("kernel sizes must be positive");
    std::vector<int64_t> stride = window("stride", n, 1), pad = window("pad", n, 0);
    for (size_t i = 0; i < n; ++i) {
      if (stride[i] < 1) bad("stride must be at least 1");
      if (pad[i] >= kernel[i]) bad("pad must be smaller than the kernel");
    }
    std::string convention = text("pooling_convention", "valid");
    if (convention != "valid" && convention != "full") unsupported("pooling_convention '" + convention + "'");
    std::vector<int64_t> pads = pad;
    pads.insert(pads.end(), pad.begin(), pad.end());
    std::vector<Attribute> a = attrs(attr_ints("kernel_shape", kernel), attr_ints("strides", stride), attr_ints("pads", pads),
                                     attr_i("ceil_mode", convention == "full" ? 1 : 0));
    if (type == "max") return op("MaxPool", {in(0)}, std::move(a));
    bool include_pad = boolean("count_include_pad", true) || type == "sum";
    a.push_back(attr_i("count_include_pad", include_pad ? 1 : 0));
    Value* y = op("AveragePool", {in(0)}, std::move(a));
    if (type == "sum") {
      int64_t area = 1;
      for (int64_t k : kernel) area *= k;
      y = op("Mul", {y, const_f32({static_cast<float>(area)}, {}, "area")});
    }
    return y;
  }

  Value* fully_connected() {
    int64_t hidden = integer("num_hidden", 0);
    const Param& w = need_param(1, "weight");
    if (w.dims.size() != 2 || w.dims[0] != hidden) bad("weight shape does not match num_hidden " + std::to_string(hidden));
    bool bias = !boolean("no_bias", false);
    if (boolean("flatten", true)) {
      std::vector<Value*> xs = {op("Flatten", {in(0)}, attrs(attr_i("axis", 1))), in(1)};
      if (bias) xs.push_back(in(2));
      return op("Gemm", xs, attrs(attr_i("transB", 1)));
    }
    Value* y = op("MatMul", {in(0), op("Transpose", {in(1)}, attrs(attr_ints("perm", {1, 0})))});
    return bias ? op("Add", {y, in(2)}) : y;
  }

  // MXNet's Reshape codes (matrix_op-inl.h InferReshapeShape): k > 0 and 0 (copy) and -1
  // (infer) each take one input dim; -2 copies all the remaining dims, -3 merges the next two,
  // -4 splits one into the next two codes (one may be -1). reverse=True matches the codes from
  // the right. Only 0, -1 and positive codes without reverse need no input shape; the others are
  // computed from Shape at run time (folded once input= fixes the shapes).
  Value* reshape() {
    if (!ints("target_shape", {}).empty() && ints("shape", {}).empty()) unsupported("the legacy target_shape (use shape)");
    std::vector<int64_t> shape = ints("shape", {});
    if (shape.empty()) bad("needs a shape");
    bool reverse = boolean("reverse", false);
    bool special = reverse;
    for (int64_t s : shape) {
      if (s < -4) bad("shape code " + std::to_string(s) + " does not exist (-1 to -4 are MXNet's special codes)");
      if (s > kMaxDim) bad("shape value " + std::to_string(s) + " is too large");
      special |= s < -1;
    }
    if (!special) {
      if (std::count(shape.begin(), shape.end(), -1) > 1) bad("more than one -1 in the shape");
      return op("Reshape", {in(0), const_i64(shape)});  // 0 copies the input dim, as in ONNX
    }
    if (reverse) std::reverse(shape.begin(), shape.end());
    Value* dims = op("Shape", {in(0)});
    // Input dim i counted from the front, or with reverse from the back.
    bool rest_taken = false;
    auto dim = [&](int64_t i) {
      if (rest_taken) bad("a code after -2 reads an input dim, but -2 took them all");
      return op("Gather", {dims, const_i64({reverse ? -1 - i : i})}, attrs(attr_i("axis", 0)));
    };
    std::vector<Value*> pieces;  // in code order; reversed back at the end under reverse
    int64_t src = 0, inferred = 0;
    for (size_t k = 0; k < shape.size(); ++k) {
      int64_t c = shape[k];
      if (c > 0) {
        pieces.push_back(const_i64({c}));
        ++src;
      } else if (c == 0) {
        pieces.push_back(dim(src++));
      } else if (c == -1) {
        if (++inferred > 1) bad("more than one -1 in the shape");
        pieces.push_back(const_i64({-1}));
        ++src;
      } else if (c == -2) {
        // All remaining dims: [src, rank) from the front; from the back [0, rank - src), which
        // keeps its order in the final reversal as one piece.
        Value* rest = reverse ? op("Slice", {dims, const_i64({0}), op("Sub", {op("Shape", {dims}), const_i64({src})}), const_i64({0})})
                              : op("Slice", {dims, const_i64({src}), const_i64({INT64_MAX}), const_i64({0})});
        pieces.push_back(rest);
        rest_taken = true;
      } else if (c == -3) {
        pieces.push_back(op("Mul", {dim(src), dim(src + 1)}));
        src += 2;
      } else {  // -4: split one dim into the next two codes
        if (k + 2 >= shape.size()) bad("-4 needs two codes after it");
        int64_t a = shape[k + 1], b = shape[k + 2];
        if (a == 0 || b == 0 || a < -1 || b < -1 || (a == -1 && b == -1)) bad("the two codes after -4 must be positive or -1, at most one of them -1");
        Value* whole = dim(src++);
        Value* va = a == -1 ? op("Div", {whole, const_i64({b})}) : const_i64({a});
        Value* vb = b == -1 ? op("Div", {whole, const_i64({a})}) : const_i64({b});
        pieces.push_back(va);
        pieces.push_back(vb);
        k += 2;
      }
    }
    if (reverse) std::reverse(pieces.begin(), pieces.end());
    return op("Reshape", {in(0), op("Concat", pieces, attrs(attr_i("axis", 0)))});
  }

  Value* softmax_output() {
    // multi_output (over axis 1) wins over preserve_shape (over the last axis), as in
    // softmax_output-inl.h; the other options (labels, gradient scaling) are training only.
    if (boolean("multi_output", false)) return op("Softmax", {in(0)}, attrs(attr_i("axis", 1)));
    if (boolean("preserve_shape", false)) return op("Softmax", {in(0)}, attrs(attr_i("axis", -1)));
    // Without multi_output MXNet normalizes each sample over all its elements.
    Value* x = in(0);
    Value* shape = op("Shape", {x});
    Value* flat = op("Flatten", {x}, attrs(attr_i("axis", 1)));
    return op("Reshape", {op("Softmax", {flat}, attrs(attr_i("axis", 1))), shape});
  }

  Value* upsampling() {
    std::string type = text("sample_type", "nearest");
    int64_t scale = integer("scale", 1);
    if (scale < 1 || scale > 4096) bad("scale must be between 1 and 4096");
    if (type == "bilinear") {
      // A depthwise Deconvolution with the weight input (upsampling-inl.h
      // GetDeconvolutionParam): kernel 2·scale - scale % 2, stride scale, pad ceil((scale-1)/2).
      int64_t filters = integer("num_filter", 0), k = 2 * scale - scale % 2;
      const Param& w = need_param(1, "weight");
      if (filters < 1 || w.dims != std::vector<int64_t>{filters, 1, k, k})
        bad("bilinear weight must be [num_filter, 1, " + std::to_string(k) + ", " + std::to_string(k) + "] for scale " + std::to_string(scale));
      int64_t pad = scale / 2;
      return op("ConvTranspose", {in(0), in(1)},
                attrs(attr_ints("kernel_shape", {k, k}), attr_ints("strides", {scale, scale}), attr_ints("pads", {pad, pad, pad, pad}),
                      attr_i("group", filters)));
    }
    if (type != "nearest") unsupported("sample_type '" + type + "'");
    if (integer("num_args", 1) != 1 || inputs_.size() != 1) unsupported("more than one input");
    float s = static_cast<float>(scale);
    return op("Resize", {in(0), nullptr, const_f32({1.f, 1.f, s, s}, {4}, "scales")},
              attrs(attr_s("mode", "nearest"), attr_s("coordinate_transformation_mode", "asymmetric"), attr_s("nearest_mode", "floor")));
  }


  // ---- recurrent networks ------------------------------------------------------------------
  size_t input_node(const json::Value& n, size_t i, size_t id) const {
    const json::Value* ins = n.is_object() ? n.find("inputs") : nullptr;
    if (!ins || !ins->is_array() || ins->array.size() <= i) return SIZE_MAX;
    return entry(ins->array[i], id).first;
  }
  // swapaxes needs its input's rank, which symbols lack; next to an RNN (gluon's NTC layers swap
  // T and N around it) the rank is 3.
  void find_rnn_neighbours() {
    const auto& nodes = *nodes_;
    auto is_swap = [&](size_t id) { return id < nodes.size() && (str_member(nodes[id], "op") == "swapaxes" || str_member(nodes[id], "op") == "SwapAxis"); };
    for (size_t id = 0; id < nodes.size(); ++id) {
      std::string o = str_member(nodes[id], "op");
      size_t from = input_node(nodes[id], 0, id);
      if (o == "RNN" && is_swap(from)) rank3_.insert(from);
      if (is_swap(id) && from != SIZE_MAX && str_member(nodes[from], "op") == "RNN") rank3_.insert(id);
    }
  }

  Value* swapaxes() {
    int64_t d1 = integer("dim1", 0), d2 = integer("dim2", 0);
    if (d1 == d2) return op("Identity", {in(0)});
    if (!rank3_.count(cur_id_)) unsupported("swapaxes of an input of unknown rank (the symbol gives it only next to an RNN); use transpose with axes");
    if (d1 < -3 || d1 > 2 || d2 < -3 || d2 > 2) bad("dim1/dim2 are outside the rank 3 of the RNN data");
    std::vector<int64_t> perm = {0, 1, 2};
    std::swap(perm[static_cast<size_t>((d1 + 3) % 3)], perm[static_cast<size_t>((d2 + 3) % 3)]);
    return op("Transpose", {in(0)}, attrs(attr_ints("perm", perm)));
  }

  // zeros(shape=...): a constant. A 0 in the shape is a dimension MXNet infers from the
  // consumer (gluon's begin states: batch 0). The RNN op takes such zeros as absent states;
  // elsewhere (gluon's unrolled cells: FullyConnected, elemwise_mul) a 1 there broadcasts
  // against the real batch to the same result.
  std::vector<Value*> zeros() {
    std::vector<int64_t> shape = ints("shape", {});
    int64_t count = 1;
    for (int64_t& d : shape) {
      if (d < 0 || d > kMaxDim) bad("shape value " + std::to_string(d) + " is invalid");
      if (d == 0) {
        unshaped_zeros_.insert(cur_id_);
        d = 1;
      }
      if (count > (int64_t{1} << 26) / d) fail(ErrorKind::kResourceLimit, where() + ": more than 2^26 zeros");
      count *= d;
    }
    return {const_f32(std::vector<float>(static_cast<size_t>(count), 0.f), shape, "zeros")};
  }

  // SliceChannel / split: equal parts along axis, squeezed when squeeze_axis (gluon's unrolled
  // cells split the LSTM gates with it, and the sequence into steps).
  std::vector<Value*> slice_channel() {
    int64_t n = integer("num_outputs", 0), axis = integer("axis", 1);
    if (n < 1 || n > 4096) bad("num_outputs must be between 1 and 4096");
    std::vector<Value*> parts = op_multi("Split", {in(0)}, attrs(attr_i("axis", axis), attr_i("num_outputs", n)), static_cast<size_t>(n));
    if (boolean("squeeze_axis", false)) {
      Value* axes = const_i64({axis});
      for (Value*& p : parts) p = op("Squeeze", {p, axes});
    }
    return parts;
  }

  // The float values of input i when it is constant: a parameter, possibly reshaped or
  // concatenated along axis 0 (gluon's _rnn_param_concat of the reshaped i2h/h2h weights).
  std::vector<float> constant_floats(size_t i, const char* what) {
    if (i >= inputs_.size()) bad(std::string("has no ") + what + " input");
    std::vector<float> out;
    collect_floats(inputs_[i].first, out, 0, what);
    return out;
  }
  void collect_floats(size_t id, std::vector<float>& out, int depth, const char* what) {
    if (depth > 64) bad(std::string("its ") + what + " are nested more than 64 reshapes/concats deep");
    if (id >= ops_.size()) bad(std::string("its ") + what + " come from a node without inputs");
    const std::string& o = ops_[id];
    const json::Value& n = (*nodes_)[id];
    if (o == "null") {
      auto it = params_.find(names_[id]);
      if (it == params_.end()) bad(std::string("its ") + what + " ('" + names_[id] + "') must be a parameter in the .params file");
      std::vector<float> f = param_floats(it->second, names_[id]);
      if (out.size() + f.size() > (size_t{1} << 31)) fail(ErrorKind::kResourceLimit, where() + ": more than 2^31 " + what);
      out.insert(out.end(), f.begin(), f.end());
      return;
    }
    if (o == "Reshape" || o == "reshape" || o == "Flatten" || o == "flatten") return collect_floats(input_node(n, 0, id), out, depth + 1, what);
    bool concat = o == "_rnn_param_concat" || o == "Concat" || o == "concat";
    const json::Value* a = n.find("attrs") ? n.find("attrs") : n.find("param");
    const json::Value* dim = a && a->is_object() ? (a->find("dim") ? a->find("dim") : a->find("axis")) : nullptr;
    if (concat && dim && dim->is_string() && dim->string == "0") {
      const json::Value* ins = n.find("inputs");
      for (size_t k = 0; ins && ins->is_array() && k < ins->array.size(); ++k) collect_floats(input_node(n, k, id), out, depth + 1, what);
      return;
    }
    bad(std::string("its ") + what + " must be constant (a parameter, reshaped or concatenated along axis 0), not the output of '" + names_[id] +
        "' (" + o + ")");
  }

  // MXNet's fused RNN (rnn-inl.h): data [T, N, I], the flat parameters, the begin state
  // [layers·dirs, N, H] and (lstm) cell state → out [T, N, dirs·H], plus the final states with
  // state_outputs. One ONNX LSTM/GRU/RNN per layer, each layer's output the next one's input;
  // the ONNX recurrent lowering then makes the OpenVINO sequence ops. MXNet's GRU applies the
  // reset gate after the recurrent product (ONNX linear_before_reset=1).
  std::vector<Value*> rnn() {
    std::string mode = text("mode", "");
    int gates = mode == "lstm" ? 4 : mode == "gru" ? 3 : (mode == "rnn_tanh" || mode == "rnn_relu") ? 1 : 0;
    if (!gates) unsupported("mode '" + mode + "' (lstm, gru, rnn_tanh and rnn_relu are)");
    int64_t hidden = integer("state_size", 0), layers = integer("num_layers", 1);
    if (hidden < 1 || hidden > (1 << 20)) bad("state_size must be between 1 and 2^20");
    if (layers < 1 || layers > 1024) bad("num_layers must be between 1 and 1024");
    int64_t dirs = boolean("bidirectional", false) ? 2 : 1;
    if (integer("projection_size", 0)) unsupported("projection_size (an LSTM with projection)");
    if (attr("lstm_state_clip_min") || attr("lstm_state_clip_max")) unsupported("lstm_state_clip_min/max (clipping of the cell state)");
    if (boolean("use_sequence_length", false)) unsupported("use_sequence_length");
    size_t n_states = gates == 4 ? 2 : 1;
    std::vector<mxnet::RnnLayerWeights> weights = mxnet::split_rnn_parameters(constant_floats(1, "parameters"), gates, hidden, layers, dirs, where());
    std::vector<Value*> begin(n_states, nullptr);  // absent: zeros
    for (size_t k = 0; k < n_states; ++k)
      if (2 + k < inputs_.size() && !unshaped_zeros_.count(inputs_[2 + k].first)) begin[k] = in(2 + k);
    const char* type = gates == 4 ? "LSTM" : gates == 3 ? "GRU" : "RNN";
    const int64_t gh = gates * hidden;
    Value* x = in(0);
    std::vector<std::vector<Value*>> finals(n_states);
    for (int64_t l = 0; l < layers; ++l) {
      const mxnet::RnnLayerWeights& lw = weights[static_cast<size_t>(l)];
      std::string layer = "l" + std::to_string(l);
      std::vector<Value*> xs = {x, const_f32(lw.w, {dirs, gh, lw.input_size}, layer + "_W"), const_f32(lw.r, {dirs, gh, hidden}, layer + "_R"),
                                const_f32(lw.b, {dirs, 2 * gh}, layer + "_B"), nullptr};
      for (size_t k = 0; k < n_states; ++k)
        xs.push_back(begin[k] ? op("Slice", {begin[k], const_i64({l * dirs}), const_i64({(l + 1) * dirs}), const_i64({0})}) : nullptr);
      while (!xs.back()) xs.pop_back();
      std::vector<Attribute> a = attrs(attr_i("hidden_size", hidden), attr_s("direction", dirs == 2 ? "bidirectional" : "forward"));
      if (gates == 3) a.push_back(attr_i("linear_before_reset", 1));
      if (mode == "rnn_relu") a.push_back(attr_strings("activations", std::vector<std::string>(static_cast<size_t>(dirs), "Relu")));
      std::vector<Value*> outs = op_multi(type, xs, std::move(a), 1 + n_states);
      // Y [T, dirs, N, H] → [T, N, dirs·H], the directions side by side as MXNet has them.
      x = op("Reshape", {op("Transpose", {outs[0]}, attrs(attr_ints("perm", {0, 2, 1, 3}))), const_i64({0, 0, -1})});
      for (size_t k = 0; k < n_states; ++k) finals[k].push_back(outs[1 + k]);
    }
    std::vector<Value*> result = {x};
    if (boolean("state_outputs", false))
      for (auto& f : finals) result.push_back(f.size() == 1 ? f[0] : op("Concat", f, attrs(attr_i("axis", 0))));
    return result;
  }

  const json::Value& sym_;
  std::string label_;
  std::shared_ptr<const Storage> storage_;
  std::unordered_map<std::string, Param> params_;
  std::string params_label_;
  Builder b_;
  std::vector<std::vector<Value*>> outputs_;
  std::vector<std::string> names_, ops_;
  std::unordered_set<size_t> head_ids_;
  const std::vector<json::Value>* nodes_ = nullptr;
  std::unordered_set<size_t> unshaped_zeros_, rank3_;
  size_t cur_id_ = 0;
  std::string op_, name_, node_name_;
  std::vector<const json::Value*> attr_objects_;
  std::vector<std::pair<size_t, size_t>> inputs_;
};

}  // namespace

std::unique_ptr<Model> read_mxnet(std::string_view symbol_json, const std::string& symbol_label, std::shared_ptr<const Storage> params,
                                  const std::string& params_label) {
  json::Value sym = json::parse(symbol_json, symbol_label);
  std::unordered_map<std::string, Param> p;
  if (params) p = read_params(*params, params_label);
  return Translator(sym, symbol_label, std::move(params), std::move(p), params_label).run();
}

std::unique_ptr<Model> read_mxnet_files(const std::string& symbol_path, const std::string& params_path) {
  std::ifstream in(symbol_path, std::ios::binary);
  if (!in) fail(ErrorKind::kFile, symbol_path + ": cannot be opened");
  std::ostringstream text;
  text << in.rdbuf();
  std::shared_ptr<const Storage> params;
  if (!params_path.empty()) params = std::make_shared<MappedStorage>(MappedFile::open(params_path));
  return read_mxnet(text.str(), symbol_path, std::move(params), params_path);
}

}  // namespace irforge
