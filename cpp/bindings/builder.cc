// Python binding of ir::Builder (irforge._core.Builder), used by python/irforge/builder.py and
// the Python frontends. Constants view Python buffers (numpy arrays, torch tensors through
// .numpy(), memoryviews, mmap objects) without copying: the buffer stays exported, and its owner
// alive, for as long as the Model holds the constant.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <unordered_map>

#include "bindings/builder_binding.h"
#include "io/safetensors/reader.h"
#include "ir/builder.h"
#include "support/error.h"

namespace py = pybind11;
using namespace irforge;

namespace {

// Bytes of a C-contiguous Python buffer. Holding the Py_buffer keeps the exporter alive and its
// memory in place (numpy refuses to resize an exported array).
class PyBufferStorage final : public Storage {
 public:
  explicit PyBufferStorage(const py::object& obj) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_C_CONTIGUOUS) != 0) {
      PyErr_Clear();
      throw Error(ErrorKind::kInvalidModel, "a constant's data must be a C-contiguous buffer (numpy array, memoryview, ...), not " +
                                                std::string(Py_TYPE(obj.ptr())->tp_name));
    }
  }
  ~PyBufferStorage() override {
    // Passes run without the GIL and may drop the last reference to a constant.
    if (Py_IsInitialized()) {
      py::gil_scoped_acquire gil;
      PyBuffer_Release(&view_);
    }
  }
  const uint8_t* data() const override { return static_cast<const uint8_t*>(view_.buf); }
  size_t size() const override { return static_cast<size_t>(view_.len); }
  bool borrowed() const override { return true; }

 private:
  Py_buffer view_{};
};

// Python builder state: the C++ builder plus the subgraphs it handed out (by address).
struct PyBuilder {
  explicit PyBuilder(const std::string& source) : builder(std::make_unique<Builder>(source)) {}
  std::unique_ptr<Builder> builder;
  // Files mapped by constant_file, once per builder (a SavedModel has hundreds of weights in
  // one shard); MappedStorage keeps each mapping alive for as long as a constant views it.
  std::unordered_map<std::string, std::shared_ptr<const Storage>> mapped_files;

  std::shared_ptr<const Storage> map_file(const std::string& path) {
    auto& slot = mapped_files[path];
    if (!slot) slot = std::make_shared<MappedStorage>(MappedFile::open(path));
    return slot;
  }

  Builder& get() {
    if (!builder) throw Error(ErrorKind::kInvalidModel, "this Builder has already finished its model");
    return *builder;
  }
};

Graph& graph_of(PyBuilder& b, py::object g) {
  if (g.is_none()) return b.get().main_graph();
  return *g.cast<Graph*>();
}

Shape shape_from_py(const py::object& dims) {
  Shape shape;
  for (py::handle d : dims) {
    if (d.is_none()) shape.push_back(Dim{});
    else if (py::isinstance<py::str>(d)) shape.push_back(Dim::symbol(d.cast<std::string>()));
    else {
      int64_t v = d.cast<int64_t>();
      shape.push_back(v < 0 ? Dim{} : Dim::of(v));
    }
  }
  return shape;
}

// One attribute from a tagged Python tuple (kind, value) made by irforge/builder.py, which
// decides the kind; the tensor kind arrives as (dtype, dims, bytes).
Attribute attribute_from_py(PyBuilder& b, const std::string& name, const py::tuple& spec) {
  Attribute a;
  a.name = name;
  std::string kind = spec[0].cast<std::string>();
  py::object v = spec[1];
  if (kind == "int") a.kind = AttrKind::kInt, a.i = v.cast<int64_t>();
  else if (kind == "float") a.kind = AttrKind::kFloat, a.f = v.cast<float>();
  else if (kind == "string") a.kind = AttrKind::kString, a.s = v.cast<std::string>();
  else if (kind == "ints") a.kind = AttrKind::kInts, a.ints = v.cast<std::vector<int64_t>>();
  else if (kind == "floats") a.kind = AttrKind::kFloats, a.floats = v.cast<std::vector<float>>();
  else if (kind == "strings") a.kind = AttrKind::kStrings, a.strings = v.cast<std::vector<std::string>>();
  else if (kind == "graph") a.kind = AttrKind::kGraph, a.g = b.get().take_subgraph(v.cast<Graph*>());
  else if (kind == "tensor") {
    py::tuple t = v.cast<py::tuple>();
    std::string bytes = t[2].cast<std::string>();
    a.kind = AttrKind::kTensor;
    a.t = std::make_shared<Tensor>(name, static_cast<DataType>(t[0].cast<int>()), t[1].cast<std::vector<int64_t>>());
    auto expected = raw_bytes_for(a.t->dtype(), a.t->element_count());
    if (!expected || *expected != bytes.size())
      throw Error(ErrorKind::kInvalidModel, "tensor attribute '" + name + "' has " + std::to_string(bytes.size()) +
                                                " bytes, which does not match its type and dims");
    a.t->set_owned(std::vector<uint8_t>(bytes.begin(), bytes.end()));
  } else {
    throw Error(ErrorKind::kInvalidModel, "attribute '" + name + "' has unknown kind '" + kind + "'");
  }
  return a;
}

}  // namespace

namespace irforge::bindings {

void register_builder(py::module_& m) {
  py::class_<Graph, std::unique_ptr<Graph, py::nodelete>>(m, "BuilderGraph")
      .def_property_readonly("name", &Graph::name);
  py::class_<Value, std::unique_ptr<Value, py::nodelete>>(m, "BuilderValue")
      .def_property_readonly("name", &Value::name)
      .def_property_readonly("elem_type", [](const Value& v) { return static_cast<int>(v.type().elem_type); });

  py::class_<PyBuilder>(m, "Builder")
      .def(py::init<const std::string&>(), py::arg("source"))
      .def_property_readonly("main_graph", [](PyBuilder& b) { return &b.get().main_graph(); },
                             py::return_value_policy::reference_internal)
      .def(
          "input",
          [](PyBuilder& b, const std::string& name, int elem_type, py::object dims, py::object graph) {
            Type t = dims.is_none() ? Type::tensor(static_cast<DataType>(elem_type))
                                    : Type::tensor(static_cast<DataType>(elem_type), shape_from_py(dims));
            return b.get().input(graph_of(b, graph), name, std::move(t));
          },
          py::arg("name"), py::arg("elem_type"), py::arg("dims"), py::arg("graph") = py::none(),
          py::return_value_policy::reference_internal)
      .def(
          "constant_buffer",
          [](PyBuilder& b, const std::string& name, int elem_type, std::vector<int64_t> dims, py::object buffer,
             size_t offset, py::object graph) {
            auto storage = std::make_shared<PyBufferStorage>(buffer);
            return b.get().constant(graph_of(b, graph), name, static_cast<DataType>(elem_type), std::move(dims), storage, offset);
          },
          py::arg("name"), py::arg("elem_type"), py::arg("dims"), py::arg("buffer"), py::arg("offset") = 0,
          py::arg("graph") = py::none(), py::return_value_policy::reference_internal)
      .def(
          "constant_file",
          [](PyBuilder& b, const std::string& name, int elem_type, std::vector<int64_t> dims, const std::string& path,
             size_t offset, py::object graph) {
            return b.get().constant(graph_of(b, graph), name, static_cast<DataType>(elem_type), std::move(dims), b.map_file(path), offset);
          },
          py::arg("name"), py::arg("elem_type"), py::arg("dims"), py::arg("path"), py::arg("offset") = 0,
          py::arg("graph") = py::none(), py::return_value_policy::reference_internal)
      .def(
          "constant_safetensors",
          [](PyBuilder& b, const std::string& name, const safetensors::Checkpoint& ckpt, const std::string& tensor, py::object graph) {
            const auto* e = ckpt.find(tensor);
            if (!e) throw Error(ErrorKind::kInvalidModel, ckpt.folder() + ": the checkpoint has no tensor '" + tensor + "'");
            return b.get().constant(graph_of(b, graph), name, e->info->dtype, e->info->dims, e->file->storage(), e->info->offset);
          },
          py::arg("name"), py::arg("checkpoint"), py::arg("tensor"), py::arg("graph") = py::none(),
          py::keep_alive<1, 3>(), py::return_value_policy::reference_internal)
      .def(
          "node",
          [](PyBuilder& b, const std::string& op_type, std::vector<Value*> inputs, py::dict attrs, size_t n_outputs,
             const std::string& domain, const std::string& name, std::vector<std::string> output_names, py::object graph) {
            Graph& g = graph_of(b, graph);
            std::vector<Attribute> list;
            for (auto [k, v] : attrs) list.push_back(attribute_from_py(b, k.cast<std::string>(), v.cast<py::tuple>()));
            return b.get().node(g, op_type, inputs, std::move(list), n_outputs, domain, name, output_names);
          },
          py::arg("op_type"), py::arg("inputs"), py::arg("attrs"), py::arg("n_outputs") = 1, py::arg("domain") = "",
          py::arg("name") = "", py::arg("output_names") = std::vector<std::string>{}, py::arg("graph") = py::none(),
          py::return_value_policy::reference_internal)
      .def(
          "output",
          [](PyBuilder& b, Value* v, const std::string& name, py::object graph) { return b.get().output(graph_of(b, graph), v, name); },
          py::arg("value"), py::arg("name") = "", py::arg("graph") = py::none(), py::return_value_policy::reference_internal)
      .def(
          "set_type",
          [](PyBuilder& b, Value* v, int elem_type, py::object dims) {
            b.get();
            v->set_type(dims.is_none() ? Type::tensor(static_cast<DataType>(elem_type))
                                       : Type::tensor(static_cast<DataType>(elem_type), shape_from_py(dims)));
          },
          py::arg("value"), py::arg("elem_type"), py::arg("dims"))
      .def(
          "subgraph",
          [](PyBuilder& b, const std::string& name, py::object parent) { return b.get().new_subgraph(graph_of(b, parent), name); },
          py::arg("name"), py::arg("parent") = py::none(), py::return_value_policy::reference_internal)
      .def("set_opset", [](PyBuilder& b, const std::string& domain, int64_t version) { b.get().set_opset(domain, version); },
           py::arg("domain"), py::arg("version"))
      .def("finish", [](PyBuilder& b) {
        std::unique_ptr<Model> model;
        {
          // Sorting and verifying a big graph takes a while; no Python object is touched.
          py::gil_scoped_release release;
          model = b.get().finish();
        }
        b.builder.reset();
        b.mapped_files.clear();
        return std::shared_ptr<Model>(std::move(model));
      });

  m.def(
      "constant_data_address",
      [](const Model& model, const std::string& name) -> py::object {
        for (const Value* v : model.graph->initializers())
          if (v->name() == name && v->initializer() && v->initializer()->data())
            return py::int_(reinterpret_cast<uintptr_t>(v->initializer()->data()));
        return py::none();
      },
      py::arg("model"), py::arg("name"), "Address of a constant's bytes (tests check that weights were not copied).");
  m.def(
      "constant_is_mapped",
      [](const Model& model, const std::string& name) {
        for (const Value* v : model.graph->initializers())
          if (v->name() == name && v->initializer()) return v->initializer()->is_mapped();
        return false;
      },
      py::arg("model"), py::arg("name"), "Whether a constant's bytes are a view of a memory-mapped file.");
}

}  // namespace irforge::bindings
