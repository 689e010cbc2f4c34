#include "io/onnx/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/onnx/wire.h"
#include "support/atomic_file.h"
#include "support/error.h"

namespace irforge {

namespace {

using wire::Rope;

constexpr uint64_t kProtobufLimit = (uint64_t{1} << 31) - 1;
// Headroom for the graph structure itself when deciding whether weights fit inline.
constexpr uint64_t kInlineWeightBudget = kProtobufLimit - (uint64_t{64} << 20);

struct ExternalChunk {
  const Tensor* tensor;
  uint64_t offset;
};

class Encoder {
 public:
  Encoder(bool externalize, uint64_t threshold, std::string location)
      : externalize_(externalize), threshold_(threshold), location_(std::move(location)) {}

  std::vector<ExternalChunk> chunks;
  uint64_t data_size = 0;

  Rope model(const Model& m) {
    Rope r;
    r.field_int64(1, m.ir_version);
    for (const auto& o : m.opset_imports) r.field_message(8, opset(o));
    r.field_string_if(2, m.producer_name);
    r.field_string_if(3, m.producer_version);
    r.field_string_if(4, m.domain);
    if (m.has_model_version) r.field_int64(5, m.model_version);
    r.field_string_if(6, m.doc_string);
    if (m.graph) r.field_message(7, graph(*m.graph));
    for (const auto& p : m.metadata_props) r.field_message(14, string_pair(p));
    for (const auto& f : m.functions) r.field_message(25, function(f));
    r.raw(m.unknown_fields);
    return r;
  }

 private:
  static Rope opset(const OpsetImport& o) {
    Rope r;
    r.field_string(1, o.domain);  // always present, as onnx writes it
    r.field_int64(2, o.version);
    return r;
  }

  static Rope string_pair(const std::pair<std::string, std::string>& p) {
    Rope r;
    r.field_string(1, p.first);
    r.field_string(2, p.second);
    return r;
  }

  Rope graph(const Graph& g) {
    Rope r;
    for (const auto& n : g.nodes()) r.field_message(1, node(*n));
    r.field_string_if(2, g.name());
    for (Value* v : g.initializers()) {
      if (v->sparse_initializer()) {
        SparseTensor sp = *v->sparse_initializer();
        sp.values.set_name(v->name());
        r.field_message(15, sparse(sp));
      } else {
        r.field_message(5, tensor(*v->initializer(), &v->name()));
      }
    }
    r.field_string_if(10, g.doc_string());
    for (Value* v : g.inputs()) r.field_message(11, value_info(*v));
    for (Value* v : g.outputs()) r.field_message(12, value_info(*v));
    // value_info: typed intermediate values (node outputs that are not graph outputs).
    for (const auto& n : g.nodes())
      for (size_t k = 0; k < n->num_outputs(); ++k) {
        const Value* v = n->output(k);
        if (v->name().empty() || !v->type().known() || v->is_graph_output()) continue;
        r.field_message(13, value_info(*v));
      }
    for (const auto& p : g.metadata_props()) r.field_message(16, string_pair(p));
    r.raw(g.unknown_fields());
    return r;
  }

  Rope value_info(const Value& v) {
    Rope r;
    r.field_string(1, v.name());
    if (v.type().known()) r.field_message(2, type(v.type()));
    r.field_string_if(3, v.doc_string());
    for (const auto& p : v.metadata_props()) r.field_message(4, string_pair(p));
    return r;
  }

  static Rope shape(const Shape& s) {
    Rope r;
    for (const Dim& d : s) {
      Rope dr;
      if (d.kind == Dim::Kind::kValue) dr.field_int64(1, d.value);
      else if (d.kind == Dim::Kind::kParam) dr.field_string(2, d.param);
      dr.field_string_if(3, d.denotation);
      r.field_message(1, std::move(dr));
    }
    return r;
  }

  static Rope type(const Type& t) {
    Rope r;
    switch (t.kind) {
      case Type::Kind::kTensor:
      case Type::Kind::kSparseTensor: {
        Rope tr;
        if (t.elem_type != DataType::kUndefined) tr.field_varint(1, static_cast<uint64_t>(t.elem_type));
        if (t.shape) tr.field_message(2, shape(*t.shape));
        r.field_message(t.kind == Type::Kind::kTensor ? 1 : 8, std::move(tr));
        break;
      }
      case Type::Kind::kSequence:
      case Type::Kind::kOptional: {
        Rope tr;
        if (t.elem) tr.field_message(1, type(*t.elem));
        r.field_message(t.kind == Type::Kind::kSequence ? 4 : 9, std::move(tr));
        break;
      }
      case Type::Kind::kMap: {
        Rope tr;
        tr.field_varint(1, static_cast<uint64_t>(t.key_type));
        if (t.elem) tr.field_message(2, type(*t.elem));
        r.field_message(5, std::move(tr));
        break;
      }
      case Type::Kind::kOpaque: {
        Rope tr;
        tr.field_string_if(1, t.opaque_domain);
        tr.field_string_if(2, t.opaque_name);
        r.field_message(7, std::move(tr));
        break;
      }
      case Type::Kind::kNone: break;
    }
    r.field_string_if(6, t.denotation);
    return r;
  }

  Rope node(const Node& n) {
    Rope r;
    static const std::string kEmpty;
    for (Value* v : n.inputs()) r.field_string(1, v ? v->name() : kEmpty);
    for (size_t k = 0; k < n.num_outputs(); ++k) r.field_string(2, n.output(k)->name());
    r.field_string_if(3, n.name());
    r.field_string(4, n.op_type());
    r.field_string_if(7, n.domain());
    r.field_string_if(8, n.overload());
    for (const auto& a : n.attributes()) r.field_message(5, attribute(a));
    r.field_string_if(6, n.doc_string());
    for (const auto& p : n.metadata_props()) r.field_message(9, string_pair(p));
    r.raw(n.unknown_fields());
    return r;
  }

  Rope attribute(const Attribute& a) {
    Rope r;
    r.field_string(1, a.name);
    r.field_string_if(21, a.ref_attr_name);
    r.field_string_if(13, a.doc_string);
    r.field_varint(20, static_cast<uint64_t>(a.kind));
    if (a.ref_attr_name.empty()) {
      switch (a.kind) {
        case AttrKind::kFloat: r.field_float(2, a.f); break;
        case AttrKind::kInt: r.field_int64(3, a.i); break;
        case AttrKind::kString: r.field_string(4, a.s); break;
        case AttrKind::kTensor: if (a.t) r.field_message(5, tensor(*a.t, nullptr)); break;
        case AttrKind::kGraph: if (a.g) r.field_message(6, graph(*a.g)); break;
        case AttrKind::kSparseTensor: if (a.sparse_tensor) r.field_message(22, sparse(*a.sparse_tensor)); break;
        case AttrKind::kTypeProto: if (a.tp) r.field_message(14, type(*a.tp)); break;
        default: break;
      }
      r.packed_float(7, a.floats);
      r.packed_int64(8, a.ints);
      for (const auto& s : a.strings) r.field_string(9, s);
      for (const auto& t : a.tensors) r.field_message(10, tensor(*t, nullptr));
      for (const auto& g : a.graphs) r.field_message(11, graph(*g));
      for (const auto& s : a.sparse_tensors) r.field_message(23, sparse(*s));
      for (const auto& t : a.type_protos) r.field_message(15, type(t));
    }
    r.raw(a.unknown_fields);
    return r;
  }

  Rope sparse(const SparseTensor& s) {
    Rope r;
    r.field_message(1, tensor(s.values, nullptr));
    r.field_message(2, tensor(s.indices, nullptr));
    r.packed_int64(3, s.dims);
    return r;
  }

  Rope tensor(const Tensor& t, const std::string* name_override) {
    Rope r;
    r.packed_int64(1, t.dims());
    r.field_varint(2, static_cast<uint64_t>(t.dtype()));
    r.field_string_if(8, name_override ? *name_override : t.name());
    r.field_string_if(12, t.doc_string());
    if (t.dtype() == DataType::kString) {
      for (const auto& s : t.strings()) r.field_string(6, s);
    } else if (externalize_ && t.nbytes() >= threshold_) {
      // Large tensors start on a page boundary so runtimes can map them directly.
      uint64_t align = t.nbytes() >= (uint64_t{64} << 10) ? 4096 : 64;
      uint64_t offset = (data_size + align - 1) / align * align;
      chunks.push_back(ExternalChunk{&t, offset});
      data_size = offset + t.nbytes();
      r.field_message(13, string_pair({"location", location_}));
      r.field_message(13, string_pair({"offset", std::to_string(offset)}));
      r.field_message(13, string_pair({"length", std::to_string(t.nbytes())}));
      r.field_varint(14, 1);
    } else if (const ComputedStorage* comp = t.computed()) {
      r.field_computed(9, comp, t.storage_offset(), t.nbytes());
    } else {
      const MappedFile* mapping = t.storage() ? t.storage()->mapping() : nullptr;
      r.field_view(9, t.data(), t.nbytes(), mapping);
      // A small payload was just copied inline, faulting in the folio around it: hand it back
      // (BERT's ~300 small tensors otherwise kept 136 MB resident while encoding).
      if (mapping && t.nbytes() < 4096) mapping->release_around(t.data(), t.nbytes());
    }
    for (const auto& p : t.metadata_props()) r.field_message(16, string_pair(p));
    r.raw(t.unknown_fields());
    return r;
  }

  Rope function(const Function& f) {
    Rope r;
    r.field_string(1, f.name);
    const Graph& g = *f.body;
    for (Value* v : g.inputs()) r.field_string(4, v->name());
    for (Value* v : g.outputs()) r.field_string(5, v->name());
    for (const auto& a : f.attribute_names) r.field_string(6, a);
    for (const auto& a : f.attribute_defaults) r.field_message(11, attribute(a));
    for (const auto& n : g.nodes()) r.field_message(7, node(*n));
    r.field_string_if(8, f.doc_string);
    for (const auto& o : f.opset_imports) r.field_message(9, opset(o));
    r.field_string_if(10, f.domain);
    r.field_string_if(13, f.overload);
    for (const auto& n : g.nodes())
      for (size_t k = 0; k < n->num_outputs(); ++k) {
        const Value* v = n->output(k);
        if (!v->name().empty() && v->type().known()) r.field_message(12, value_info(*v));
      }
    for (const auto& p : f.metadata_props) r.field_message(14, string_pair(p));
    r.raw(f.unknown_fields);
    return r;
  }

  bool externalize_;
  uint64_t threshold_;
  std::string location_;
};

uint64_t tensor_bytes(const Graph& g);

uint64_t attribute_bytes(const Attribute& a) {
  uint64_t n = 0;
  if (a.t) n += a.t->nbytes();
  for (const auto& t : a.tensors) n += t->nbytes();
  if (a.g) n += tensor_bytes(*a.g);
  for (const auto& g : a.graphs) n += tensor_bytes(*g);
  return n;
}

uint64_t tensor_bytes(const Graph& g) {
  uint64_t n = 0;
  for (Value* v : g.initializers())
    if (v->initializer()) n += v->initializer()->nbytes();
  for (const auto& node : g.nodes())
    for (const auto& a : node->attributes()) n += attribute_bytes(a);
  return n;
}

// Appends to a file descriptor, streaming view pieces in bounded chunks and releasing the
// source pages of memory-mapped tensors once written, so peak RSS stays flat.
struct Progress {
  const OnnxWriteOptions& opts;
  uint64_t total;
  uint64_t done = 0, reported = 0;
  void advance(uint64_t n) {
    done += n;
    if (opts.progress && (done - reported >= (uint64_t{64} << 20) || done == total)) {
      reported = done;
      opts.progress(done, total);
    }
  }
};

class FileSink {
 public:
  FileSink(int fd, std::string path, Progress& progress) : fd_(fd), path_(std::move(path)), progress_(progress) {}

  void write_all(const uint8_t* p, size_t n, const void* mapping) {
    constexpr size_t kChunk = size_t{2} << 20;  // release a page-cache folio at a time
    while (n > 0) {
      size_t len = std::min(n, kChunk);
      write_raw(p, len);
      if (mapping) static_cast<const MappedFile*>(mapping)->release(p, len);
      p += len;
      n -= len;
      progress_.advance(len);
    }
  }
  // Streams computed bytes (see ComputedStorage) through a bounded buffer.
  void write_computed(const ComputedStorage& comp, size_t offset, size_t n) {
    comp.stream(offset, n, [this](const uint8_t* p, size_t len) {
      write_raw(p, len);
      progress_.advance(len);
    });
  }
  void pad_to(uint64_t offset) {
    static const uint8_t kZeros[4096] = {};
    while (written_ < offset) write_raw(kZeros, static_cast<size_t>(std::min<uint64_t>(offset - written_, sizeof kZeros)));
  }
  void write_rope(const Rope& rope) {
    for (const auto& piece : rope.pieces()) {
      if (piece.computed) write_computed(*static_cast<const ComputedStorage*>(piece.computed), piece.computed_offset, piece.view_size);
      else if (piece.view) write_all(piece.view, piece.view_size, piece.mapping);
      else write_all(reinterpret_cast<const uint8_t*>(piece.owned.data()), piece.owned.size(), nullptr);
    }
  }

 private:
  void write_raw(const uint8_t* p, size_t n) {
    write_fully(fd_, p, n, path_);
    written_ += n;
  }
  int fd_;
  std::string path_;
  Progress& progress_;
  uint64_t written_ = 0;
};

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}
std::string dirname_with_slash(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// The first opset in which DequantizeLinear accepts what `n` uses, and that feature's name.
std::pair<int64_t, std::string> dequantize_needs(const Node& n) {
  std::pair<int64_t, std::string> need{10, ""};
  auto at_least = [&](int64_t opset, const std::string& what) {
    if (opset > need.first) need = {opset, what};
  };
  auto elem = [&](size_t i) { return i < n.inputs().size() && n.input(i) ? n.input(i)->type().elem_type : DataType::kUndefined; };
  if (n.attr("axis")) at_least(13, "the axis attribute (per-axis scales)");
  DataType x = elem(0), scale = elem(1);
  if (scale == DataType::kFloat16 || scale == DataType::kBfloat16) at_least(19, std::string(dtype_name(scale)) + " scales");
  if (x == DataType::kFloat8E4M3FN || x == DataType::kFloat8E4M3FNUZ || x == DataType::kFloat8E5M2 || x == DataType::kFloat8E5M2FNUZ)
    at_least(19, std::string(dtype_name(x)) + " input");
  if (x == DataType::kInt4 || x == DataType::kUint4 || x == DataType::kInt16 || x == DataType::kUint16)
    at_least(21, std::string(dtype_name(x)) + " input");
  if (n.attr("block_size")) at_least(21, "block_size (blocked scales)");
  return need;
}

// ONNX output must pass onnx.checker: a DequantizeLinear (compress_weights makes them) whose
// form the model's opset does not have yet is refused, naming it, instead of written.
void check_dequantize_opsets(const Model& m, const Graph& g, const std::string& where) {
  int64_t opset = m.opset_version("");
  size_t index = 0;
  for (const auto& n : g.nodes()) {
    for (Graph* sub : n->subgraphs()) check_dequantize_opsets(m, *sub, where);
    ++index;
    if (n->op_type() != "DequantizeLinear" || !(n->domain().empty() || n->domain() == "ai.onnx")) continue;
    auto [need, what] = dequantize_needs(*n);
    if (need > opset)
      fail(ErrorKind::kUnsupported, where + n->describe() + " (node #" + std::to_string(index - 1) + " of graph '" + g.name() +
                                        "') uses " + what + ", which DequantizeLinear has from opset " + std::to_string(need) +
                                        ", but the model's opset is " + std::to_string(opset) +
                                        " and could not be raised; write OpenVINO IR (.xml), or convert the model to opset " +
                                        std::to_string(need) + " first");
  }
}

// ONNX has no model state: a stateful model (irforge::ReadValue / irforge::Assign, the KV cache
// of an LLM read from a Hugging Face checkpoint) would be a file no runtime can run.
void refuse_stateful(const Graph& g, const std::string& where) {
  for (const auto& n : g.nodes())
    if (n->domain() == "irforge" && (n->op_type() == "ReadValue" || n->op_type() == "Assign"))
      fail(ErrorKind::kUnsupported, where + "the model is stateful (node '" + n->name() + "', irforge::" + n->op_type() +
                                        ", variable '" + n->attr_string("variable_id", "") +
                                        "'): ONNX has no model state; save it as OpenVINO IR (.xml)");
}

// irforge::DetectionOutput (SSD's head from a Caffe net, io/openvino/ops/detection.cc) has no
// ONNX form that runtimes run; it is refused rather than written as a node nobody can execute.
void refuse_openvino_only(const Graph& g, const std::string& where) {
  for (const auto& n : g.nodes())
    if (n->domain() == "irforge" && n->op_type() == "DetectionOutput")
      fail(ErrorKind::kUnsupported, where + "node '" + n->name() + "' is irforge::DetectionOutput (SSD), which has no ONNX form; " +
                                        "save the model as OpenVINO IR (.xml)");
  // irforge::MulticlassNms (Paddle's multiclass_nms3, io/openvino/ops/multiclass_nms.cc): ONNX's
  // NonMaxSuppression has no per-image keep_top_k across classes, nms_eta or pixel-box areas.
  for (const auto& n : g.nodes())
    if (n->domain() == "irforge" && n->op_type() == "MulticlassNms")
      fail(ErrorKind::kUnsupported, where + "node '" + n->name() + "' is irforge::MulticlassNms (Paddle multiclass_nms3), which " +
                                        "ONNX's NonMaxSuppression cannot express exactly; save the model as OpenVINO IR (.xml)");
}

}  // namespace

void write_onnx_file(const Model& model, const std::string& path, const OnnxWriteOptions& options) {
  if (!model.graph) fail(ErrorKind::kInternal, "model has no graph");
  check_dequantize_opsets(model, *model.graph, "'" + path + "': ");
  refuse_stateful(*model.graph, "'" + path + "': ");
  refuse_openvino_only(*model.graph, "'" + path + "': ");
  bool external = false;
  switch (options.external_data) {
    case OnnxWriteOptions::ExternalData::kAlways: external = true; break;
    case OnnxWriteOptions::ExternalData::kNever: external = false; break;
    case OnnxWriteOptions::ExternalData::kAuto: external = tensor_bytes(*model.graph) > kInlineWeightBudget; break;
  }
  std::string location = options.data_location.empty() ? basename_of(path) + ".data" : options.data_location;
  if (location.find('/') != std::string::npos || location == "." || location == "..")
    fail(ErrorKind::kFile, "external data location '" + location + "' must be a plain file name");
  Encoder enc(external, options.size_threshold, location);
  Rope rope = enc.model(model);
  if (rope.size() > kProtobufLimit)
    fail(ErrorKind::kResourceLimit, "'" + path + "': the model would be " + std::to_string(rope.size()) +
                                        " bytes, over protobuf's 2 GB limit; write its weights as external data");
  Progress progress{options, rope.size() + enc.data_size};
  if (!enc.chunks.empty()) {
    AtomicFile data(dirname_with_slash(path) + location);
    AtomicFile proto(path);
    FileSink dsink(data.fd(), data.path(), progress);
    for (const auto& c : enc.chunks) {
      dsink.pad_to(c.offset);
      if (const ComputedStorage* comp = c.tensor->computed()) dsink.write_computed(*comp, c.tensor->storage_offset(), c.tensor->nbytes());
      else dsink.write_all(c.tensor->data(), c.tensor->nbytes(), c.tensor->storage() ? c.tensor->storage()->mapping() : nullptr);
    }
    FileSink(proto.fd(), proto.path(), progress).write_rope(rope);
    commit_together({&data, &proto});  // the model names offsets into its data file
  } else {
    AtomicFile proto(path);
    FileSink(proto.fd(), proto.path(), progress).write_rope(rope);
    proto.commit();
  }
}

std::string write_onnx_bytes(const Model& model) {
  if (!model.graph) fail(ErrorKind::kInternal, "model has no graph");
  check_dequantize_opsets(model, *model.graph, "");
  Encoder enc(false, 0, "");
  Rope rope = enc.model(model);
  if (rope.size() > kProtobufLimit)
    fail(ErrorKind::kResourceLimit, "the model would be " + std::to_string(rope.size()) +
                                        " bytes, over protobuf's 2 GB limit; save it to a file with external data");
  std::string out;
  out.reserve(rope.size());
  for (const auto& piece : rope.pieces()) {
    if (piece.computed) {
      size_t at = out.size();
      out.resize(at + piece.view_size);
      static_cast<const ComputedStorage*>(piece.computed)->produce(piece.computed_offset, piece.view_size, reinterpret_cast<uint8_t*>(&out[at]));
    } else if (piece.view) out.append(reinterpret_cast<const char*>(piece.view), piece.view_size);
    else out += piece.owned;
  }
  return out;
}

}  // namespace irforge
