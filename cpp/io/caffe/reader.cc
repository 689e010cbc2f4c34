#include "io/caffe/reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "io/caffe/prototxt.h"
#include "io/onnx/wire.h"
#include "ir/builder.h"
#include "support/error.h"
#include "support/mapped_file.h"

namespace irforge {
namespace {

using caffe::TextField;
using caffe::TextMessage;

// Field numbers of the caffe.proto subset read from a .caffemodel. Layer parameters are taken
// from the prototxt, so only names, types and blobs are decoded here.
namespace pb {
constexpr uint32_t kNetLayersV1 = 2;     // NetParameter.layers (V1LayerParameter, legacy)
constexpr uint32_t kNetLayer = 100;      // NetParameter.layer (LayerParameter)
constexpr uint32_t kLayerName = 1;       // LayerParameter.name
constexpr uint32_t kLayerType = 2;       // LayerParameter.type
constexpr uint32_t kLayerBlobs = 7;      // LayerParameter.blobs (BlobProto)
constexpr uint32_t kBlobNum = 1, kBlobChannels = 2, kBlobHeight = 3, kBlobWidth = 4;  // legacy 4-D shape
constexpr uint32_t kBlobData = 5;        // repeated float, packed
constexpr uint32_t kBlobShape = 7;       // BlobShape
constexpr uint32_t kBlobDoubleData = 8;  // repeated double, packed
constexpr uint32_t kShapeDim = 1;        // BlobShape.dim, repeated int64
}  // namespace pb

// Dims and element counts beyond these are refused (kResourceLimit) before any arithmetic.
constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr int64_t kMaxElements = int64_t{1} << 40;
constexpr int64_t kMaxComputedElements = int64_t{1} << 23;  // PriorBox output made here
constexpr int64_t kMaxWindow = int64_t{1} << 20;            // kernel, stride, pad, dilation
constexpr size_t kMaxPriorSizes = 1024;                      // PriorBox sizes and aspect ratios

struct BlobData {
  std::vector<int64_t> dims;
  const uint8_t* packed = nullptr;  // packed little-endian floats inside the caffemodel
  size_t count = 0;
  std::vector<float> owned;  // unpacked or double data, converted
};

struct LayerBlobs {
  std::string type;
  std::vector<BlobData> blobs;
};

int64_t checked_count(const std::vector<int64_t>& dims, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || d > kMaxDim) fail(ErrorKind::kResourceLimit, what + ": dimension " + std::to_string(d) + " is out of range");
    if (d != 0 && n > kMaxElements / d) fail(ErrorKind::kResourceLimit, what + ": more than 2^40 elements");
    n *= d;
  }
  return n;
}

BlobData read_blob(const wire::Field& field, const std::string& where) {
  BlobData blob;
  std::vector<int64_t> legacy(4, -1);
  bool have_shape = false, have_legacy = false;
  wire::Reader r(field);
  wire::Field f;
  auto to_i64 = [](uint64_t v) { return static_cast<int64_t>(v); };
  while (r.next(f)) {
    switch (f.number) {
      case pb::kBlobShape: {
        if (f.type != wire::kLengthDelimited) fail_invalid(where + ": BlobProto.shape is not a message");
        have_shape = true;
        blob.dims.clear();
        wire::Reader sr(f);
        wire::Field d;
        while (sr.next(d))
          if (d.number == pb::kShapeDim) wire::read_repeated(d, blob.dims, to_i64, wire::kVarint);
        break;
      }
      case pb::kBlobData:
        if (f.type == wire::kLengthDelimited && !blob.packed && blob.owned.empty()) {
          if (f.size % 4) fail_invalid(where + ": packed float data of " + std::to_string(f.size) + " bytes is not a multiple of 4");
          blob.packed = f.data;
          blob.count = f.size / 4;
        } else {
          // Several chunks or unpacked floats: gathered into one owned buffer.
          if (blob.packed) {
            blob.owned.resize(blob.count);
            std::memcpy(blob.owned.data(), blob.packed, blob.count * 4);
            blob.packed = nullptr;
          }
          wire::read_repeated(f, blob.owned, [](uint64_t v) { uint32_t u = static_cast<uint32_t>(v); float x; std::memcpy(&x, &u, 4); return x; },
                              wire::kFixed32);
          blob.count = blob.owned.size();
        }
        break;
      case pb::kBlobDoubleData: {
        if (blob.packed) fail_invalid(where + ": a blob holds both float and double data");
        wire::read_repeated(f, blob.owned, [](uint64_t v) { double x; std::memcpy(&x, &v, 8); return static_cast<float>(x); },
                            wire::kFixed64);
        blob.count = blob.owned.size();
        break;
      }
      case pb::kBlobNum: case pb::kBlobChannels: case pb::kBlobHeight: case pb::kBlobWidth:
        if (f.type != wire::kVarint) fail_invalid(where + ": legacy blob dimension is not a varint");
        legacy[f.number - 1] = static_cast<int64_t>(f.varint);
        have_legacy = true;
        break;
      default: break;
    }
  }
  if (!have_shape && have_legacy) {
    blob.dims.clear();
    for (int64_t d : legacy) blob.dims.push_back(d < 0 ? 1 : d);  // Caffe's defaults for unset legacy dims
  }
  if (!have_shape && !have_legacy) blob.dims = {static_cast<int64_t>(blob.count)};
  int64_t n = checked_count(blob.dims, where);
  if (static_cast<uint64_t>(n) != blob.count)
    fail_invalid(where + ": its shape [" + [&] {
      std::string s;
      for (size_t i = 0; i < blob.dims.size(); ++i) s += (i ? "," : "") + std::to_string(blob.dims[i]);
      return s;
    }() + "] has " + std::to_string(n) + " elements but it holds " + std::to_string(blob.count) + " values");
  return blob;
}

std::unordered_map<std::string, LayerBlobs> read_caffemodel(const Storage& s, const std::string& label) {
  std::unordered_map<std::string, LayerBlobs> layers;
  wire::Reader r(s.data(), s.size());
  wire::Field f;
  size_t v1_layers = 0;
  try {
    while (r.next(f)) {
      if (f.number == pb::kNetLayersV1) {
        ++v1_layers;
        continue;
      }
      if (f.number != pb::kNetLayer) continue;
      if (f.type != wire::kLengthDelimited) fail_invalid("NetParameter.layer is not a message");
      std::string name, type;
      std::vector<wire::Field> blob_fields;
      wire::Reader lr(f);
      wire::Field lf;
      while (lr.next(lf)) {
        if (lf.number == pb::kLayerName && lf.type == wire::kLengthDelimited) name = lf.str();
        else if (lf.number == pb::kLayerType && lf.type == wire::kLengthDelimited) type = lf.str();
        else if (lf.number == pb::kLayerBlobs) {
          if (lf.type != wire::kLengthDelimited) fail_invalid("LayerParameter.blobs is not a message");
          blob_fields.push_back(lf);
        }
      }
      LayerBlobs lb;
      lb.type = type;
      for (size_t i = 0; i < blob_fields.size(); ++i)
        lb.blobs.push_back(read_blob(blob_fields[i], "layer '" + name + "' (" + type + ") blob " + std::to_string(i)));
      if (!lb.blobs.empty()) layers[name] = std::move(lb);
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInvalidModel) throw Error(e.kind(), label + ": " + e.what());
    fail_invalid(label + ": not a valid caffemodel: " + e.what());
  }
  if (v1_layers && layers.empty())
    fail(ErrorKind::kUnsupported, label + ": a caffemodel in the legacy V1 format (NetParameter.layers, " + std::to_string(v1_layers) +
                                      " layers); upgrade it with Caffe's upgrade_net_proto_binary tool");
  return layers;
}

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

Attribute attr_i(const char* name, int64_t v) {
  Attribute a;
  a.name = name;
  a.kind = AttrKind::kInt;
  a.i = v;
  return a;
}
Attribute attr_f(const char* name, float v) {
  Attribute a;
  a.name = name;
  a.kind = AttrKind::kFloat;
  a.f = v;
  return a;
}
Attribute attr_ints(const char* name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.kind = AttrKind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute attr_s(const char* name, std::string v) {
  Attribute a;
  a.name = name;
  a.kind = AttrKind::kString;
  a.s = std::move(v);
  return a;
}
template <typename... A>
std::vector<Attribute> attrs(Attribute first, A... rest) {
  std::vector<Attribute> v;
  v.push_back(std::move(first));
  (v.push_back(std::move(rest)), ...);
  return v;
}

const std::unordered_set<std::string>& supported_layers() {
  static const std::unordered_set<std::string> s = {
      "Input", "Convolution", "Deconvolution", "Pooling", "InnerProduct", "ReLU", "PReLU", "ELU", "Sigmoid", "TanH",
      "Power", "AbsVal", "BatchNorm", "Scale", "Bias", "Eltwise", "Concat", "Slice", "Split", "Flatten", "Reshape",
      "Permute", "Softmax", "LRN", "Dropout", "Crop", "Normalize", "PriorBox", "DetectionOutput", "Silence"};
  return s;
}

// Blobs produced and not consumed since, in the order of their last production: Caffe's net
// outputs. Constant time per step (nets have tens of thousands of layers).
class OpenBlobs {
 public:
  void consume(const std::string& name) { seq_.erase(name); }
  void produce(const std::string& name) { seq_[name] = next_++; }
  std::vector<std::string> in_order() const {
    std::vector<std::pair<uint64_t, std::string>> v;
    for (const auto& [name, n] : seq_) v.emplace_back(n, name);
    std::sort(v.begin(), v.end());
    std::vector<std::string> out;
    for (auto& e : v) out.push_back(std::move(e.second));
    return out;
  }

 private:
  std::unordered_map<std::string, uint64_t> seq_;
  uint64_t next_ = 0;
};

class Translator {
 public:
  Translator(const TextMessage& net, std::string label, std::shared_ptr<const Storage> weights,
             std::unordered_map<std::string, LayerBlobs> blobs)
      : net_(net), label_(std::move(label)), storage_(std::move(weights)), weights_(std::move(blobs)), b_(label_) {}

  std::unique_ptr<Model> run() {
    if (net_.find("layers")) fail(ErrorKind::kUnsupported, label_ + ": a net in the legacy V1 format ('layers' on line " +
                                                             std::to_string(net_.find("layers")->line) +
                                                             "); upgrade it with Caffe's upgrade_net_proto_text tool");
    std::vector<const TextMessage*> layers;
    for (const TextField* f : net_.all("layer")) {
      if (!f->message) fail_invalid(label_ + ":" + std::to_string(f->line) + ": 'layer' must be a message");
      if (in_test_phase(*f->message)) layers.push_back(f->message.get());
    }
    check_supported(layers);
    reserve_output_names(layers);
    legacy_inputs();
    for (const TextMessage* l : layers) layer(*l);
    std::vector<std::string> outputs = open_tops_.in_order();
    if (outputs.empty()) fail_invalid(label_ + ": the net has no output (no layer produces a blob that nothing consumes)");
    for (const std::string& top : outputs) b_.output(b_.main_graph(), blobs_.at(top).v, top);
    return b_.finish();
  }

 private:
  struct Blob {
    Value* v = nullptr;
    std::vector<int64_t> dims;
  };

  // ---- prototxt fields --------------------------------------------------------------------
  [[noreturn]] void bad(const std::string& what) const { fail_invalid(where() + ": " + what); }
  [[noreturn]] void unsupported(const std::string& what) const { fail(ErrorKind::kUnsupported, where() + ": " + what); }
  std::string where() const {
    if (!cur_) return label_;
    return label_ + ":" + std::to_string(cur_->line) + ": layer '" + name_ + "' (" + type_ + ")";
  }

  int64_t to_int(const TextField& f) const {
    if (f.message || f.quoted) bad("field '" + f.name + "' (line " + std::to_string(f.line) + ") must be an integer");
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(f.scalar.c_str(), &end, 0);
    if (errno || end == f.scalar.c_str() || *end)
      bad("field '" + f.name + "' (line " + std::to_string(f.line) + "): '" + f.scalar + "' is not an integer");
    return v;
  }
  float to_float(const TextField& f) const {
    if (f.message || f.quoted) bad("field '" + f.name + "' (line " + std::to_string(f.line) + ") must be a number");
    std::string s = f.scalar;
    if (!s.empty() && (s.back() == 'f' || s.back() == 'F') && s.find_first_of("xX") == std::string::npos) s.pop_back();
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end || std::isnan(v))
      bad("field '" + f.name + "' (line " + std::to_string(f.line) + "): '" + f.scalar + "' is not a number");
    return static_cast<float>(v);
  }
  bool to_bool(const TextField& f) const {
    const std::string& s = f.scalar;
    if (!f.message && !f.quoted) {
      if (s == "true" || s == "True" || s == "t" || s == "1") return true;
      if (s == "false" || s == "False" || s == "f" || s == "0") return false;
    }
    bad("field '" + f.name + "' (line " + std::to_string(f.line) + "): '" + s + "' is not a boolean");
  }
  // An enum: by name, or by number (`names[i]` is the name of value i + first).
  std::string to_enum(const TextField& f, const std::vector<std::string>& names, int first) const {
    if (f.message) bad("field '" + f.name + "' must be an enum value");
    for (const auto& n : names)
      if (f.scalar == n) return n;
    char* end = nullptr;
    long v = std::strtol(f.scalar.c_str(), &end, 10);
    if (*end == 0 && end != f.scalar.c_str() && v >= first && v < first + static_cast<long>(names.size())) return names[v - first];
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    bad("field '" + f.name + "' (line " + std::to_string(f.line) + "): '" + f.scalar + "' is not one of " + list);
  }
  int64_t get_int(const TextMessage* m, const char* name, int64_t def) const {
    const TextField* f = m ? m->find(name) : nullptr;
    return f ? to_int(*f) : def;
  }
  float get_float(const TextMessage* m, const char* name, float def) const {
    const TextField* f = m ? m->find(name) : nullptr;
    return f ? to_float(*f) : def;
  }
  bool get_bool(const TextMessage* m, const char* name, bool def) const {
    const TextField* f = m ? m->find(name) : nullptr;
    return f ? to_bool(*f) : def;
  }
  bool has(const TextMessage* m, const char* name) const { return m && m->find(name); }
  std::vector<int64_t> get_ints(const TextMessage* m, const char* name) const {
    std::vector<int64_t> v;
    if (m)
      for (const TextField* f : m->all(name)) v.push_back(to_int(*f));
    return v;
  }
  std::vector<float> get_floats(const TextMessage* m, const char* name) const {
    std::vector<float> v;
    if (m)
      for (const TextField* f : m->all(name)) v.push_back(to_float(*f));
    return v;
  }
  std::vector<int64_t> shape_of(const TextMessage& shape) const {
    std::vector<int64_t> dims = get_ints(&shape, "dim");
    for (int64_t d : dims)
      if (d <= 0) bad("input dimension " + std::to_string(d) + " in " + dims_text(dims) + " must be positive");
    checked_count(dims, where());
    return dims;
  }

  bool in_test_phase(const TextMessage& l) const {
    auto phase_is = [&](const TextMessage* rule, const char* phase) {
      const TextField* p = rule ? rule->find("phase") : nullptr;
      return p && (p->scalar == phase || p->scalar == (std::string(phase) == "TRAIN" ? "0" : "1"));
    };
    for (const TextField* f : l.all("include"))
      if (phase_is(f->message.get(), "TRAIN")) return false;
    for (const TextField* f : l.all("exclude"))
      if (phase_is(f->message.get(), "TEST")) return false;
    return true;
  }

  // The net's outputs keep their blob names, so no node may take them first (node and value
  // names share one namespace): a dry run of the consume/produce bookkeeping finds them.
  void reserve_output_names(const std::vector<const TextMessage*>& layers) {
    OpenBlobs open;
    for (const TextMessage* l : layers) {
      for (const TextField* f : l->all("bottom")) open.consume(f->scalar);
      const TextField* t = l->find("type");
      if (t && t->scalar == "Input") continue;
      for (const TextField* f : l->all("top")) open.produce(f->scalar);
    }
    for (const std::string& name : open.in_order()) reserved_.insert(name);
  }

  void check_supported(const std::vector<const TextMessage*>& layers) {
    std::string list;
    size_t n = 0;
    for (const TextMessage* l : layers) {
      const TextField* t = l->find("type");
      const TextField* nm = l->find("name");
      std::string type = t ? t->scalar : "";
      if (supported_layers().count(type)) continue;
      if (++n <= 20) list += std::string(list.empty() ? "" : ", ") + "'" + (nm ? nm->scalar : "?") + "' (" + (type.empty() ? "no type" : type) + ")";
    }
    if (n)
      fail(ErrorKind::kUnsupported, label_ + ": " + std::to_string(n) + " layer(s) of unsupported types: " + list + (n > 20 ? ", ..." : "") +
                                        ". Supported: Input, Convolution, Deconvolution, Pooling, InnerProduct, ReLU, PReLU, ELU, Sigmoid, TanH, "
                                        "Power, AbsVal, BatchNorm, Scale, Bias, Eltwise, Concat, Slice, Split, Flatten, Reshape, Permute, "
                                        "Softmax, LRN, Dropout, Crop, Normalize, PriorBox, DetectionOutput, Silence");
  }

  // ---- graph helpers ----------------------------------------------------------------------
  Graph& g() { return b_.main_graph(); }

  Value* op(const std::string& type, const std::vector<Value*>& in, std::vector<Attribute> a = {}) {
    return b_.node(g(), type, in, std::move(a), 1, "", node_name_)[0];
  }
  Value* const_i64(const std::vector<int64_t>& v) {
    return b_.owned_constant(g(), name_ + "/shape", {static_cast<int64_t>(v.size())}, v);
  }
  Value* const_f32(const std::vector<float>& v, std::vector<int64_t> dims, const std::string& what) {
    return b_.owned_constant(g(), name_ + "/" + what, std::move(dims), v);
  }
  Value* scalar(float x, const std::string& what) { return const_f32({x}, {}, what); }

  const BlobData& blob_data(size_t i) {
    auto it = weights_.find(name_);
    if (it == weights_.end())
      bad(storage_ ? "the caffemodel has no blobs for this layer" : "needs learned blobs but no caffemodel was given");
    if (i >= it->second.blobs.size())
      bad("the caffemodel holds " + std::to_string(it->second.blobs.size()) + " blob(s) for this layer, blob " + std::to_string(i) +
          " is needed");
    return it->second.blobs[i];
  }
  // Blob i of the layer as a constant of `dims` (its count must match; Caffe's older blobs
  // carry extra leading 1s, hence counts rather than shapes).
  Value* weight(size_t i, std::vector<int64_t> dims, const std::string& what) {
    const BlobData& bd = blob_data(i);
    int64_t want = checked_count(dims, where());
    if (static_cast<uint64_t>(want) != bd.count)
      bad("blob " + std::to_string(i) + " (" + what + ") has " + std::to_string(bd.count) + " values (shape " + dims_text(bd.dims) +
          "), expected " + dims_text(dims) + " = " + std::to_string(want));
    if (bd.packed)
      return b_.constant(g(), name_ + "/" + what, DataType::kFloat, std::move(dims), storage_,
                         static_cast<size_t>(bd.packed - storage_->data()));
    return b_.owned_constant(g(), name_ + "/" + what, std::move(dims), bd.owned);
  }
  std::vector<float> weight_values(size_t i, size_t expected, const std::string& what) {
    const BlobData& bd = blob_data(i);
    if (bd.count != expected)
      bad("blob " + std::to_string(i) + " (" + what + ") has " + std::to_string(bd.count) + " values, expected " + std::to_string(expected));
    if (!bd.packed) return bd.owned;
    std::vector<float> v(bd.count);
    if (bd.count) std::memcpy(v.data(), bd.packed, bd.count * 4);
    return v;
  }

  const Blob& bottom(size_t i) {
    if (i >= bottoms_.size()) bad("needs at least " + std::to_string(i + 1) + " bottom blob(s), has " + std::to_string(bottoms_.size()));
    auto it = blobs_.find(bottoms_[i]);
    if (it == blobs_.end()) bad("bottom blob '" + bottoms_[i] + "' is not produced by any earlier layer or input");
    return it->second;
  }
  void need_bottoms(size_t lo, size_t hi) {
    if (bottoms_.size() < lo || bottoms_.size() > hi)
      bad("has " + std::to_string(bottoms_.size()) + " bottom blob(s), expected " +
          (lo == hi ? std::to_string(lo) : std::to_string(lo) + ".." + std::to_string(hi)));
  }
  void need_tops(size_t n) {
    if (tops_.size() != n) bad("has " + std::to_string(tops_.size()) + " top blob(s), expected " + std::to_string(n));
  }
  void set_top(size_t i, Value* v, std::vector<int64_t> dims) {
    checked_count(dims, where());
    for (int64_t d : dims)
      if (d <= 0) bad("top '" + tops_[i] + "' would have shape " + dims_text(dims) + " (a dimension below 1)");
    const std::string& name = tops_[i];
    open_tops_.produce(name);
    // The shapes computed here are Caffe's; recording them spares shape inference the work.
    if (!v->is_graph_input() && !v->initializer()) {
      Shape shape;
      for (int64_t d : dims) shape.push_back(Dim::of(d));
      b_.set_type(v, Type::tensor(DataType::kFloat, std::move(shape)));
    }
    blobs_[name] = Blob{v, std::move(dims)};
  }
  Value* reshape(Value* x, const std::vector<int64_t>& dims) { return op("Reshape", {x, const_i64(dims)}); }
  int64_t axis_index(int64_t axis, size_t rank, const char* what) {
    int64_t r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r) bad(std::string(what) + " " + std::to_string(axis) + " is out of range for a blob of rank " + std::to_string(r));
    return axis < 0 ? axis + r : axis;
  }

  // ---- layers -----------------------------------------------------------------------------
  void legacy_inputs() {
    // NetParameter.input with input_shape (one per input) or input_dim (4 per input).
    auto inputs = net_.all("input");
    if (inputs.empty()) return;
    auto shapes = net_.all("input_shape");
    std::vector<int64_t> dims4 = get_ints(&net_, "input_dim");
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::vector<int64_t> dims;
      if (i < shapes.size() && shapes[i]->message) dims = shape_of(*shapes[i]->message);
      else if (dims4.size() == 4 * inputs.size()) dims.assign(dims4.begin() + 4 * i, dims4.begin() + 4 * i + 4);
      else fail_invalid(label_ + ": net input '" + inputs[i]->scalar + "' has no shape (input_shape or 4 input_dim values per input)");
      for (int64_t d : dims)
        if (d <= 0) fail_invalid(label_ + ": net input '" + inputs[i]->scalar + "' has a dimension below 1");
      add_input(inputs[i]->scalar, dims);
    }
  }
  void add_input(const std::string& name, const std::vector<int64_t>& dims) {
    if (blobs_.count(name)) fail_invalid(label_ + ": input '" + name + "' is declared twice");
    checked_count(dims, label_ + ": input '" + name + "'");
    Shape shape;
    for (int64_t d : dims) shape.push_back(Dim::of(d));
    Value* v = b_.input(g(), name, Type::tensor(DataType::kFloat, shape));
    if (mean_ && !mean_used_) v = subtract_mean(v, name, dims);
    blobs_[name] = Blob{v, dims};
  }

 public:
  void set_mean(BlobData blob, std::shared_ptr<const Storage> storage, std::string label) {
    mean_ = std::make_unique<BlobData>(std::move(blob));
    mean_storage_ = std::move(storage);
    mean_label_ = std::move(label);
  }

 private:
  // input - mean image, the mean [1,] C, H, W center-cropped to the input's H, W (as mo did).
  Value* subtract_mean(Value* x, const std::string& name, const std::vector<int64_t>& dims) {
    mean_used_ = true;
    std::vector<int64_t> md = mean_->dims;
    if (md.size() == 4 && md[0] == 1) md.erase(md.begin());
    if (dims.size() != 4 || md.size() != 3 || md[0] != dims[1] || md[1] < dims[2] || md[2] < dims[3])
      fail_invalid(mean_label_ + ": the mean image " + dims_text(mean_->dims) + " does not fit input '" + name + "' " + dims_text(dims));
    Value* m;
    std::vector<int64_t> cd = {1, md[0], md[1], md[2]};
    if (mean_->packed) {
      m = b_.constant(g(), name + "/mean", DataType::kFloat, cd, mean_storage_, static_cast<size_t>(mean_->packed - mean_storage_->data()));
    } else {
      std::vector<uint8_t> bytes(mean_->owned.size() * 4);
      if (!bytes.empty()) std::memcpy(bytes.data(), mean_->owned.data(), bytes.size());
      m = b_.owned_constant(g(), name + "/mean", DataType::kFloat, cd, std::move(bytes));
    }
    if (md[1] != dims[2] || md[2] != dims[3]) {
      int64_t oy = (md[1] - dims[2]) / 2, ox = (md[2] - dims[3]) / 2;
      m = b_.node(g(), "Slice", {m, const_i64({oy, ox}), const_i64({oy + dims[2], ox + dims[3]}), const_i64({2, 3})}, {}, 1, "", name + "/mean_crop")[0];
    }
    return b_.node(g(), "Sub", {x, m}, {}, 1, "", name + "/subtract_mean")[0];
  }

  void layer(const TextMessage& l) {
    cur_ = &l;
    const TextField* nf = l.find("name");
    const TextField* tf = l.find("type");
    name_ = nf ? nf->scalar : "layer@" + std::to_string(l.line);
    type_ = tf ? tf->scalar : "";
    node_name_ = reserved_.count(name_) ? name_ + "/" + type_ : name_;
    bottoms_.clear();
    tops_.clear();
    for (const TextField* f : l.all("bottom")) bottoms_.push_back(f->scalar);
    for (const TextField* f : l.all("top")) tops_.push_back(f->scalar);
    // Every bottom is consumed; an in-place layer puts its top back.
    for (const std::string& bname : bottoms_) {
      bottom_checked(bname);
      open_tops_.consume(bname);
    }
    const std::string& t = type_;
    if (t == "Input") input_layer(l);
    else if (t == "Convolution") convolution(l, false);
    else if (t == "Deconvolution") convolution(l, true);
    else if (t == "Pooling") pooling(l);
    else if (t == "InnerProduct") inner_product(l);
    else if (t == "ReLU") relu(l);
    else if (t == "PReLU") prelu(l);
    else if (t == "ELU") unary("Elu", attrs(attr_f("alpha", get_float(l.child("elu_param"), "alpha", 1.f))));
    else if (t == "Sigmoid") unary("Sigmoid", {});
    else if (t == "TanH") unary("Tanh", {});
    else if (t == "AbsVal") unary("Abs", {});
    else if (t == "Power") power(l);
    else if (t == "BatchNorm") batch_norm(l);
    else if (t == "Scale") scale_or_bias(l, true);
    else if (t == "Bias") scale_or_bias(l, false);
    else if (t == "Eltwise") eltwise(l);
    else if (t == "Concat") concat(l);
    else if (t == "Slice") slice(l);
    else if (t == "Split" || t == "Dropout") alias();
    else if (t == "Flatten") flatten(l);
    else if (t == "Reshape") reshape_layer(l);
    else if (t == "Permute") permute(l);
    else if (t == "Softmax") softmax(l);
    else if (t == "LRN") lrn(l);
    else if (t == "Crop") crop(l);
    else if (t == "Normalize") normalize(l);
    else if (t == "PriorBox") prior_box(l);
    else if (t == "DetectionOutput") detection_output(l);
    else if (t == "Silence") need_tops(0);
    cur_ = nullptr;
  }
  void bottom_checked(const std::string& bname) {
    if (!blobs_.count(bname)) bad("bottom blob '" + bname + "' is not produced by any earlier layer or input");
  }

  void input_layer(const TextMessage& l) {
    need_bottoms(0, 0);
    const TextMessage* p = l.child("input_param");
    auto shapes = p ? p->all("shape") : std::vector<const TextField*>{};
    if (tops_.empty()) bad("has no top blob");
    if (shapes.size() != 1 && shapes.size() != tops_.size())
      bad("input_param has " + std::to_string(shapes.size()) + " shape(s) for " + std::to_string(tops_.size()) + " top(s)");
    for (size_t i = 0; i < tops_.size(); ++i) {
      const TextField* s = shapes[shapes.size() == 1 ? 0 : i];
      if (!s->message) bad("input_param.shape must be a message");
      std::vector<int64_t> dims = shape_of(*s->message);
      if (blobs_.count(tops_[i])) bad("input '" + tops_[i] + "' is declared twice");
      add_input(tops_[i], dims);
    }
  }

  struct Window {
    std::vector<int64_t> kernel, stride, pad, dilation;
  };
  // kernel/stride/pad/dilation given once for all spatial axes, once per axis, or as *_h/*_w.
  std::vector<int64_t> spatial(const TextMessage* p, const char* name, const char* h, const char* w, size_t nsp, int64_t def,
                               bool required) {
    std::vector<int64_t> v = get_ints(p, name);
    if (has(p, h) || has(p, w)) {
      if (nsp != 2) bad(std::string(h) + "/" + w + " are for 2-D blobs only");
      if (!v.empty()) bad(std::string("both ") + name + " and " + h + "/" + w + " are given");
      if (!(has(p, h) && has(p, w)) && required) bad(std::string("needs both ") + h + " and " + w);
      v = {get_int(p, h, def), get_int(p, w, def)};
    } else if (v.empty()) {
      if (required) bad(std::string("needs ") + name);
      v.assign(nsp, def);
    } else if (v.size() == 1) {
      v.assign(nsp, v[0]);
    } else if (v.size() != nsp) {
      bad(std::string(name) + " has " + std::to_string(v.size()) + " values for " + std::to_string(nsp) + " spatial axes");
    }
    // Far beyond any real kernel, and small enough that output-size arithmetic cannot overflow.
    for (int64_t x : v)
      if (x < 0 || x > kMaxWindow) bad(std::string(name) + " value " + std::to_string(x) + " is out of range");
    return v;
  }
  Window window(const TextMessage* p, size_t nsp, bool with_dilation) {
    Window w;
    w.kernel = spatial(p, "kernel_size", "kernel_h", "kernel_w", nsp, 0, true);
    w.stride = spatial(p, "stride", "stride_h", "stride_w", nsp, 1, false);
    w.pad = spatial(p, "pad", "pad_h", "pad_w", nsp, 0, false);
    w.dilation = with_dilation ? spatial(p, "dilation", "", "", nsp, 1, false) : std::vector<int64_t>(nsp, 1);
    for (size_t i = 0; i < nsp; ++i) {
      if (w.kernel[i] < 1) bad("kernel size must be at least 1");
      if (w.stride[i] < 1) bad("stride must be at least 1");
      if (w.dilation[i] < 1) bad("dilation must be at least 1");
    }
    return w;
  }

  void convolution(const TextMessage& l, bool transposed) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    const TextMessage* p = l.child("convolution_param");
    if (get_int(p, "axis", 1) != 1) unsupported("convolution_param.axis other than 1");
    if (x.dims.size() < 3) bad("needs an input of rank 3 or more, got " + dims_text(x.dims));
    size_t nsp = x.dims.size() - 2;
    Window w = window(p, nsp, true);
    int64_t out_c = get_int(p, "num_output", 0), group = get_int(p, "group", 1), in_c = x.dims[1];
    if (out_c < 1 || out_c > kMaxDim) bad("num_output must be at least 1");
    if (group < 1 || in_c % group || out_c % group)
      bad("group " + std::to_string(group) + " must divide the input channels (" + std::to_string(in_c) + ") and num_output (" +
          std::to_string(out_c) + ")");
    std::vector<int64_t> wdims = transposed ? std::vector<int64_t>{in_c, out_c / group} : std::vector<int64_t>{out_c, in_c / group};
    wdims.insert(wdims.end(), w.kernel.begin(), w.kernel.end());
    std::vector<Value*> in = {x.v, weight(0, wdims, "weights")};
    if (get_bool(p, "bias_term", true)) in.push_back(weight(1, {out_c}, "bias"));
    std::vector<int64_t> out = {x.dims[0], out_c}, pads = w.pad;
    pads.insert(pads.end(), w.pad.begin(), w.pad.end());
    for (size_t i = 0; i < nsp; ++i) {
      int64_t extent = w.dilation[i] * (w.kernel[i] - 1) + 1, size = x.dims[2 + i];
      out.push_back(transposed ? w.stride[i] * (size - 1) + extent - 2 * w.pad[i] : (size + 2 * w.pad[i] - extent) / w.stride[i] + 1);
      if (!transposed && size + 2 * w.pad[i] < extent) bad("the kernel is larger than the padded input " + dims_text(x.dims));
    }
    Value* y = op(transposed ? "ConvTranspose" : "Conv", in,
                  attrs(attr_ints("kernel_shape", w.kernel), attr_ints("strides", w.stride), attr_ints("pads", pads),
                        attr_ints("dilations", w.dilation), attr_i("group", group)));
    set_top(0, y, out);
  }

  void pooling(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    const TextMessage* p = l.child("pooling_param");
    if (x.dims.size() != 4) bad("Caffe pools 4-D blobs only, got " + dims_text(x.dims));
    std::string method = p && p->find("pool") ? to_enum(*p->find("pool"), {"MAX", "AVE", "STOCHASTIC"}, 0) : "MAX";
    if (method == "STOCHASTIC") unsupported("STOCHASTIC pooling");
    bool max = method == "MAX";
    if (get_bool(p, "global_pooling", false)) {
      if (!get_ints(p, "pad").empty() || get_int(p, "pad_h", 0) || get_int(p, "pad_w", 0)) bad("global pooling takes no padding");
      set_top(0, op(max ? "GlobalMaxPool" : "GlobalAveragePool", {x.v}), {x.dims[0], x.dims[1], 1, 1});
      return;
    }
    Window w = window(p, 2, false);
    std::vector<int64_t> out = {x.dims[0], x.dims[1]}, begin(2), end(2);
    for (size_t i = 0; i < 2; ++i) {
      int64_t size = x.dims[2 + i], k = w.kernel[i], s = w.stride[i], pad = w.pad[i];
      if (pad >= k) bad("padding must be smaller than the kernel");
      if (size + 2 * pad < k) bad("the kernel is larger than the padded input " + dims_text(x.dims));
      // Caffe rounds the output size up, then drops a last window that would start in the padding.
      int64_t n = (size + 2 * pad - k + s - 1) / s + 1;
      if (pad > 0 && (n - 1) * s >= size + pad) --n;
      out.push_back(n);
      begin[i] = pad;
      end[i] = std::max<int64_t>(0, (n - 1) * s + k - size - pad);
      if ((size + begin[i] + end[i] - k) / s + 1 != n) unsupported("pooling geometry that ONNX pads cannot express");
    }
    Value* in = x.v;
    if (!max && (w.pad[0] || w.pad[1])) {
      // Caffe's average divides by the window clipped to the padded input, padding included but
      // not the extra rows of ceil rounding: zero-pad explicitly, then exclude the rest.
      in = op("Pad", {x.v, const_i64({0, 0, w.pad[0], w.pad[1], 0, 0, w.pad[0], w.pad[1]})});
      for (size_t i = 0; i < 2; ++i) {
        end[i] = std::max<int64_t>(0, end[i] - w.pad[i]);
        begin[i] = 0;
        if ((x.dims[2 + i] + 2 * w.pad[i] + end[i] - w.kernel[i]) / w.stride[i] + 1 != out[2 + i])
          unsupported("average pooling geometry that ONNX pads cannot express");
      }
    }
    std::vector<Attribute> a = attrs(attr_ints("kernel_shape", w.kernel), attr_ints("strides", w.stride),
                                     attr_ints("pads", {begin[0], begin[1], end[0], end[1]}));
    if (!max) a.push_back(attr_i("count_include_pad", 0));
    set_top(0, op(max ? "MaxPool" : "AveragePool", {in}, std::move(a)), out);
  }

  void inner_product(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    const TextMessage* p = l.child("inner_product_param");
    int64_t n = get_int(p, "num_output", 0);
    if (n < 1 || n > kMaxDim) bad("num_output must be at least 1");
    int64_t axis = axis_index(get_int(p, "axis", 1), x.dims.size(), "axis");
    int64_t m = 1, k = 1;
    for (int64_t i = 0; i < static_cast<int64_t>(x.dims.size()); ++i) (i < axis ? m : k) *= x.dims[i];
    bool transpose = get_bool(p, "transpose", false);
    Value* flat = op("Flatten", {x.v}, attrs(attr_i("axis", axis)));
    std::vector<Value*> in = {flat, weight(0, transpose ? std::vector<int64_t>{k, n} : std::vector<int64_t>{n, k}, "weights")};
    if (get_bool(p, "bias_term", true)) in.push_back(weight(1, {n}, "bias"));
    Value* y = op("Gemm", in, attrs(attr_i("transB", transpose ? 0 : 1)));
    std::vector<int64_t> out(x.dims.begin(), x.dims.begin() + axis);
    out.push_back(n);
    if (out.size() != 2 || out[0] != m) y = reshape(y, out);
    set_top(0, y, out);
  }

  void unary(const char* onnx_op, std::vector<Attribute> a) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    std::vector<int64_t> dims = x.dims;
    set_top(0, op(onnx_op, {x.v}, std::move(a)), dims);
  }
  void relu(const TextMessage& l) {
    float slope = get_float(l.child("relu_param"), "negative_slope", 0.f);
    if (slope == 0.f) unary("Relu", {});
    else unary("LeakyRelu", attrs(attr_f("alpha", slope)));
  }
  // Per-channel parameters (axis 1) shaped to broadcast against a blob of `rank`.
  std::vector<int64_t> channel_dims(int64_t c, size_t rank) {
    std::vector<int64_t> d = {c};
    for (size_t i = 2; i < rank; ++i) d.push_back(1);
    return d;
  }
  void prelu(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    if (x.dims.size() < 2) bad("needs an input of rank 2 or more");
    bool shared = get_bool(l.child("prelu_param"), "channel_shared", false);
    Value* slope = weight(0, shared ? std::vector<int64_t>{1} : channel_dims(x.dims[1], x.dims.size()), "slope");
    std::vector<int64_t> dims = x.dims;
    set_top(0, op("PRelu", {x.v, slope}), dims);
  }
  void power(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const TextMessage* p = l.child("power_param");
    float pw = get_float(p, "power", 1.f), sc = get_float(p, "scale", 1.f), sh = get_float(p, "shift", 0.f);
    const Blob& x = bottom(0);
    std::vector<int64_t> dims = x.dims;
    Value* y = x.v;
    if (sc != 1.f) y = op("Mul", {y, scalar(sc, "scale")});
    if (sh != 0.f) y = op("Add", {y, scalar(sh, "shift")});
    if (pw != 1.f) y = op("Pow", {y, scalar(pw, "power")});
    if (y == x.v) y = op("Identity", {y});
    set_top(0, y, dims);
  }

  void batch_norm(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    if (x.dims.size() < 2) bad("needs an input of rank 2 or more");
    const TextMessage* p = l.child("batch_norm_param");
    float eps = get_float(p, "eps", 1e-5f);
    if (!(eps >= 0.f)) bad("eps must not be negative");
    size_t c = static_cast<size_t>(x.dims[1]);
    std::vector<float> mean = weight_values(0, c, "mean"), var = weight_values(1, c, "variance");
    // Caffe stores running sums with a moving-average factor in blob 2; the statistics are the
    // sums divided by it (a zero factor means zero statistics).
    float factor = weight_values(2, 1, "moving average factor")[0];
    float k = factor == 0.f ? 0.f : 1.f / factor;
    for (float& v : mean) v *= k;
    for (float& v : var) v *= k;
    int64_t ci = x.dims[1];
    Value* y = op("BatchNormalization",
                  {x.v, const_f32(std::vector<float>(c, 1.f), {ci}, "scale"), const_f32(std::vector<float>(c, 0.f), {ci}, "bias"),
                   const_f32(mean, {ci}, "mean"), const_f32(var, {ci}, "variance")},
                  attrs(attr_f("epsilon", eps)));
    std::vector<int64_t> dims = x.dims;
    set_top(0, y, dims);
  }

  void scale_or_bias(const TextMessage& l, bool is_scale) {
    need_bottoms(1, 2);
    need_tops(1);
    const Blob& x = bottom(0);
    std::vector<int64_t> xdims = x.dims;
    Value* xv = x.v;
    const TextMessage* p = l.child(is_scale ? "scale_param" : "bias_param");
    int64_t rank = static_cast<int64_t>(xdims.size());
    int64_t axis = get_int(p, "axis", 1);
    if (axis < -rank || axis > rank) bad("axis " + std::to_string(axis) + " is out of range for " + dims_text(xdims));
    if (axis < 0) axis += rank;
    // The parameter covers axes [axis, axis + n) and broadcasts over the trailing ones.
    auto broadcast_dims = [&](int64_t n) {
      std::vector<int64_t> d(xdims.begin() + axis, xdims.begin() + axis + n);
      for (int64_t i = axis + n; i < rank; ++i) d.push_back(1);
      return d;
    };
    Value* param;
    size_t next_blob = 0;
    if (bottoms_.size() == 2) {
      const Blob& s = bottom(1);
      int64_t n = static_cast<int64_t>(s.dims.size());
      if (axis + n > rank || !std::equal(s.dims.begin(), s.dims.end(), xdims.begin() + axis))
        bad("bottom '" + bottoms_[1] + "' " + dims_text(s.dims) + " does not match " + dims_text(xdims) + " from axis " + std::to_string(axis));
      param = reshape(s.v, broadcast_dims(n));
    } else {
      int64_t n = get_int(p, "num_axes", 1);
      if (n < -1 || axis + n > rank) bad("num_axes " + std::to_string(n) + " is out of range for " + dims_text(xdims));
      if (n == -1) n = rank - axis;
      param = weight(next_blob++, broadcast_dims(n), is_scale ? "scale" : "bias");
    }
    Value* y = op(is_scale ? "Mul" : "Add", {xv, param});
    if (is_scale && get_bool(p, "bias_term", false)) {
      int64_t n = bottoms_.size() == 2 ? static_cast<int64_t>(bottom(1).dims.size()) : get_int(p, "num_axes", 1);
      if (n == -1) n = rank - axis;
      y = op("Add", {y, weight(next_blob, broadcast_dims(n), "bias")});
    }
    set_top(0, y, xdims);
  }

  void eltwise(const TextMessage& l) {
    if (bottoms_.size() < 2) bad("needs at least 2 bottom blobs");
    need_tops(1);
    const TextMessage* p = l.child("eltwise_param");
    std::string operation = p && p->find("operation") ? to_enum(*p->find("operation"), {"PROD", "SUM", "MAX"}, 0) : "SUM";
    std::vector<float> coeff = get_floats(p, "coeff");
    if (!coeff.empty() && (operation != "SUM" || coeff.size() != bottoms_.size()))
      bad("coeff needs one value per bottom and the SUM operation");
    std::vector<int64_t> dims = bottom(0).dims;
    std::vector<Value*> in;
    for (size_t i = 0; i < bottoms_.size(); ++i) {
      const Blob& b = bottom(i);
      if (b.dims != dims) bad("bottom '" + bottoms_[i] + "' " + dims_text(b.dims) + " differs from " + dims_text(dims));
      Value* v = b.v;
      if (!coeff.empty() && coeff[i] != 1.f) v = op("Mul", {v, scalar(coeff[i], "coeff")});
      in.push_back(v);
    }
    Value* y;
    if (operation == "MAX") {
      y = op("Max", in);
    } else {
      y = in[0];
      for (size_t i = 1; i < in.size(); ++i) y = op(operation == "SUM" ? "Add" : "Mul", {y, in[i]});
    }
    set_top(0, y, dims);
  }

  void concat(const TextMessage& l) {
    if (bottoms_.empty()) bad("needs at least 1 bottom blob");
    need_tops(1);
    const TextMessage* p = l.child("concat_param");
    std::vector<int64_t> dims = bottom(0).dims;
    int64_t axis = axis_index(has(p, "axis") || !has(p, "concat_dim") ? get_int(p, "axis", 1) : get_int(p, "concat_dim", 1), dims.size(), "axis");
    std::vector<Value*> in;
    int64_t total = 0;
    for (size_t i = 0; i < bottoms_.size(); ++i) {
      const Blob& b = bottom(i);
      bool same = b.dims.size() == dims.size();
      for (size_t d = 0; same && d < dims.size(); ++d) same = static_cast<int64_t>(d) == axis || b.dims[d] == dims[d];
      if (!same) bad("bottom '" + bottoms_[i] + "' " + dims_text(b.dims) + " does not match " + dims_text(dims) + " outside axis " + std::to_string(axis));
      total += b.dims[axis];
      in.push_back(b.v);
    }
    dims[axis] = total;
    set_top(0, op("Concat", in, attrs(attr_i("axis", axis))), dims);
  }

  void slice(const TextMessage& l) {
    need_bottoms(1, 1);
    if (tops_.empty()) bad("has no top blob");
    const Blob& x = bottom(0);
    std::vector<int64_t> xdims = x.dims;
    Value* xv = x.v;
    const TextMessage* p = l.child("slice_param");
    int64_t axis = axis_index(has(p, "axis") || !has(p, "slice_dim") ? get_int(p, "axis", 1) : get_int(p, "slice_dim", 1), xdims.size(), "axis");
    std::vector<int64_t> points = get_ints(p, "slice_point"), sizes;
    int64_t extent = xdims[axis];
    if (!points.empty()) {
      if (points.size() != tops_.size() - 1) bad(std::to_string(points.size()) + " slice points for " + std::to_string(tops_.size()) + " tops");
      int64_t prev = 0;
      for (int64_t pt : points) {
        if (pt <= prev || pt >= extent) bad("slice points must increase within (0, " + std::to_string(extent) + ")");
        sizes.push_back(pt - prev);
        prev = pt;
      }
      sizes.push_back(extent - prev);
    } else {
      int64_t n = static_cast<int64_t>(tops_.size());
      if (extent % n) bad("axis " + std::to_string(axis) + " of size " + std::to_string(extent) + " does not split into " + std::to_string(n) + " equal parts");
      sizes.assign(tops_.size(), extent / n);
    }
    std::vector<Value*> outs = b_.node(g(), "Split", {xv, const_i64(sizes)}, attrs(attr_i("axis", axis)), tops_.size(), "", node_name_);
    for (size_t i = 0; i < tops_.size(); ++i) {
      std::vector<int64_t> d = xdims;
      d[axis] = sizes[i];
      set_top(i, outs[i], d);
    }
  }

  void alias() {
    need_bottoms(1, 1);
    if (type_ == "Dropout") need_tops(1);
    Blob x = bottom(0);
    for (size_t i = 0; i < tops_.size(); ++i) set_top(i, x.v, x.dims);
  }

  void flatten(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    const TextMessage* p = l.child("flatten_param");
    int64_t a = axis_index(get_int(p, "axis", 1), x.dims.size(), "axis");
    int64_t e = axis_index(get_int(p, "end_axis", -1), x.dims.size(), "end_axis");
    if (e < a) bad("end_axis comes before axis");
    std::vector<int64_t> d(x.dims.begin(), x.dims.begin() + a);
    int64_t n = 1;
    for (int64_t i = a; i <= e; ++i) n *= x.dims[i];
    d.push_back(n);
    d.insert(d.end(), x.dims.begin() + e + 1, x.dims.end());
    set_top(0, reshape(x.v, d), d);
  }

  void reshape_layer(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    const TextMessage* p = l.child("reshape_param");
    const TextMessage* shape = p ? p->child("shape") : nullptr;
    if (!shape) bad("reshape_param.shape is missing");
    std::vector<int64_t> spec = get_ints(shape, "dim");
    int64_t rank = static_cast<int64_t>(x.dims.size());
    int64_t axis = get_int(p, "axis", 0), num = get_int(p, "num_axes", -1);
    if (axis < -rank - 1 || axis > rank) bad("axis " + std::to_string(axis) + " is out of range");
    int64_t start = axis < 0 ? axis + rank + 1 : axis;
    if (num < -1 || (num >= 0 && start + num > rank)) bad("num_axes " + std::to_string(num) + " is out of range");
    int64_t end = num == -1 ? rank : start + num;
    std::vector<int64_t> d(x.dims.begin(), x.dims.begin() + start);
    int64_t infer = -1;
    for (size_t i = 0; i < spec.size(); ++i) {
      int64_t s = spec[i];
      if (s == 0) {
        if (start + static_cast<int64_t>(i) >= rank) bad("dim 0 at position " + std::to_string(i) + " copies an axis the input does not have");
        s = x.dims[start + i];
      } else if (s == -1) {
        if (infer >= 0) bad("more than one dim is -1");
        infer = static_cast<int64_t>(d.size());
      } else if (s < 0) {
        bad("dim " + std::to_string(s) + " is invalid");
      }
      d.push_back(s);
    }
    d.insert(d.end(), x.dims.begin() + end, x.dims.end());
    int64_t total = checked_count(x.dims, where()), known = 1;
    for (size_t i = 0; i < d.size(); ++i) {
      if (static_cast<int64_t>(i) == infer) continue;
      if (d[i] > kMaxDim || known > kMaxElements / d[i]) fail(ErrorKind::kResourceLimit, where() + ": shape " + dims_text(d) + " is too large");
      known *= d[i];
    }
    if (infer >= 0) {
      if (known == 0 || total % known) bad("cannot infer the -1 dim of " + dims_text(d) + " from " + dims_text(x.dims));
      d[infer] = total / known;
    }
    if (checked_count(d, where()) != total) bad("shape " + dims_text(d) + " does not hold the " + std::to_string(total) + " elements of " + dims_text(x.dims));
    set_top(0, reshape(x.v, d), d);
  }

  void permute(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    std::vector<int64_t> order = get_ints(l.child("permute_param"), "order");
    size_t rank = x.dims.size();
    std::vector<bool> used(rank, false);
    for (int64_t o : order) {
      if (o < 0 || o >= static_cast<int64_t>(rank) || used[o]) bad("order " + dims_text(order) + " is not a permutation of the axes of " + dims_text(x.dims));
      used[o] = true;
    }
    for (size_t i = 0; i < rank; ++i)
      if (!used[i]) order.push_back(static_cast<int64_t>(i));  // unnamed axes follow in order
    std::vector<int64_t> d;
    for (int64_t o : order) d.push_back(x.dims[o]);
    set_top(0, op("Transpose", {x.v}, attrs(attr_ints("perm", order))), d);
  }

  void softmax(const TextMessage& l) {
    need_bottoms(1, 1);
    const Blob& x = bottom(0);
    int64_t axis = axis_index(get_int(l.child("softmax_param"), "axis", 1), x.dims.size(), "axis");
    unary("Softmax", attrs(attr_i("axis", axis)));
  }

  void lrn(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    std::vector<int64_t> dims = x.dims;
    Value* xv = x.v;
    if (dims.size() != 4) bad("LRN needs a 4-D blob, got " + dims_text(dims));
    const TextMessage* p = l.child("lrn_param");
    int64_t size = get_int(p, "local_size", 5);
    float alpha = get_float(p, "alpha", 1.f), beta = get_float(p, "beta", 0.75f), k = get_float(p, "k", 1.f);
    if (size < 1 || size % 2 == 0 || size > kMaxDim) bad("local_size must be odd and positive");
    std::string region = p && p->find("norm_region") ? to_enum(*p->find("norm_region"), {"ACROSS_CHANNELS", "WITHIN_CHANNEL"}, 0) : "ACROSS_CHANNELS";
    if (region == "ACROSS_CHANNELS") {
      set_top(0, op("LRN", {xv}, attrs(attr_i("size", size), attr_f("alpha", alpha), attr_f("beta", beta), attr_f("bias", k))), dims);
      return;
    }
    // Within a channel Caffe divides by (1 + alpha * mean of x^2 over a size x size window)^beta,
    // the window zero-padded and always counted in full.
    int64_t pad = (size - 1) / 2;
    Value* sq = op("Mul", {xv, xv});
    Value* mean = op("AveragePool", {sq}, attrs(attr_ints("kernel_shape", {size, size}), attr_ints("pads", {pad, pad, pad, pad}),
                                               attr_i("count_include_pad", 1)));
    Value* base = op("Add", {op("Mul", {mean, scalar(alpha, "alpha")}), scalar(1.f, "one")});
    set_top(0, op("Div", {xv, op("Pow", {base, scalar(beta, "beta")})}), dims);
  }

  void crop(const TextMessage& l) {
    need_bottoms(2, 2);
    need_tops(1);
    const Blob& x = bottom(0);
    const Blob& ref = bottom(1);
    if (x.dims.size() != ref.dims.size()) bad("the reference blob " + dims_text(ref.dims) + " has another rank than " + dims_text(x.dims));
    const TextMessage* p = l.child("crop_param");
    int64_t axis = axis_index(get_int(p, "axis", 2), x.dims.size(), "axis");
    std::vector<int64_t> offsets = get_ints(p, "offset");
    size_t n = x.dims.size() - axis;
    if (offsets.size() > 1 && offsets.size() != n) bad(std::to_string(offsets.size()) + " offsets for " + std::to_string(n) + " cropped axes");
    std::vector<int64_t> starts, ends, axes, d = x.dims;
    for (size_t i = 0; i < n; ++i) {
      int64_t a = axis + i, off = offsets.empty() ? 0 : offsets[offsets.size() == 1 ? 0 : i];
      if (off < 0 || off + ref.dims[a] > x.dims[a]) bad("crop of axis " + std::to_string(a) + " at offset " + std::to_string(off) + " to size " + std::to_string(ref.dims[a]) + " leaves the input " + dims_text(x.dims));
      starts.push_back(off);
      ends.push_back(off + ref.dims[a]);
      axes.push_back(a);
      d[a] = ref.dims[a];
    }
    Value* xv = x.v;
    Value* s = const_i64(starts);
    Value* e = const_i64(ends);
    set_top(0, op("Slice", {xv, s, e, const_i64(axes)}), d);
  }

  void normalize(const TextMessage& l) {
    need_bottoms(1, 1);
    need_tops(1);
    const Blob& x = bottom(0);
    std::vector<int64_t> dims = x.dims;
    Value* xv = x.v;
    if (dims.size() < 2) bad("needs an input of rank 2 or more");
    const TextMessage* p = l.child("norm_param");
    bool across_spatial = get_bool(p, "across_spatial", true), shared = get_bool(p, "channel_shared", true);
    float eps = get_float(p, "eps", 1e-10f);
    std::vector<int64_t> axes;
    for (size_t i = across_spatial ? 1 : 1; i < (across_spatial ? dims.size() : 2); ++i) axes.push_back(static_cast<int64_t>(i));
    // y = x / sqrt(sum of squares + eps) * scale, the sum per sample or per position.
    Value* ss = op("ReduceSumSquare", {xv, const_i64(axes)}, attrs(attr_i("keepdims", 1)));
    Value* norm = op("Sqrt", {op("Add", {ss, scalar(eps, "eps")})});
    Value* y = op("Div", {xv, norm});
    Value* s = weight(0, shared ? std::vector<int64_t>{1} : channel_dims(dims[1], dims.size()), "scale");
    set_top(0, op("Mul", {y, s}), dims);
  }

  // PriorBox depends on shapes only: its output (SSD's prior boxes and their variances) is made
  // here as a constant of shape [1, 2, H * W * priors * 4].
  void prior_box(const TextMessage& l) {
    need_bottoms(2, 2);
    need_tops(1);
    const Blob& feat = bottom(0);
    const Blob& img = bottom(1);
    if (feat.dims.size() != 4 || img.dims.size() != 4) bad("needs 4-D feature and image blobs");
    const TextMessage* p = l.child("prior_box_param");
    std::vector<float> min_sizes = get_floats(p, "min_size"), max_sizes = get_floats(p, "max_size"), ars = {1.f};
    if (min_sizes.empty()) bad("prior_box_param.min_size is required");
    if (min_sizes.size() > kMaxPriorSizes || get_floats(p, "aspect_ratio").size() > kMaxPriorSizes)
      fail(ErrorKind::kResourceLimit, where() + ": more than 1024 sizes or aspect ratios");
    if (!max_sizes.empty() && max_sizes.size() != min_sizes.size()) bad("max_size needs one value per min_size");
    for (size_t i = 0; i < min_sizes.size(); ++i)
      if (!(min_sizes[i] > 0) || (!max_sizes.empty() && !(max_sizes[i] > min_sizes[i]))) bad("sizes must be positive and max_size > min_size");
    bool flip = get_bool(p, "flip", true), clip = get_bool(p, "clip", false);
    for (float ar : get_floats(p, "aspect_ratio")) {
      if (!(ar > 0)) bad("aspect ratios must be positive");
      bool seen = false;
      for (float a : ars) seen = seen || std::fabs(ar - a) < 1e-6f;
      if (seen) continue;
      ars.push_back(ar);
      if (flip) ars.push_back(1.f / ar);
    }
    std::vector<float> var = get_floats(p, "variance");
    if (var.empty()) var = {0.1f};
    if (var.size() != 1 && var.size() != 4) bad("variance needs 1 or 4 values");
    int64_t fh = feat.dims[2], fw = feat.dims[3];
    float img_h = static_cast<float>(img.dims[2]), img_w = static_cast<float>(img.dims[3]);
    if (has(p, "img_size")) img_h = img_w = static_cast<float>(get_int(p, "img_size", 0));
    if (has(p, "img_h") || has(p, "img_w")) img_h = static_cast<float>(get_int(p, "img_h", 0)), img_w = static_cast<float>(get_int(p, "img_w", 0));
    float step_h = img_h / fh, step_w = img_w / fw;
    if (has(p, "step")) step_h = step_w = get_float(p, "step", 0.f);
    if (has(p, "step_h") || has(p, "step_w")) step_h = get_float(p, "step_h", 0.f), step_w = get_float(p, "step_w", 0.f);
    float offset = get_float(p, "offset", 0.5f);
    if (!(img_h > 0 && img_w > 0 && step_h > 0 && step_w > 0)) bad("image size and step must be positive");
    int64_t priors = static_cast<int64_t>(ars.size() * min_sizes.size() + max_sizes.size());
    int64_t count = checked_count({fh, fw, priors, 4}, where());
    if (count > kMaxComputedElements / 2) fail(ErrorKind::kResourceLimit, where() + ": more than 2^22 prior box values");
    std::vector<float> out;
    out.reserve(static_cast<size_t>(count) * 2);
    auto box = [&](float cx, float cy, float bw, float bh) {
      float v[4] = {(cx - bw / 2.f) / img_w, (cy - bh / 2.f) / img_h, (cx + bw / 2.f) / img_w, (cy + bh / 2.f) / img_h};
      for (float x : v) out.push_back(clip ? std::min(std::max(x, 0.f), 1.f) : x);
    };
    for (int64_t h = 0; h < fh; ++h)
      for (int64_t w = 0; w < fw; ++w) {
        float cx = (w + offset) * step_w, cy = (h + offset) * step_h;
        for (size_t s = 0; s < min_sizes.size(); ++s) {
          float mn = min_sizes[s];
          box(cx, cy, mn, mn);
          if (!max_sizes.empty()) {
            float side = std::sqrt(mn * max_sizes[s]);
            box(cx, cy, side, side);
          }
          for (float ar : ars) {
            if (std::fabs(ar - 1.f) < 1e-6f) continue;
            box(cx, cy, mn * std::sqrt(ar), mn / std::sqrt(ar));
          }
        }
      }
    for (int64_t i = 0; i < count / 4; ++i)
      for (int j = 0; j < 4; ++j) out.push_back(var[var.size() == 1 ? 0 : j]);
    std::vector<int64_t> d = {1, 2, count};
    set_top(0, const_f32(out, d, "priors"), d);
  }

  // DetectionOutput (SSD): decode the location offsets against the priors, per-class NMS, keep
  // the best keep_top_k. ONNX has no such op, so it becomes irforge::DetectionOutput (documented
  // and lowered to OpenVINO's DetectionOutput in io/openvino/ops/detection.cc). Caffe's top has
  // as many rows as were kept; here it has the fixed [1, 1, N * K, 7] of OpenVINO (and of mo),
  // the kept rows first, then a row whose image id is -1.
  void detection_output(const TextMessage& l) {
    need_bottoms(3, 3);
    need_tops(1);
    const TextMessage* p = l.child("detection_output_param");
    if (!p) bad("detection_output_param is required");
    int64_t classes = get_int(p, "num_classes", 0);
    if (classes < 1 || classes > kMaxDim) bad("detection_output_param.num_classes must be at least 1");
    bool share = get_bool(p, "share_location", true);
    int64_t background = get_int(p, "background_label_id", 0);
    if (background < -1 || background >= classes) bad("background_label_id " + std::to_string(background) + " is not a class (or -1)");
    const TextMessage* nms = p->child("nms_param");
    float nms_threshold = get_float(nms, "nms_threshold", 0.3f);
    int64_t top_k = get_int(nms, "top_k", -1), keep_top_k = get_int(p, "keep_top_k", -1);
    if (get_float(nms, "eta", 1.f) != 1.f) unsupported("nms_param.eta other than 1 (adaptive NMS)");
    if (!(nms_threshold >= 0.f && nms_threshold <= 1.f)) bad("nms_param.nms_threshold must be in [0, 1]");
    if (top_k == 0 || top_k < -1 || top_k > kMaxDim || keep_top_k == 0 || keep_top_k < -1 || keep_top_k > kMaxDim)
      bad("top_k and keep_top_k must be positive or -1");
    // Caffe's enum starts at CORNER = 1; CORNER_SIZE has no OpenVINO form.
    std::string code = p->find("code_type") ? to_enum(*p->find("code_type"), {"CORNER", "CENTER_SIZE", "CORNER_SIZE"}, 1) : "CORNER";
    if (code == "CORNER_SIZE") unsupported("code_type CORNER_SIZE");
    bool encoded = get_bool(p, "variance_encoded_in_target", false);
    // Without a threshold Caffe keeps every score (compared with -FLT_MAX).
    float conf_threshold = get_float(p, "confidence_threshold", std::numeric_limits<float>::lowest());
    if (std::isnan(conf_threshold)) bad("confidence_threshold is NaN");

    const Blob& loc = bottom(0);
    const Blob& conf = bottom(1);
    const Blob& prior = bottom(2);
    if (loc.dims.empty() || conf.dims.empty() || prior.dims.size() != 3) bad("needs location and confidence blobs and a [1, 2, P * 4] prior blob");
    int64_t n = loc.dims[0];
    if (n < 1) bad("location blob " + dims_text(loc.dims) + " has no batch");
    if (conf.dims[0] != n) bad("location and confidence blobs differ in batch size");
    int64_t loc_count = checked_count(loc.dims, where()) / n, conf_count = checked_count(conf.dims, where()) / n;
    if (prior.dims[1] != (encoded ? 1 : 2) || prior.dims[2] % 4 != 0)
      bad("prior blob " + dims_text(prior.dims) + " is not [1, " + (encoded ? "1" : "2") + ", P * 4]");
    int64_t priors = prior.dims[2] / 4;
    int64_t loc_classes = share ? 1 : classes;
    if (priors == 0 || loc_count != priors * loc_classes * 4)
      bad("location blob " + dims_text(loc.dims) + " does not hold " + std::to_string(loc_classes * 4) + " values for each of " +
          std::to_string(priors) + " priors");
    if (conf_count != priors * classes)
      bad("confidence blob " + dims_text(conf.dims) + " does not hold " + std::to_string(classes) + " scores for each of " + std::to_string(priors) + " priors");
    Value* lv = loc.dims.size() == 2 ? loc.v : reshape(loc.v, {n, loc_count});
    Value* cv = conf.dims.size() == 2 ? conf.v : reshape(conf.v, {n, conf_count});
    int64_t per_image = keep_top_k > 0 ? keep_top_k : top_k > 0 ? top_k * classes : priors * classes;
    int64_t rows = checked_count({n, per_image, 7}, where()) / 7;
    Value* y = b_.node(g(), "DetectionOutput", {lv, cv, prior.v},
                       attrs(attr_i("num_classes", classes), attr_i("background_label_id", background), attr_i("share_location", share),
                             attr_f("nms_threshold", nms_threshold), attr_i("top_k", top_k), attr_i("keep_top_k", keep_top_k),
                             attr_s("code_type", code), attr_i("variance_encoded_in_target", encoded),
                             attr_f("confidence_threshold", conf_threshold)),
                       1, "irforge", node_name_)[0];
    set_top(0, y, {1, 1, rows, 7});
  }

  const TextMessage& net_;
  std::string label_;
  std::shared_ptr<const Storage> storage_;
  std::unordered_map<std::string, LayerBlobs> weights_;
  Builder b_;
  std::unordered_map<std::string, Blob> blobs_;
  OpenBlobs open_tops_;  // blobs nothing has consumed yet: the net's outputs
  std::unique_ptr<BlobData> mean_;  // --mean_file, applied to the first input
  std::shared_ptr<const Storage> mean_storage_;
  std::string mean_label_;
  bool mean_used_ = false;
  const TextMessage* cur_ = nullptr;
  std::string name_, type_, node_name_;
  std::unordered_set<std::string> reserved_;
  std::vector<std::string> bottoms_, tops_;
};

}  // namespace

std::unique_ptr<Model> read_caffe(std::string_view prototxt, const std::string& prototxt_label, std::shared_ptr<const Storage> weights,
                                  const std::string& weights_label, std::shared_ptr<const Storage> mean, const std::string& mean_label) {
  std::shared_ptr<TextMessage> net = caffe::parse_prototxt(prototxt, prototxt_label);
  std::unordered_map<std::string, LayerBlobs> blobs;
  if (weights) blobs = read_caffemodel(*weights, weights_label);
  Translator t(*net, prototxt_label, std::move(weights), std::move(blobs));
  if (mean) {
    wire::Field whole;
    whole.data = mean->data();
    whole.size = mean->size();
    BlobData blob;
    try {
      blob = read_blob(whole, mean_label);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kInvalidModel) throw;
      fail_invalid(mean_label + ": not a valid mean file (BlobProto): " + e.what());
    }
    t.set_mean(std::move(blob), std::move(mean), mean_label);
  }
  return t.run();
}

std::unique_ptr<Model> read_caffe_files(const std::string& prototxt_path, const std::string& caffemodel_path, const std::string& mean_file) {
  std::ifstream in(prototxt_path, std::ios::binary);
  if (!in) fail(ErrorKind::kFile, prototxt_path + ": cannot be opened");
  std::ostringstream text;
  text << in.rdbuf();
  std::shared_ptr<const Storage> weights;
  if (!caffemodel_path.empty()) weights = std::make_shared<MappedStorage>(MappedFile::open(caffemodel_path));
  std::shared_ptr<const Storage> mean;
  if (!mean_file.empty()) mean = std::make_shared<MappedStorage>(MappedFile::open(mean_file));
  return read_caffe(text.str(), prototxt_path, std::move(weights), caffemodel_path, std::move(mean), mean_file);
}

}  // namespace irforge
