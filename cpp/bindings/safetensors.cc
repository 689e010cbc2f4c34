// Python binding of the safetensors reader (irforge._core.SafetensorsCheckpoint), used by
// python/irforge/frontends/hf_llm.py. Python sees names, dtypes and dims only; the bytes reach
// the Model through Builder.constant_safetensors, as views of the mapped shards.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/builder_binding.h"
#include "io/safetensors/reader.h"

namespace py = pybind11;
using namespace irforge;

namespace irforge::bindings {

void register_safetensors(py::module_& m) {
  py::class_<safetensors::Checkpoint, std::shared_ptr<safetensors::Checkpoint>>(m, "SafetensorsCheckpoint")
      .def(py::init([](const std::string& folder) {
             py::gil_scoped_release release;
             return safetensors::Checkpoint::open(folder);
           }),
           py::arg("folder"))
      .def_property_readonly("folder", &safetensors::Checkpoint::folder)
      .def(
          "tensors",
          [](const safetensors::Checkpoint& c) {
            // name -> (ONNX element type, dims, shard path)
            py::dict out;
            for (const auto& [name, e] : c.tensors())
              out[py::str(name)] = py::make_tuple(static_cast<int>(e.info->dtype), e.info->dims, e.file->path());
            return out;
          },
          "name -> (ONNX element type, dims, shard path) of every tensor");
  m.def(
      "safetensors_parse_header",
      [](py::bytes data) {
        std::string s = data;
        auto h = safetensors::parse_header(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "<bytes>");
        py::list out;
        for (const auto& t : h.tensors) out.append(py::make_tuple(t.name, static_cast<int>(t.dtype), t.dims, t.offset, t.nbytes));
        return out;
      },
      py::arg("data"), "Parses a safetensors file held in bytes (tests): [(name, dtype, dims, offset, nbytes)].");
}

}  // namespace irforge::bindings
