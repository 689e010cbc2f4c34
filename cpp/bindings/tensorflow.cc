// Python binding of the TensorFlow reader (irforge._core.tf_*): decoded GraphDef / SavedModel /
// MetaGraph structure as plain Python objects, and tensor-bundle entries. Tensor bytes do not
// cross into Python: a tensor is (file, offset, dtype, shape), and the frontend makes it a
// constant viewing the mapped file (Builder.constant_from_file). Only typed value lists
// (float_val, int_val, ...: scalars and shape vectors) are handed over as numbers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/builder_binding.h"
#include "bindings/decode_mapped_file.h"
#include "io/tensorflow/bundle.h"
#include "io/tensorflow/proto.h"
#include "io/tensorflow/text_format.h"
#include "support/error.h"

namespace py = pybind11;
using namespace irforge;
using namespace irforge::tf;

namespace {

py::object shape_to_py(const TfShape& s) {
  if (s.unknown_rank) return py::none();
  return py::cast(s.dims);
}

py::dict tensor_to_py(const TfTensor& t, const uint8_t* base) {
  py::dict d;
  d["dtype"] = t.dtype;
  d["shape"] = shape_to_py(t.shape);
  if (t.content) {
    d["offset"] = static_cast<size_t>(t.content - base);
    d["size"] = t.content_size;
  } else {
    d["offset"] = py::none();
    d["size"] = 0;
  }
  d["float_val"] = t.float_val;
  d["int_val"] = t.int_val;
  py::list strings;
  for (const auto& s : t.string_val) strings.append(py::bytes(s));
  d["string_val"] = strings;
  return d;
}

py::object attr_to_py(const TfAttr& a, const uint8_t* base);

py::dict attrs_to_py(const std::map<std::string, TfAttr>& attrs, const uint8_t* base) {
  py::dict d;
  for (const auto& [k, v] : attrs) d[py::str(k)] = attr_to_py(v, base);
  return d;
}

py::object func_to_py(const TfNameAttrList& f, const uint8_t* base) {
  py::dict d;
  d["func"] = f.name;
  d["attr"] = attrs_to_py(f.attr, base);
  return d;
}

py::object attr_to_py(const TfAttr& a, const uint8_t* base) {
  switch (a.kind) {
    case TfAttr::kS: return py::bytes(a.s);
    case TfAttr::kI: return py::int_(a.i);
    case TfAttr::kF: return py::float_(a.f);
    case TfAttr::kB: return py::bool_(a.b);
    case TfAttr::kType: return py::int_(a.type);
    case TfAttr::kShape: return py::make_tuple("shape", shape_to_py(a.shape));
    case TfAttr::kTensor: return tensor_to_py(*a.tensor, base);
    case TfAttr::kFunc: return func_to_py(*a.func, base);
    case TfAttr::kPlaceholder: return py::make_tuple("placeholder", a.s);
    case TfAttr::kList: {
      py::list l;
      for (const auto& s : a.list_s) l.append(py::bytes(s));
      for (int64_t v : a.list_i) l.append(v);
      for (float v : a.list_f) l.append(v);
      for (int64_t v : a.list_b) l.append(py::bool_(v != 0));
      for (int64_t v : a.list_type) l.append(v);
      for (const auto& s : a.list_shape) l.append(py::make_tuple("shape", shape_to_py(s)));
      for (const auto& t : a.list_tensor) l.append(tensor_to_py(*t, base));
      for (const auto& f : a.list_func) l.append(func_to_py(f, base));
      return l;
    }
    default: return py::none();
  }
}

py::list nodes_to_py(const std::vector<TfNode>& nodes, const uint8_t* base) {
  py::list out;
  for (const auto& n : nodes) {
    py::dict d;
    d["name"] = n.name;
    d["op"] = n.op;
    d["inputs"] = n.inputs;
    d["attr"] = attrs_to_py(n.attr, base);
    out.append(d);
  }
  return out;
}

py::list args_to_py(const std::vector<TfArg>& args) {
  py::list out;
  for (const auto& a : args) {
    py::dict d;
    d["name"] = a.name;
    d["type"] = a.type;
    d["type_attr"] = a.type_attr;
    d["number_attr"] = a.number_attr;
    d["type_list_attr"] = a.type_list_attr;
    out.append(d);
  }
  return out;
}

py::dict graph_to_py(const TfGraph& g, const uint8_t* base) {
  py::dict d;
  d["nodes"] = nodes_to_py(g.nodes, base);
  py::dict functions;
  for (const auto& f : g.functions) {
    py::dict fd;
    fd["name"] = f.name;
    fd["inputs"] = args_to_py(f.inputs);
    fd["outputs"] = args_to_py(f.outputs);
    fd["nodes"] = nodes_to_py(f.nodes, base);
    fd["ret"] = f.ret;
    fd["attr"] = attrs_to_py(f.attr, base);
    functions[py::str(f.name)] = fd;
  }
  d["functions"] = functions;
  return d;
}

py::dict tensor_infos_to_py(const std::map<std::string, TfTensorInfo>& infos) {
  py::dict d;
  for (const auto& [k, t] : infos) d[py::str(k)] = py::make_tuple(t.name, t.dtype, shape_to_py(t.shape));
  return d;
}

py::dict meta_graph_to_py(const TfMetaGraph& m, const uint8_t* base) {
  py::dict d;
  d["tags"] = m.tags;
  d["graph"] = graph_to_py(m.graph, base);
  py::dict sigs;
  for (const auto& [k, s] : m.signatures) {
    py::dict sd;
    sd["inputs"] = tensor_infos_to_py(s.inputs);
    sd["outputs"] = tensor_infos_to_py(s.outputs);
    sd["method"] = s.method;
    sigs[py::str(k)] = sd;
  }
  d["signatures"] = sigs;
  d["saver_filename_tensor"] = m.saver_filename_tensor;
  d["saver_restore_op"] = m.saver_restore_op;
  return d;
}

}  // namespace

namespace irforge::bindings {

void register_tensorflow(py::module_& m) {
  m.def(
      "tf_read_graph_def",
      [](const std::string& path) { return decode_mapped_file(path, decode_graph_def, graph_to_py); },
      py::arg("path"), "Decodes a binary GraphDef (.pb): {'nodes': [...], 'functions': {...}}.");
  m.def(
      "tf_read_meta_graph",
      [](const std::string& path) { return decode_mapped_file(path, decode_meta_graph, meta_graph_to_py); },
      py::arg("path"), "Decodes a MetaGraphDef (.meta of a TF1 checkpoint).");
  m.def(
      "tf_read_saved_model",
      [](const std::string& path) {
        return decode_mapped_file(path, decode_saved_model, [](const std::vector<TfMetaGraph>& v, const uint8_t* base) {
          py::list out;
          for (const auto& mg : v) out.append(meta_graph_to_py(mg, base));
          return out;
        });
      },
      py::arg("path"), "Decodes saved_model.pb: a list of MetaGraphDefs.");

  m.def(
      "tf_text_graph_to_binary",
      [](const std::string& path) {
        auto decode = [](const uint8_t* data, size_t size, const std::string& path) {
          return text_graph_def_to_binary(reinterpret_cast<const char*>(data), size, path);
        };
        return decode_mapped_file(path, decode, [](const std::string& binary, const uint8_t*) { return py::bytes(binary); });
      },
      py::arg("path"), "A text-format GraphDef (.pbtxt) re-encoded as a binary GraphDef.");

  py::class_<Bundle>(m, "TfBundle")
      .def_static(
          "open",
          [](const std::string& prefix) {
            py::gil_scoped_release release;
            return Bundle::open(prefix);
          },
          py::arg("prefix"))
      .def("keys", [](const Bundle& b) {
        std::vector<std::string> keys;  // slices' binary keys (starting with a 0 byte) are not names
        for (const auto& kv : b.entries())
          if (!kv.first.empty() && kv.first[0] != '\0') keys.push_back(kv.first);
        return keys;
      })
      .def(
          "slice_entry",
          [](const Bundle& b, const std::string& name, const std::string& shape_and_slice) {
            const BundleEntry& e = b.checked_slice_entry(name, shape_and_slice);
            return py::make_tuple(e.dtype, e.shape.dims, b.shard_path(e.shard), e.offset, e.size);
          },
          py::arg("name"), py::arg("shape_and_slice"), "entry() of one slice of a partitioned variable.")
      .def(
          "entry",
          [](const Bundle& b, const std::string& key) {
            const BundleEntry& e = b.checked_entry(key);
            return py::make_tuple(e.dtype, e.shape.dims, b.shard_path(e.shard), e.offset, e.size);
          },
          py::arg("key"), "(dtype, dims, shard path, offset, size) of a numeric tensor, checked against its shard.")
      .def_property_readonly("index_path", &Bundle::index_path);
}

}  // namespace irforge::bindings
