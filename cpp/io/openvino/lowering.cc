#include "io/openvino/lowering.h"

#include "io/openvino/custom_layers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <tuple>

#include "support/error.h"
#include "support/fp16.h"

namespace irforge::ov {

std::string join_ints(const Ints& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

int64_t norm_axis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

std::string fmt_float(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

namespace {

PShape pshape_of(const Type& t) {
  if (!t.is_tensor() || !t.shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const Dim& d : *t.shape) dims.push_back(d.is_static() ? d.value : -1);
  return dims;
}

// A dynamic input dim as the Parameter's shape text: "lo..hi" for a range given in --input
// (a symbolic dim "lo..hi (x dim 0)", see irforge.inputs), else "?".
std::string bounded_dim_text(const Dim& d) {
  if (d.kind != Dim::Kind::kParam) return "?";
  size_t dots = d.param.find("..");
  if (dots == std::string::npos || dots == 0) return "?";
  size_t end = d.param.find(' ', dots);
  std::string lo = d.param.substr(0, dots), hi = d.param.substr(dots + 2, end == std::string::npos ? std::string::npos : end - dots - 2);
  auto digits = [](const std::string& s) { return !s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string::npos; };
  return digits(lo) && digits(hi) ? lo + ".." + hi : "?";
}

std::vector<uint8_t> encode_scalar(ElemType t, double v) {
  auto bytes_of = [](const auto& x) {
    std::vector<uint8_t> b(sizeof(x));
    std::memcpy(b.data(), &x, sizeof(x));
    return b;
  };
  switch (t) {
    case ElemType::kF32: return bytes_of(static_cast<float>(v));
    case ElemType::kF64: return bytes_of(v);
    case ElemType::kF16: return bytes_of(f32_to_f16(static_cast<float>(v)));
    case ElemType::kBf16: return bytes_of(f32_to_bf16(static_cast<float>(v)));
    case ElemType::kI8: return bytes_of(static_cast<int8_t>(v));
    case ElemType::kI16: return bytes_of(static_cast<int16_t>(v));
    case ElemType::kI32: return bytes_of(static_cast<int32_t>(v));
    case ElemType::kI64: return bytes_of(static_cast<int64_t>(v));
    case ElemType::kU8: return bytes_of(static_cast<uint8_t>(v));
    case ElemType::kU16: return bytes_of(static_cast<uint16_t>(v));
    case ElemType::kU32: return bytes_of(static_cast<uint32_t>(v));
    case ElemType::kU64: return bytes_of(static_cast<uint64_t>(v));
    case ElemType::kBoolean: return {static_cast<uint8_t>(v != 0)};
    default: fail(ErrorKind::kUnsupported, std::string("cannot make a scalar constant of type ") + elem_name(t));
  }
}

}  // namespace

// ---- NodeContext ------------------------------------------------------------------------------

OvGraph& NodeContext::graph() { return g_.out(); }

std::string NodeContext::layer_name() {
  if (aux_ == 0) first_layer_ = static_cast<int>(graph().layers.size());
  std::string base = node_.name().empty() ? (node_.num_outputs() ? node_.output(0)->name() : node_.op_type()) : node_.name();
  return g_.unique_name(aux_++ == 0 ? base : base + "/" + std::to_string(aux_ - 1));
}

PortRef NodeContext::input(size_t i) {
  if (!has_input(i)) unsupported("input " + std::to_string(i) + " is required");
  if (node_.inputs()[i]->sparse_initializer())
    unsupported("input " + std::to_string(i) + " is the sparse initializer '" + node_.inputs()[i]->name() +
                "'; OpenVINO IR has no sparse constants");
  return g_.port_of(node_.inputs()[i]);
}

PortRef NodeContext::input_keep_precision(size_t i) {
  if (!has_input(i)) unsupported("input " + std::to_string(i) + " is required");
  const Value* v = node_.inputs()[i];
  if (const Tensor* t = g_.constant_tensor(v)) {
    auto it = g_.const_ports_.find(v);
    if (it != g_.const_ports_.end()) return it->second;
    PortRef p = g_.constant(*t, false, v->name());
    g_.const_ports_[v] = p;
    return p;
  }
  return g_.port_of(v);
}

const Tensor* NodeContext::const_input(size_t i) const {
  if (!has_input(i)) return nullptr;
  return g_.constant_tensor(node_.inputs()[i]);
}

PortRef NodeContext::const_input_as(size_t i, const Ints& dims) {
  const Tensor* t = const_input(i);
  if (!t) return {};
  uint64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) return {};
    count *= static_cast<uint64_t>(d);
  }
  if (count != t->element_count()) return {};
  auto view = std::make_shared<Tensor>(*t);  // shares the bytes (a view), only the dims differ
  view->set_dims(dims);
  g_.owned_tensors_.push_back(view);
  return g_.constant(*view, true, node_.inputs()[i]->name());
}

std::optional<Ints> NodeContext::const_ints(size_t i) const {
  const Tensor* t = const_input(i);
  if (!t) return std::nullopt;
  auto vals = tensor_as_doubles(*t);
  if (!vals) return std::nullopt;
  Ints out(vals->size());
  // int64 values beyond 2^53 lose precision through double (and 2^63-1 rounds up to 2^63, out
  // of range for the cast): read them exactly.
  if (t->dtype() == DataType::kInt64) {
    if (!out.empty()) std::memcpy(out.data(), t->data(), 8 * out.size());  // an empty tensor may have no data pointer
    return out;
  }
  const double limit = std::ldexp(1.0, 63);
  for (size_t k = 0; k < out.size(); ++k) {
    double d = (*vals)[k];
    // NaN, infinities and values beyond int64 have no integer meaning (casting them is UB).
    if (!(d >= -limit && d < limit)) return std::nullopt;
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

std::optional<std::vector<double>> NodeContext::const_floats(size_t i) const {
  const Tensor* t = const_input(i);
  if (!t) return std::nullopt;
  return tensor_as_doubles(*t);
}

ElemType NodeContext::type(PortRef p) const { return g_.out().port(p).type; }
PShape NodeContext::shape(PortRef p) const { return g_.out().port(p).shape; }

std::optional<int64_t> NodeContext::input_rank(size_t i) const {
  if (!has_input(i)) return std::nullopt;
  const Value* v = node_.inputs()[i];
  if (const Tensor* t = g_.constant_tensor(v)) return static_cast<int64_t>(t->dims().size());
  const Type& ty = v->type();
  if (ty.is_tensor() && ty.shape) return static_cast<int64_t>(ty.shape->size());
  auto it = g_.ports_.find(v);
  if (it != g_.ports_.end()) {
    const PShape& s = g_.out().port(it->second).shape;
    if (s) return static_cast<int64_t>(s->size());
  }
  return std::nullopt;
}

ElemType NodeContext::input_type(size_t i) { return type(input(i)); }

std::optional<ElemType> NodeContext::attr_elem_type(const std::string& name) const {
  int64_t v = attr_int(name, 0);
  if (v == 0) return std::nullopt;
  auto t = v > 0 && v <= kMaxDataType ? from_onnx(static_cast<DataType>(v)) : std::nullopt;
  if (!t) unsupported(name + " " + std::to_string(v) + " has no OpenVINO element type");
  return t;
}

std::vector<float> NodeContext::attr_floats(const std::string& name) const {
  const Attribute* a = node_.attr(name);
  return a && a->kind == AttrKind::kFloats ? a->floats : std::vector<float>{};
}

PortRef NodeContext::op(const std::string& type, const std::string& version, const std::vector<PortRef>& inputs,
                        const Attrs& attrs, ElemType out) {
  if (out == ElemType::kDynamic && !inputs.empty()) out = this->type(inputs[0]);
  return op_multi(type, version, inputs, attrs, {out})[0];
}

std::vector<PortRef> NodeContext::op_multi(const std::string& type, const std::string& version,
                                           const std::vector<PortRef>& inputs, const Attrs& attrs,
                                           const std::vector<ElemType>& outs) {
  std::string name = layer_name();
  Layer& l = graph().add(type, version, name);
  l.inputs = inputs;
  l.data = attrs;
  std::vector<PortRef> ports;
  for (size_t k = 0; k < outs.size(); ++k) {
    OutPort p;
    p.type = outs[k];
    l.outputs.push_back(p);
    ports.push_back(PortRef{l.id, static_cast<int>(k)});
  }
  return ports;
}

PortRef NodeContext::add_const_layer(std::shared_ptr<ConstData> data, ElemType type, const Ints& shape, const std::string& name) {
  data->source_type = type;
  data->stored_type = type;
  Layer& l = graph().add("Const", "opset1", name);
  l.constant = std::move(data);
  l.data = {{"element_type", elem_name(type)}, {"shape", join_ints(shape)}};
  OutPort port;
  port.type = type;
  port.shape = shape;
  l.outputs.push_back(port);
  return PortRef{l.id, 0};
}

PortRef NodeContext::const_tensor(std::shared_ptr<const Tensor> t, ElemType type, const Ints& shape, const std::string& name) {
  auto data = std::make_shared<ConstData>();
  data->tensor = std::move(t);
  return add_const_layer(std::move(data), type, shape, lowering().unique_name(name));
}

PortRef NodeContext::const_bytes(ElemType t, const Ints& shape, std::vector<uint8_t> bytes) {
  auto data = std::make_shared<ConstData>();
  // An empty constant still gets one byte, as OpenVINO's own writer does: with size="0" the
  // reader leaves its data pointer null and shape inference of e.g. ReduceSum(x, []) fails.
  if (bytes.empty()) bytes.push_back(0);
  data->owned = std::move(bytes);
  return add_const_layer(std::move(data), t, shape, layer_name());
}

PortRef NodeContext::const_i64(const Ints& values, std::optional<Ints> shape) {
  std::vector<uint8_t> b(values.size() * 8);
  if (!values.empty()) std::memcpy(b.data(), values.data(), b.size());
  return const_bytes(ElemType::kI64, shape ? *shape : Ints{static_cast<int64_t>(values.size())}, std::move(b));
}

PortRef NodeContext::const_i32(const std::vector<int32_t>& values, std::optional<Ints> shape) {
  std::vector<uint8_t> b(values.size() * 4);
  if (!values.empty()) std::memcpy(b.data(), values.data(), b.size());
  return const_bytes(ElemType::kI32, shape ? *shape : Ints{static_cast<int64_t>(values.size())}, std::move(b));
}

PortRef NodeContext::const_f32(const std::vector<float>& values, std::optional<Ints> shape) {
  std::vector<uint8_t> b(values.size() * 4);
  if (!values.empty()) std::memcpy(b.data(), values.data(), b.size());
  return const_bytes(ElemType::kF32, shape ? *shape : Ints{static_cast<int64_t>(values.size())}, std::move(b));
}

PortRef NodeContext::scalar(ElemType t, double v) { return const_bytes(t, Ints{}, encode_scalar(t, v)); }

std::optional<PortRef> NodeContext::reshaped_constant(PortRef p, const Ints& dims) {
  const Layer* src = &graph().layers[p.layer];
  bool decompress = src->decompression_convert;
  if (decompress) src = &graph().layers[src->inputs[0].layer];
  if (!src->constant || p.port != 0) return std::nullopt;
  const PShape& old_shape = src->outputs[0].shape;
  if (!old_shape) return std::nullopt;
  int64_t before = 1, after = 1;
  for (int64_t d : *old_shape) before *= d;
  for (int64_t d : dims) after *= d < 0 ? -1 : d;
  if (before != after || after < 0) return std::nullopt;
  auto data = std::make_shared<ConstData>(*src->constant);
  ElemType stored = src->outputs[0].type;
  std::string stored_name;
  for (const auto& kv : src->data)
    if (kv.first == "element_type") stored_name = kv.second;
  // Copies of what is needed from the old layers: add() may move them.
  auto cv_data = graph().layers[p.layer].data;
  auto cv_rt_info = graph().layers[p.layer].rt_info;
  ElemType cv_type = graph().layers[p.layer].outputs[0].type;
  Layer& l = graph().add("Const", "opset1", layer_name());
  l.constant = std::move(data);
  l.data = {{"element_type", stored_name}, {"shape", join_ints(dims)}};
  OutPort q;
  q.type = stored;
  q.shape = dims;
  l.outputs.push_back(q);
  PortRef out{l.id, 0};
  if (!decompress) return out;
  Layer& cv = graph().add("Convert", "opset1", layer_name());
  cv.inputs = {out};
  cv.data = std::move(cv_data);
  cv.rt_info = std::move(cv_rt_info);
  cv.decompression_convert = true;
  OutPort r;
  r.type = cv_type;
  r.shape = dims;
  cv.outputs.push_back(r);
  return PortRef{cv.id, 0};
}

PortRef NodeContext::convert(PortRef p, ElemType t) {
  if (type(p) == t) return p;
  auto exact = g_.exact_converts_.find(p.layer);
  if (exact != g_.exact_converts_.end() && p.port == 0) return convert(exact->second, t);
  return op("Convert", "opset1", {p}, {{"destination_type", elem_name(t)}}, t);
}

PortRef NodeContext::convert_exact(PortRef p, ElemType t) {
  PortRef y = convert(p, t);
  if (y.layer != p.layer) g_.exact_converts_[y.layer] = p;
  return y;
}

PortRef NodeContext::convert_like(PortRef p, PortRef like) {
  if (type(p) == type(like) && type(p) != ElemType::kDynamic) return p;
  return op("ConvertLike", "opset1", {p, like}, {}, type(like));
}

void NodeContext::set_output(size_t i, PortRef p) {
  if (i >= node_.num_outputs()) return;
  const Value* v = node_.output(i);
  g_.ports_[v] = p;
  OutPort& port = graph().port(p);
  if (!v->name().empty()) port.names.push_back(v->name());
  if (!port.shape) port.shape = pshape_of(v->type());
}

bool NodeContext::output_used(size_t i) const {
  if (i >= node_.num_outputs()) return false;
  const Value* v = node_.output(i);
  return !v->name().empty() && (v->has_uses() || v->is_graph_output());
}

void NodeContext::unsupported(const std::string& why) const {
  fail(ErrorKind::kUnsupported, node_.describe() + ": " + why);
}

void NodeContext::invalid(const std::string& why) const {
  const std::string& file = g_.model().source_path;
  std::string where = file.empty() ? std::string("model") : file;
  if (const Graph* owner = node_.graph()) {
    size_t index = 0;
    for (const auto& n : owner->nodes()) {
      if (n.get() == &node_) break;
      ++index;
    }
    where += ": node #" + std::to_string(index);
  }
  fail(ErrorKind::kInvalidModel, where + " '" + node_.name() + "' (" + node_.op_type() + "): " + why);
}

std::vector<std::string> LowerRegistry::ops() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : fns_) out.push_back(k.first.empty() ? k.second : k.first + "::" + k.second);
  return out;
}

const LowerRegistry& lower_registry() {
  static const LowerRegistry registry = [] {
    LowerRegistry r;
    register_elementwise_ops(r);
    register_nn_ops(r);
    register_conv_ops(r);
    register_matmul_ops(r);
    register_norm_ops(r);
    register_pool_ops(r);
    register_tensor_ops(r);
    register_indexing_ops(r);
    register_resize_ops(r);
    register_reduce_ops(r);
    register_control_ops(r);
    register_attention_ops(r);
    register_rnn_ops(r);
    register_loss_ops(r);
    register_misc_ops(r);
    register_quant_ops(r);
    register_quant_contrib_ops(r);
    register_signal_ops(r);
    register_ml_ops(r);
    register_training_ops(r);
    register_state_ops(r);
    register_ms_transformer_ops(r);

    register_detection_ops(r);
    register_multiclass_nms_ops(r);
    return r;
  }();
  return registry;
}

// ---- GraphLowering ----------------------------------------------------------------------------

std::string GraphLowering::unique_name(const std::string& base) {
  int& n = names_[base];
  if (n++ == 0) return base;
  for (;;) {
    std::string candidate = base + "_" + std::to_string(n - 1);
    if (names_.emplace(candidate, 1).second) return candidate;
    ++n;
  }
}

const Tensor* GraphLowering::constant_tensor(const Value* v) const {
  if (!v) return nullptr;
  // An input with an initializer (IR < 4 style) is a constant with a default: lowered as the
  // constant, as lower_model creates no Parameter for it.
  if (v->initializer()) return v->initializer().get();
  auto it = constant_nodes_.find(v);
  return it == constant_nodes_.end() ? nullptr : it->second;
}

namespace {

// Whether 2-D `b` ([c, r]) is the transpose of 2-D `a` ([r, c]), element bytes compared. A few
// probes reject unrelated weights after touching a handful of pages; the full check runs in
// tiles so that both operands are read cache-friendly.
bool is_transpose_of(const Tensor& a, const Tensor& b, size_t esize) {
  const int64_t r = a.dims()[0], c = a.dims()[1];
  const uint8_t* pa = a.data();
  const uint8_t* pb = b.data();
  auto same = [&](int64_t i, int64_t j) {
    return std::memcmp(pa + (static_cast<size_t>(i) * c + j) * esize, pb + (static_cast<size_t>(j) * r + i) * esize, esize) == 0;
  };
  // Each probe faults in a 2 MiB page-cache folio of each weight; on BERT-base the probes of
  // its 144 same-shape pairs held ~130 MB of the model file resident: hand them back.
  auto release = [&] {
    for (const Tensor* t : {&a, &b})
      if (t->is_mapped()) t->storage()->mapping()->release_around(t->data(), t->nbytes());
  };
  if (!same(0, 0) || !same(r - 1, c - 1) || !same(0, c - 1) || !same(r - 1, 0) || !same(r / 2, c / 3)) {
    release();
    return false;
  }
  constexpr int64_t kTile = 32;
  bool equal = true;
  for (int64_t i0 = 0; i0 < r && equal; i0 += kTile)
    for (int64_t j0 = 0; j0 < c && equal; j0 += kTile)
      for (int64_t i = i0; i < std::min(r, i0 + kTile) && equal; ++i)
        for (int64_t j = j0; j < std::min(c, j0 + kTile); ++j)
          if (!same(i, j)) {
            equal = false;
            break;
          }
  release();
  return equal;
}

}  // namespace

const Value* GraphLowering::transposed_twin(const Value* v) {
  if (!v || !v->initializer() || !v->graph()) return nullptr;
  const Graph* g = v->graph();
  auto built = twins_.find(g);
  if (built == twins_.end()) {
    auto& twins = twins_[g];
    // Earlier 2-D initializers without a twin, by (dtype, rows, cols).
    std::map<std::tuple<int, int64_t, int64_t>, std::vector<const Value*>> firsts;
    for (const Value* w : g->initializers()) {
      const Tensor* t = w->initializer().get();
      // Computed tensors (quantized on write) are not compared: data() would compute them.
      if (!t || t->computed() || t->dims().size() != 2 || t->element_count() < 2 || !t->data()) continue;
      const int bits = bits_per_element(t->dtype());
      if (bits < 8 || bits % 8 != 0 || t->nbytes() != t->element_count() * (bits / 8)) continue;
      const int64_t r = t->dims()[0], c = t->dims()[1];
      const Value* found = nullptr;
      auto cand = firsts.find({static_cast<int>(t->dtype()), c, r});
      if (cand != firsts.end())
        for (const Value* u : cand->second)
          if (is_transpose_of(*u->initializer(), *t, static_cast<size_t>(bits / 8))) {
            found = u;
            break;
          }
      if (found) twins[w] = found;
      else firsts[{static_cast<int>(t->dtype()), r, c}].push_back(w);
    }
    built = twins_.find(g);
  }
  auto it = built->second.find(v);
  return it == built->second.end() ? nullptr : it->second;
}

PortRef GraphLowering::constant_bf16_as_f32(const Tensor& t, const std::string& name) {
  return constant(t, true, name, true);
}

PortRef GraphLowering::constant(const Tensor& t, bool compressible, const std::string& name, bool bf16_too) {
  auto type = from_onnx(t.dtype());
  if (!type || *type == ElemType::kString)
    fail(ErrorKind::kUnsupported, "constant '" + t.name() + "' has type " + dtype_name(t.dtype()) + ", which OpenVINO IR cannot hold");
  Layer& l = out_.add("Const", "opset1", unique_name(name.empty() ? "Constant" : name));
  auto c = std::make_shared<ConstData>();
  // The Model outlives lowering and writing, so a non-owning alias of its tensors is safe; values
  // of Constant nodes built by the lowering (value_float, ...) die with it, so the Const shares them.
  c->tensor = std::shared_ptr<const Tensor>(std::shared_ptr<const Tensor>(), &t);
  for (const auto& owned : owned_tensors_)
    if (owned.get() == &t) c->tensor = owned;
  c->source_type = *type;
  c->stored_type = *type;
  bool compress = compressible && options_.compress_to_fp16 && (*type == ElemType::kF32 || (bf16_too && *type == ElemType::kBf16)) &&
                  t.element_count() > 0;
  c->compress_to_f16 = compress;
  l.constant = c;
  l.data = {{"element_type", elem_name(compress ? ElemType::kF16 : *type)}, {"shape", join_ints(t.dims())}};
  OutPort p;
  p.type = compress ? ElemType::kF16 : *type;
  p.shape = t.dims();
  l.outputs.push_back(p);
  PortRef cref{l.id, 0};
  if (!compress) return cref;
  Layer& cv = out_.add("Convert", "opset1", unique_name(l.name + "/decompression"));
  cv.inputs = {cref};
  cv.data = {{"destination_type", "f32"}};
  cv.rt_info = {"<attribute name=\"decompression\" version=\"0\" />"};
  cv.decompression_convert = true;
  OutPort q;
  q.type = ElemType::kF32;
  q.shape = t.dims();
  cv.outputs.push_back(q);
  return PortRef{cv.id, 0};
}

PortRef GraphLowering::port_of(const Value* v) {
  auto it = ports_.find(v);
  if (it != ports_.end()) return it->second;
  if (const Tensor* t = constant_tensor(v)) {
    auto ct = compressed_ports_.find(v);
    if (ct != compressed_ports_.end()) return ct->second;
    PortRef p = constant(*t, true, v->name());
    out_.port(p).names.push_back(v->name());
    compressed_ports_[v] = p;
    return p;
  }
  // A sparse initializer is a constant too, but OpenVINO IR has no sparse constants.
  if (v->sparse_initializer())
    fail(ErrorKind::kUnsupported, "sparse initializer '" + v->name() + "': OpenVINO IR has no sparse constants");
  fail(ErrorKind::kInternal, "value '" + v->name() + "' has no OpenVINO port (lowered out of order?)");
}

namespace {
// A Constant node's value as a tensor (value, value_float(s), value_int(s)).
std::shared_ptr<Tensor> constant_node_tensor(const Node& n) {
  for (const auto& a : n.attributes()) {
    if (a.name == "value" && a.t) return a.t;
    auto t = std::make_shared<Tensor>();
    auto fill = [&](DataType dt, Ints dims, const void* p, size_t bytes) {
      t->set_dtype(dt);
      t->set_dims(std::move(dims));
      std::vector<uint8_t> b(bytes);
      if (bytes) std::memcpy(b.data(), p, bytes);
      t->set_owned(std::move(b));
      return t;
    };
    if (a.name == "value_float") return fill(DataType::kFloat, {}, &a.f, 4);
    if (a.name == "value_floats") return fill(DataType::kFloat, {static_cast<int64_t>(a.floats.size())}, a.floats.data(), a.floats.size() * 4);
    if (a.name == "value_int") return fill(DataType::kInt64, {}, &a.i, 8);
    if (a.name == "value_ints") return fill(DataType::kInt64, {static_cast<int64_t>(a.ints.size())}, a.ints.data(), a.ints.size() * 8);
  }
  return nullptr;
}
}  // namespace

void GraphLowering::lower_nodes(const Graph& g) {
  const LowerRegistry& reg = lower_registry();
  std::vector<std::shared_ptr<Tensor>> keep;
  for (const auto& up : g.nodes()) {
    const Node& n = *up;
    if (n.op_type() == "Constant" && n.domain().empty()) {
      auto t = constant_node_tensor(n);
      if (!t) fail(ErrorKind::kUnsupported, n.describe() + ": only tensor, float(s) and int(s) constants can be lowered");
      constant_nodes_[n.output(0)] = t.get();
      owned_tensors_.push_back(t);
      continue;
    }
    const LowerFn* fn = reg.find(n.domain(), n.op_type());
    std::optional<LowerFn> custom = fn ? std::nullopt : custom_layer_lowering(n.domain(), n.op_type());  // irforge.register_custom_op
    if (custom) fn = &*custom;
    if (!fn)
      fail(ErrorKind::kUnsupported, n.describe() + ": no OpenVINO lowering for " +
                                        (n.domain().empty() ? "ONNX op " : "op of domain '" + n.domain() + "' ") + n.op_type());
    int64_t opset = model_.opset_version(n.domain());
    NodeContext ctx(*this, n, opset);
    (*fn)(ctx);
    for (size_t k = 0; k < n.num_outputs(); ++k) {
      const Value* v = n.output(k);
      if (!v->name().empty() && (v->has_uses() || v->is_graph_output()) && !ports_.count(v))
        fail(ErrorKind::kInternal, n.describe() + ": the lowering did not produce output " + std::to_string(k));
    }
    // The layer producing the node's first output carries the node's name, as in ovc's IR.
    if (n.num_outputs() && ports_.count(n.output(0)) && ctx.first_layer() >= 0) {
      int produced = ports_[n.output(0)].layer;
      if (produced > ctx.first_layer()) std::swap(out_.layers[produced].name, out_.layers[ctx.first_layer()].name);
    }
  }
}

std::unique_ptr<OvGraph> lower_model(const Model& model, const LowerOptions& options) {
  auto out = std::make_unique<OvGraph>();
  GraphLowering gl(model, options, *out);
  const Graph& g = *model.graph;
  for (const Value* v : g.inputs()) {
    if (v->initializer()) continue;  // an input with a default is treated as a constant
    // OpenVINO has no optional type: an optional tensor input becomes a Parameter of the tensor
    // type, i.e. an input that is always present (the Optional* lowerings treat it so too).
    const Type& declared = v->type();
    bool optional_tensor = declared.kind == Type::Kind::kOptional && declared.elem && declared.elem->is_tensor();
    const Type& t = optional_tensor ? *declared.elem : declared;
    if (!t.is_tensor()) fail(ErrorKind::kUnsupported, "graph input '" + v->name() + "' is not a tensor (" + type_to_string(t) + ")");
    auto et = from_onnx(t.elem_type);
    if (!et) fail(ErrorKind::kUnsupported, "graph input '" + v->name() + "' has type " + dtype_name(t.elem_type) + ", which OpenVINO cannot hold");
    Layer& l = out->add("Parameter", "opset1", gl.unique_name(v->name()));
    std::string shape = "...";
    if (t.shape) {
      shape.clear();
      for (size_t i = 0; i < t.shape->size(); ++i)
        shape += (i ? "," : "") + ((*t.shape)[i].is_static() ? std::to_string((*t.shape)[i].value) : bounded_dim_text((*t.shape)[i]));
    }
    l.data = {{"shape", shape}, {"element_type", elem_name(*et)}};
    OutPort p;
    p.type = *et;
    p.shape = pshape_of(t);
    p.names.push_back(v->name());
    l.outputs.push_back(p);
    gl.bind(v, PortRef{l.id, 0});
  }
  gl.lower_nodes(g);
  for (const Value* v : g.outputs()) {
    PortRef p = gl.port_of(v);
    OutPort& port = out->port(p);
    if (std::find(port.names.begin(), port.names.end(), v->name()) == port.names.end()) port.names.push_back(v->name());
    Layer& r = out->add("Result", "opset1", gl.unique_name(v->name() + "/sink_port_0"));
    r.inputs = {p};
  }
  prune_dead_layers(*out);
  return out;
}

}  // namespace irforge::ov
