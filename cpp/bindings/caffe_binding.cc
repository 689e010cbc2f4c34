// Python binding of the Caffe reader (irforge._core.read_caffe); the file work runs without the GIL.
#include <pybind11/pybind11.h>

#include "bindings/caffe_binding.h"
#include "io/caffe/reader.h"

namespace py = pybind11;

namespace irforge::bindings {

void register_caffe(py::module_& m) {
  m.def(
      "read_caffe",
      [](const std::string& prototxt, const std::string& caffemodel) {
        std::shared_ptr<Model> model;
        {
          py::gil_scoped_release release;
          model = read_caffe_files(prototxt, caffemodel);
        }
        return model;
      },
      py::arg("prototxt"), py::arg("caffemodel") = "",
      "Reads a Caffe net (.prototxt) with its weights (.caffemodel; empty: none).");
}

}  // namespace irforge::bindings
