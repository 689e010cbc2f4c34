// Python bindings of the C++ readers of the original Model Optimizer's frameworks (Caffe's
// prototxt + caffemodel, MXNet's symbol JSON + params, Kaldi nnet1/nnet3); file work runs without the GIL.
#include <pybind11/pybind11.h>

#include "bindings/file_readers_binding.h"
#include "io/caffe/reader.h"
#include "io/kaldi/reader.h"
#include "io/mxnet/reader.h"

namespace py = pybind11;

namespace irforge::bindings {

void register_file_readers(py::module_& m) {
  m.def(
      "read_caffe",
      [](const std::string& prototxt, const std::string& caffemodel, const std::string& mean_file) {
        std::shared_ptr<Model> model;
        {
          py::gil_scoped_release release;
          model = read_caffe_files(prototxt, caffemodel, mean_file);
        }
        return model;
      },
      py::arg("prototxt"), py::arg("caffemodel") = "", py::arg("mean_file") = "",
      "Reads a Caffe net (.prototxt) with its weights (.caffemodel; empty: none) and optional mean image (.binaryproto).");
  m.def(
      "read_mxnet",
      [](const std::string& symbol, const std::string& params) {
        std::shared_ptr<Model> model;
        {
          py::gil_scoped_release release;
          model = read_mxnet_files(symbol, params);
        }
        return model;
      },
      py::arg("symbol"), py::arg("params") = "",
      "Reads an MXNet symbol (-symbol.json) with its parameters (.params; empty: none).");
  m.def(
      "read_kaldi",
      [](const std::string& path, bool remove_output_softmax, const std::string& counts) {
        std::shared_ptr<Model> model;
        {
          py::gil_scoped_release release;
          KaldiOptions options;
          options.remove_output_softmax = remove_output_softmax;
          options.counts_path = counts;
          model = read_kaldi_file(path, options);
        }
        return model;
      },
      py::arg("path"), py::arg("remove_output_softmax") = false, py::arg("counts") = "",
      "Reads a Kaldi nnet1 or nnet3 model (text or binary; an nnet3 .mdl without its transition model); counts: mo's --counts file (empty: none).");
}

}  // namespace irforge::bindings
