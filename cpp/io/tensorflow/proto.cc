#include "io/tensorflow/proto.h"

#include <cstring>

#include "io/onnx/wire.h"
#include "support/error.h"

namespace irforge::tf {

using wire::Field;
using wire::Reader;

namespace {

constexpr int kMaxAttrDepth = 16;           // func attrs nest AttrValues; bound the recursion
constexpr size_t kMaxRepeated = size_t{1} << 26;  // typed values per tensor

std::string text(const Field& f) {
  if (f.type != wire::kLengthDelimited) fail_invalid("malformed protobuf: field " + std::to_string(f.number) + " is not a string");
  return f.str();
}

void need_message(const Field& f) {
  if (f.type != wire::kLengthDelimited)
    fail_invalid("malformed protobuf: field " + std::to_string(f.number) + " should be a message");
}

int64_t as_int(const Field& f) {
  if (f.type != wire::kVarint) fail_invalid("malformed protobuf: field " + std::to_string(f.number) + " should be a varint");
  return static_cast<int64_t>(f.varint);
}

template <typename T, typename Fn>
void repeated(const Field& f, std::vector<T>& out, Fn&& conv, wire::WireType type) {
  wire::read_repeated(f, out, conv, type);
  if (out.size() > kMaxRepeated) fail(ErrorKind::kResourceLimit, "a tensor lists more than 2^26 typed values");
}

double half_to_double(uint64_t raw) {
  uint32_t h = static_cast<uint32_t>(raw) & 0xffff;
  uint32_t sign = (h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) bits = sign;
    else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) man <<= 1, --exp;
      bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 31) bits = sign | 0x7f800000 | (man << 13);
  else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

void decode_attr_map_entry(const Field& f, std::map<std::string, TfAttr>& out, int depth);
TfAttr decode_attr(const uint8_t* data, size_t size, int depth);

TfNameAttrList decode_name_attr_list(const Field& f, int depth) {
  need_message(f);
  TfNameAttrList out;
  Reader r(f);
  Field g;
  while (r.next(g)) {
    if (g.number == 1) out.name = text(g);
    else if (g.number == 2) decode_attr_map_entry(g, out.attr, depth + 1);
  }
  return out;
}

}  // namespace

size_t dtype_size(int32_t dtype) {
  switch (dtype % 100) {
    case kDtFloat: case kDtInt32: case kDtUint32: return 4;
    case kDtDouble: case kDtInt64: case kDtUint64: case kDtComplex64: return 8;
    case kDtComplex128: return 16;
    case kDtUint8: case kDtInt8: case kDtBool: return 1;
    case kDtInt16: case kDtUint16: case kDtHalf: case kDtBfloat16: return 2;
    default: return 0;
  }
}

std::string dtype_name(int32_t dtype) {
  static const char* names[] = {"DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16", "DT_INT8",
                                "DT_STRING", "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_QINT8", "DT_QUINT8", "DT_QINT32",
                                "DT_BFLOAT16", "DT_QINT16", "DT_QUINT16", "DT_UINT16", "DT_COMPLEX128", "DT_HALF",
                                "DT_RESOURCE", "DT_VARIANT", "DT_UINT32", "DT_UINT64"};
  int32_t base = dtype % 100;
  if (dtype >= 0 && base < static_cast<int32_t>(sizeof(names) / sizeof(names[0])))
    return std::string(names[base]) + (dtype >= 100 ? "_REF" : "");
  return "dtype " + std::to_string(dtype);
}

TfShape decode_shape(const uint8_t* data, size_t size) {
  TfShape s;
  Reader r(data, size);
  Field f;
  while (r.next(f)) {
    if (f.number == 2) {
      need_message(f);
      Reader d(f);
      Field g;
      int64_t dim = 0;  // proto3: an absent size is 0; TF writes -1 for unknown explicitly
      while (d.next(g))
        if (g.number == 1) dim = as_int(g);
      if (dim < -1) fail_invalid("a tensor shape has dimension " + std::to_string(dim));
      if (s.dims.size() >= 64) fail(ErrorKind::kResourceLimit, "a tensor shape has more than 64 dimensions");
      s.dims.push_back(dim);
    } else if (f.number == 3) {
      s.unknown_rank = as_int(f) != 0;
    }
  }
  return s;
}

namespace {

TfShape shape_of(const Field& f) {
  need_message(f);
  return decode_shape(f.data, f.size);
}

std::shared_ptr<TfTensor> decode_tensor(const Field& field) {
  need_message(field);
  auto t = std::make_shared<TfTensor>();
  Reader r(field);
  Field f;
  auto u = [](uint64_t v) { return static_cast<int64_t>(v); };
  while (r.next(f)) {
    switch (f.number) {
      case 1: t->dtype = static_cast<int32_t>(as_int(f)); break;
      case 2: t->shape = shape_of(f); break;
      case 4:
        need_message(f);
        t->content = f.data;
        t->content_size = f.size;
        break;
      case 5: repeated(f, t->float_val, [](uint64_t v) { return static_cast<double>(wire::fixed_f32(v)); }, wire::kFixed32); break;
      case 6: repeated(f, t->float_val, wire::fixed_f64, wire::kFixed64); break;
      case 13: repeated(f, t->float_val, half_to_double, wire::kVarint); break;
      case 7: repeated(f, t->int_val, [](uint64_t v) { return static_cast<int64_t>(static_cast<int32_t>(v)); }, wire::kVarint); break;
      case 10: case 11: case 16: case 17: repeated(f, t->int_val, u, wire::kVarint); break;
      case 8:
        t->string_val.push_back(text(f));
        if (t->string_val.size() > kMaxRepeated) fail(ErrorKind::kResourceLimit, "a tensor lists more than 2^26 strings");
        break;
      default: break;
    }
  }
  return t;
}

TfAttr decode_attr(const uint8_t* data, size_t size, int depth) {
  if (depth > kMaxAttrDepth) fail(ErrorKind::kResourceLimit, "attribute values nested more than 16 deep");
  TfAttr a;
  Reader r(data, size);
  Field f;
  while (r.next(f)) {
    switch (f.number) {
      case 1: {
        need_message(f);
        a.kind = TfAttr::kList;
        Reader l(f);
        Field g;
        while (l.next(g)) {
          switch (g.number) {
            case 2: a.list_s.push_back(text(g)); break;
            case 3: repeated(g, a.list_i, [](uint64_t v) { return static_cast<int64_t>(v); }, wire::kVarint); break;
            case 4: repeated(g, a.list_f, wire::fixed_f32, wire::kFixed32); break;
            case 5: repeated(g, a.list_b, [](uint64_t v) { return static_cast<int64_t>(v != 0); }, wire::kVarint); break;
            case 6: repeated(g, a.list_type, [](uint64_t v) { return static_cast<int64_t>(v); }, wire::kVarint); break;
            case 7: a.list_shape.push_back(shape_of(g)); break;
            case 8: a.list_tensor.push_back(decode_tensor(g)); break;
            case 9: a.list_func.push_back(decode_name_attr_list(g, depth)); break;
            default: break;
          }
        }
        break;
      }
      case 2: a.kind = TfAttr::kS, a.s = text(f); break;
      case 3: a.kind = TfAttr::kI, a.i = as_int(f); break;
      case 4:
        if (f.type != wire::kFixed32) fail_invalid("malformed protobuf: a float attribute is not fixed32");
        a.kind = TfAttr::kF, a.f = wire::fixed_f32(f.varint);
        break;
      case 5: a.kind = TfAttr::kB, a.b = as_int(f) != 0; break;
      case 6: a.kind = TfAttr::kType, a.type = static_cast<int32_t>(as_int(f)); break;
      case 7: a.kind = TfAttr::kShape, a.shape = shape_of(f); break;
      case 8: a.kind = TfAttr::kTensor, a.tensor = decode_tensor(f); break;
      case 9: a.kind = TfAttr::kPlaceholder, a.s = text(f); break;
      case 10: a.kind = TfAttr::kFunc, a.func = std::make_shared<TfNameAttrList>(decode_name_attr_list(f, depth)); break;
      default: break;
    }
  }
  return a;
}

// One entry of a map<string, AttrValue> field (key = 1, value = 2).
void decode_attr_map_entry(const Field& f, std::map<std::string, TfAttr>& out, int depth) {
  need_message(f);
  Reader r(f);
  Field g;
  std::string key;
  TfAttr value;
  while (r.next(g)) {
    if (g.number == 1) key = text(g);
    else if (g.number == 2) {
      need_message(g);
      value = decode_attr(g.data, g.size, depth);
    }
  }
  out[key] = std::move(value);
}

TfNode decode_node(const Field& field, const std::string& what, size_t index) {
  need_message(field);
  TfNode n;
  try {
    Reader r(field);
    Field f;
    while (r.next(f)) {
      switch (f.number) {
        case 1: n.name = text(f); break;
        case 2: n.op = text(f); break;
        case 3: n.inputs.push_back(text(f)); break;
        case 4: n.device = text(f); break;
        case 5: decode_attr_map_entry(f, n.attr, 0); break;
        default: break;
      }
    }
  } catch (const Error& e) {
    std::string who = n.name.empty() ? "node #" + std::to_string(index) : "node '" + n.name + "'";
    throw Error(e.kind(), what + ": " + who + (n.op.empty() ? "" : " (" + n.op + ")") + ": " + e.what());
  }
  if (n.name.empty()) fail_invalid(what + ": node #" + std::to_string(index) + " has no name");
  return n;
}

void decode_args(const Field& f, std::vector<TfArg>& out) {
  need_message(f);
  TfArg a;
  Reader r(f);
  Field g;
  while (r.next(g)) {
    switch (g.number) {
      case 1: a.name = text(g); break;
      case 3: a.type = static_cast<int32_t>(as_int(g)); break;
      case 4: a.type_attr = text(g); break;
      case 5: a.number_attr = text(g); break;
      case 6: a.type_list_attr = text(g); break;
      default: break;
    }
  }
  out.push_back(std::move(a));
}

TfFunction decode_function(const Field& field, const std::string& what) {
  need_message(field);
  TfFunction fn;
  Reader r(field);
  Field f;
  while (r.next(f)) {
    switch (f.number) {
      case 1: {  // OpDef signature
        need_message(f);
        Reader s(f);
        Field g;
        while (s.next(g)) {
          if (g.number == 1) fn.name = text(g);
          else if (g.number == 2) decode_args(g, fn.inputs);
          else if (g.number == 3) decode_args(g, fn.outputs);
        }
        break;
      }
      case 3: fn.nodes.push_back(decode_node(f, what + ": function '" + fn.name + "'", fn.nodes.size())); break;
      case 4: {
        need_message(f);
        Reader m(f);
        Field g;
        std::string k, v;
        while (m.next(g)) {
          if (g.number == 1) k = text(g);
          else if (g.number == 2) v = text(g);
        }
        fn.ret[k] = v;
        break;
      }
      case 5: decode_attr_map_entry(f, fn.attr, 0); break;
      default: break;
    }
  }
  return fn;
}

// Reads the next field of a GraphDef; a damaged one is named by the node it would have been.
bool next_graph_field(Reader& r, Field& f, const std::string& what, const TfGraph& g) {
  try {
    return r.next(f);
  } catch (const Error& e) {
    std::string after = g.nodes.empty() ? "" : " (after node '" + g.nodes.back().name + "')";
    throw Error(e.kind(), what + ": node #" + std::to_string(g.nodes.size()) + after + ": " + e.what());
  }
}

void decode_graph_into(const uint8_t* data, size_t size, const std::string& what, TfGraph& g) {
  Reader r(data, size);
  Field f;
  while (next_graph_field(r, f, what, g)) {
    if (f.number == 1) {
      g.nodes.push_back(decode_node(f, what, g.nodes.size()));
    } else if (f.number == 2) {
      need_message(f);
      Reader lib(f);
      Field h;
      while (lib.next(h))
        if (h.number == 1) g.functions.push_back(decode_function(h, what));
    }
  }
}

TfTensorInfo decode_tensor_info(const Field& field) {
  need_message(field);
  TfTensorInfo t;
  t.shape.unknown_rank = true;  // no tensor_shape: nothing is known
  Reader r(field);
  Field f;
  while (r.next(f)) {
    if (f.number == 1) t.name = text(f);
    else if (f.number == 2) t.dtype = static_cast<int32_t>(as_int(f));
    else if (f.number == 3) t.shape = shape_of(f);
  }
  return t;
}

void decode_tensor_info_map(const Field& field, std::map<std::string, TfTensorInfo>& out) {
  need_message(field);
  Reader r(field);
  Field f;
  std::string key;
  TfTensorInfo info;
  while (r.next(f)) {
    if (f.number == 1) key = text(f);
    else if (f.number == 2) info = decode_tensor_info(f);
  }
  out[key] = std::move(info);
}

}  // namespace

TfGraph decode_graph_def(const uint8_t* data, size_t size, const std::string& what) {
  TfGraph g;
  try {
    decode_graph_into(data, size, what, g);
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(what, 0) == 0) throw;
    throw Error(e.kind(), what + ": GraphDef: " + e.what());
  }
  return g;
}

TfMetaGraph decode_meta_graph(const uint8_t* data, size_t size, const std::string& what) {
  TfMetaGraph m;
  try {
    Reader r(data, size);
    Field f;
    while (r.next(f)) {
      switch (f.number) {
        case 1: {
          need_message(f);
          Reader info(f);
          Field g;
          while (info.next(g))
            if (g.number == 4) m.tags.push_back(text(g));
          break;
        }
        case 2: need_message(f); decode_graph_into(f.data, f.size, what, m.graph); break;
        case 3: {
          need_message(f);
          Reader s(f);
          Field g;
          while (s.next(g)) {
            if (g.number == 1) m.saver_filename_tensor = text(g);
            else if (g.number == 3) m.saver_restore_op = text(g);
          }
          break;
        }
        case 5: {
          need_message(f);
          Reader e(f);
          Field g;
          std::string key;
          TfSignature sig;
          while (e.next(g)) {
            if (g.number == 1) key = text(g);
            else if (g.number == 2) {
              need_message(g);
              Reader s(g);
              Field h;
              while (s.next(h)) {
                if (h.number == 1) decode_tensor_info_map(h, sig.inputs);
                else if (h.number == 2) decode_tensor_info_map(h, sig.outputs);
                else if (h.number == 3) sig.method = text(h);
              }
            }
          }
          m.signatures[key] = std::move(sig);
          break;
        }
        default: break;
      }
    }
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(what, 0) == 0) throw;
    throw Error(e.kind(), what + ": MetaGraphDef: " + e.what());
  }
  return m;
}

std::vector<TfMetaGraph> decode_saved_model(const uint8_t* data, size_t size, const std::string& what) {
  std::vector<TfMetaGraph> out;
  try {
    Reader r(data, size);
    Field f;
    while (r.next(f)) {
      if (f.number == 2) {
        need_message(f);
        out.push_back(decode_meta_graph(f.data, f.size, what));
      }
    }
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(what, 0) == 0) throw;
    throw Error(e.kind(), what + ": SavedModel: " + e.what());
  }
  if (out.empty()) fail_invalid(what + ": a SavedModel without any MetaGraphDef");
  return out;
}

}  // namespace irforge::tf
