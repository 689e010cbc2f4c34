// The only file that includes pybind11: exposes the C++ core as irforge._core. Long calls
// (reading, writing) release the GIL; Python objects keep their C++ owners alive.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "bindings/builder_binding.h"
#include "bindings/file_readers_binding.h"
#include "io/onnx/reader.h"
#include "io/tflite/reader.h"
#include "io/onnx/writer.h"
#include "io/openvino/lowering.h"
#include "io/openvino/custom_layers.h"
#include "io/openvino/writer.h"
#include "ir/printer.h"
#include "ir/clone.h"
#include "passes/legalize/onnx_output.h"
#include "passes/legalize/expand_fused_ops.h"
#include "passes/freeze/apply_inputs.h"
#include "passes/edit/cut_graph.h"
#include "passes/edit/preprocess.h"
#include "passes/pass_manager.h"
#include "passes/quant/compress_weights.h"
#include "passes/registry.h"
#include "ir/validate_ops.h"
#include "ir/verifier.h"
#include "support/parallel.h"
#include "support/error.h"
#include "support/exception_text.h"
#include "support/usage_error.h"
#include <regex>

namespace py = pybind11;
using namespace irforge;

namespace {

py::object dims_to_py(const std::optional<Shape>& shape) {
  if (!shape) return py::none();
  py::list out;
  for (const Dim& d : *shape) {
    if (d.kind == Dim::Kind::kValue) out.append(d.value);
    else if (d.kind == Dim::Kind::kParam) out.append(d.param);
    else out.append(py::none());
  }
  return out;
}

py::dict value_to_py(const Value* v) {
  py::dict d;
  d["name"] = v->name();
  d["kind"] = static_cast<int>(v->type().kind);
  d["elem_type"] = static_cast<int>(v->type().elem_type);
  d["shape"] = dims_to_py(v->type().shape);
  d["type"] = type_to_string(v->type());
  return d;
}

void count_ops(const Graph& g, std::map<std::string, int64_t>& hist) {
  for (const auto& n : g.nodes()) {
    std::string key = n->domain().empty() ? n->op_type() : n->domain() + "::" + n->op_type();
    ++hist[key];
    for (Graph* sub : n->subgraphs()) count_ops(*sub, hist);
  }
}

struct WeightStats {
  uint64_t bytes = 0;
  uint64_t count = 0;
};

void count_weights(const Graph& g, WeightStats& s) {
  for (const Value* v : g.initializers()) {
    ++s.count;
    if (v->initializer()) s.bytes += v->initializer()->nbytes();
    if (v->sparse_initializer()) s.bytes += v->sparse_initializer()->values.nbytes() + v->sparse_initializer()->indices.nbytes();
  }
  for (const auto& n : g.nodes()) {
    for (const auto& a : n->attributes()) {
      if (a.t) {
        ++s.count;
        s.bytes += a.t->nbytes();
      }
    }
    for (Graph* sub : n->subgraphs()) count_weights(*sub, s);
  }
}

// Wraps a Python progress callback so it can be called from a GIL-released C++ loop; it also
// lets Ctrl-C interrupt a long write (the writer then removes its temporary files).
std::function<void(uint64_t, uint64_t)> wrap_progress(py::object cb) {
  if (cb.is_none()) {
    return [](uint64_t, uint64_t) {
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    };
  }
  return [cb](uint64_t done, uint64_t total) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    cb(done, total);
  };
}

// A pass written in Python (irforge.register_pass): the model goes to `fn` as ONNX bytes and
// comes back as ONNX bytes (or None: unchanged). The callable is held as a raw reference so the
// pass can be created and copied without the GIL (the pass manager runs without it).
class PythonPass : public passes::Pass {
 public:
  PythonPass(std::string name, std::string summary, std::shared_ptr<PyObject> fn)
      : name_(std::move(name)), summary_(std::move(summary)), fn_(std::move(fn)) {}
  const char* name() const override { return name_.c_str(); }
  const char* summary() const override { return summary_.c_str(); }
  passes::PassResult run(Model& model, const passes::PassOptions&) override {
    std::string before = write_onnx_bytes(model), after;
    {
      py::gil_scoped_acquire gil;
      py::object out = py::reinterpret_borrow<py::object>(fn_.get())(py::bytes(before));
      if (out.is_none()) return {};
      after = out.cast<std::string>();
    }
    if (after == before) return {};
    auto storage = std::make_shared<OwnedStorage>(std::vector<uint8_t>(after.begin(), after.end()));
    std::unique_ptr<Model> result = read_onnx_bytes(storage, "", "<output of pass '" + name_ + "'>");
    std::string source = model.source_path;
    model = std::move(*result);
    model.source_path = source;
    return {true, 1};
  }

 private:
  std::string name_, summary_;
  std::shared_ptr<PyObject> fn_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "irforge C++ core";

  static py::exception<Error> conversion_error(m, "ConversionError");
  static py::exception<Error> invalid_model(m, "InvalidModelError", conversion_error.ptr());
  static py::exception<Error> file_error(m, "ModelFileError", conversion_error.ptr());
  static py::exception<Error> unsupported(m, "UnsupportedError", conversion_error.ptr());
  static py::exception<Error> resource_limit(m, "ResourceLimitError", conversion_error.ptr());
  static py::exception<Error> internal(m, "InternalError", conversion_error.ptr());
  // Also a ValueError, so `except ValueError` written against earlier versions still works.
  static py::exception<UsageError> usage(m, "UsageError", py::make_tuple(conversion_error, py::handle(PyExc_ValueError)));
  static const std::string report_line = "This is a bug in irforge " +
                                         py::module_::import("irforge._version").attr("__version__").cast<std::string>() +
                                         ": please report it with this message and the model (or the steps) that cause it.";
  // Every C++ failure leaves as a ConversionError subclass; only Python exceptions (raised by
  // user callbacks and passes, or KeyboardInterrupt) and pybind11's deliberate ones pass through.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const py::error_already_set&) {
      throw;
    } catch (const py::cast_error& e) {
      // A private binding was handed a Python object of the wrong type.
      py::set_error(PyExc_TypeError, (std::string("irforge: wrong argument type: ") + e.what()).c_str());
    } catch (const py::builtin_exception&) {
      throw;
    } catch (const UsageError& e) {
      py::set_error(usage, e.what());
    } catch (const Error& e) {
      switch (e.kind()) {
        case ErrorKind::kInvalidModel: py::set_error(invalid_model, e.what()); break;
        case ErrorKind::kFile: py::set_error(file_error, e.what()); break;
        case ErrorKind::kUnsupported: py::set_error(unsupported, e.what()); break;
        case ErrorKind::kResourceLimit: py::set_error(resource_limit, e.what()); break;
        case ErrorKind::kInternal: py::set_error(internal, (std::string(e.what()) + "\n" + report_line).c_str()); break;
        default: py::set_error(internal, ("error of unknown kind: " + std::string(e.what()) + "\n" + report_line).c_str()); break;
      }
    } catch (const std::bad_alloc&) {
      py::set_error(resource_limit, "out of memory while converting the model");
    } catch (const std::exception& e) {
      py::set_error(internal, ("internal error: " + exception_text(e) + "\n" + report_line).c_str());
    } catch (...) {
      py::set_error(internal, ("internal error: an exception of unknown type\n" + report_line).c_str());
    }
  });

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def_readonly("ir_version", &Model::ir_version)
      .def_readonly("producer_name", &Model::producer_name)
      .def_readonly("producer_version", &Model::producer_version)
      .def_readonly("source_path", &Model::source_path)
      .def_property_readonly("opset_imports",
                             [](const Model& self) {
                               py::dict d;
                               for (const auto& o : self.opset_imports) d[py::str(o.domain)] = o.version;
                               return d;
                             })
      .def_property_readonly("graph_name", [](const Model& self) { return self.graph->name(); })
      .def("inputs",
           [](const Model& self) {
             py::list out;
             for (const Value* v : self.graph->inputs())
               if (!v->initializer()) out.append(value_to_py(v));
             return out;
           })
      .def("outputs",
           [](const Model& self) {
             py::list out;
             for (const Value* v : self.graph->outputs()) out.append(value_to_py(v));
             return out;
           })
      .def("op_histogram",
           [](const Model& self) {
             std::map<std::string, int64_t> hist;
             count_ops(*self.graph, hist);
             return hist;
           })
      .def("node_count",
           [](const Model& self) {
             std::map<std::string, int64_t> hist;
             count_ops(*self.graph, hist);
             int64_t n = 0;
             for (auto& [k, c] : hist) n += c;
             return n;
           })
      .def("weight_stats",
           [](const Model& self) {
             WeightStats s;
             count_weights(*self.graph, s);
             return py::make_tuple(s.count, s.bytes);
           })
      .def("function_names",
           [](const Model& self) {
             std::vector<std::string> names;
             for (const auto& f : self.functions) names.push_back(f.domain.empty() ? f.name : f.domain + "::" + f.name);
             return names;
           })
      .def("dump", [](const Model& self) { return print_model(self); })
      .def("verify", [](const Model& self) { return verify(self); })
      .def(
          "save_onnx",
          [](const Model& self, const std::string& path, const std::string& external_data, uint64_t size_threshold,
             const std::string& data_location, py::object progress, int64_t target_opset) {
            OnnxWriteOptions opts;
            if (external_data == "auto") opts.external_data = OnnxWriteOptions::ExternalData::kAuto;
            else if (external_data == "always") opts.external_data = OnnxWriteOptions::ExternalData::kAlways;
            else if (external_data == "never") opts.external_data = OnnxWriteOptions::ExternalData::kNever;
            else fail_usage("external_data must be 'auto', 'always' or 'never', not '" + external_data + "'");
            opts.size_threshold = size_threshold;
            opts.data_location = data_location;
            opts.progress = wrap_progress(progress);
            py::gil_scoped_release release;
            // Fused ops newer than the output opset are expanded in a copy; `self` stays as it is.
            auto legal = passes::legalize_for_onnx(self, target_opset);
            write_onnx_file(legal ? *legal : self, path, opts);
          },
          py::arg("path"), py::arg("external_data") = "auto", py::arg("size_threshold") = 1024,
          py::arg("data_location") = "", py::arg("progress") = py::none(), py::arg("target_opset") = 0)
      .def(
          "save_openvino",
          [](const Model& self, const std::string& xml_path, bool compress_to_fp16,
             const std::vector<std::pair<std::string, std::string>>& rt_info, py::object progress) {
            OvWriteOptions opts;
            opts.compress_to_fp16 = compress_to_fp16;
            opts.rt_info = rt_info;
            opts.progress = wrap_progress(progress);
            OvWriteStats st;
            {
              py::gil_scoped_release release;
              st = write_openvino(self, xml_path, opts);
            }
            py::dict d;
            d["layers"] = st.layers;
            d["constants"] = st.constants;
            d["deduplicated"] = st.deduplicated;
            d["compressed"] = st.compressed;
            d["kept_f32"] = st.kept_f32;
            d["bin_bytes"] = st.bin_bytes;
            return d;
          },
          py::arg("xml_path"), py::arg("compress_to_fp16") = true, py::arg("rt_info") = std::vector<std::pair<std::string, std::string>>{},
          py::arg("progress") = py::none())
      .def(
          "to_onnx_bytes",
          [](const Model& self, int64_t target_opset) {
            std::string out;
            {
              py::gil_scoped_release release;
              auto legal = passes::legalize_for_onnx(self, target_opset);
              out = write_onnx_bytes(legal ? *legal : self);
            }
            return py::bytes(out);
          },
          py::arg("target_opset") = 0)
      .def("copy", [](const Model& self) { return std::shared_ptr<Model>(clone_model(self)); });

  m.def(
      "run_passes",
      [](Model& model, const std::string& pipeline, bool verify, const std::string& dump_after, py::object dump_cb,
         uint64_t fold_size_limit, int64_t target_opset) {
        passes::PipelineOptions opts;
        opts.verify = verify;
        opts.pass.fold_size_limit = fold_size_limit;
        opts.pass.target_opset = target_opset;
        if (!dump_after.empty() && !dump_cb.is_none()) {
          opts.after_pass = [&](const std::string& name, const Model& m) {
            if (name != dump_after) return;
            std::string text = print_model(m);
            py::gil_scoped_acquire gil;
            dump_cb(name, text);
          };
        }
        std::vector<passes::PassRun> runs;
        {
          py::gil_scoped_release release;
          runs = passes::run_pipeline(model, pipeline, opts);
        }
        py::list out;
        for (const auto& r : runs) {
          py::dict d;
          d["name"] = r.name;
          d["seconds"] = r.seconds;
          d["changed"] = r.changed;
          d["rewrites"] = r.rewrites;
          d["nodes_before"] = r.nodes_before;
          d["nodes_after"] = r.nodes_after;
          out.append(d);
        }
        return out;
      },
      py::arg("model"), py::arg("pipeline"), py::arg("verify") = false, py::arg("dump_after") = "",
      py::arg("dump_callback") = py::none(), py::arg("fold_size_limit") = uint64_t{1} << 20, py::arg("target_opset") = 0);
  // specs: (name, shape or None (-1 = dynamic dim), ONNX elem type or 0, None or (bytes, elem type, dims)).
  m.def(
      "apply_inputs",
      [](Model& model, const std::vector<py::tuple>& specs) {
        std::vector<passes::InputSpec> out;
        for (const py::tuple& t : specs) {
          passes::InputSpec s;
          s.name = t[0].cast<std::string>();
          if (!t[1].is_none()) {
            Shape shape;
            // A str dim is symbolic: a model's own dim name kept (--batch), or a range "1..8 (x dim 0)".
            for (py::handle d : t[1].cast<py::list>())
              if (py::isinstance<py::str>(d)) shape.push_back(Dim::symbol(d.cast<std::string>()));
              else shape.push_back(d.cast<int64_t>() >= 0 ? Dim::of(d.cast<int64_t>()) : Dim{});
            s.shape = std::move(shape);
          }
          s.type = static_cast<DataType>(t[2].cast<int>());
          if (!t[3].is_none()) {
            py::tuple v = t[3].cast<py::tuple>();
            std::string_view bytes = v[0].cast<py::bytes>();
            auto tensor = std::make_shared<Tensor>(s.name, static_cast<DataType>(v[1].cast<int>()), v[2].cast<std::vector<int64_t>>());
            tensor->set_owned(std::vector<uint8_t>(bytes.begin(), bytes.end()));
            s.value = std::move(tensor);
          }
          out.push_back(std::move(s));
        }
        passes::apply_input_specs(model, out);
      },
      py::arg("model"), py::arg("specs"));
  // cut_inputs: (tensor name, ONNX elem type or 0); keep_inputs: model inputs named too; outputs.
  m.def(
      "cut_graph",
      [](Model& model, const std::vector<std::pair<std::string, int>>& cut_inputs, const std::vector<std::string>& keep_inputs,
         const std::vector<std::string>& outputs, const std::vector<std::string>& input_order) {
        std::vector<passes::CutInput> cuts;
        for (const auto& [name, type] : cut_inputs) cuts.push_back({name, static_cast<DataType>(type)});
        passes::cut_graph(model, cuts, keep_inputs, outputs, input_order);
      },
      py::arg("model"), py::arg("cut_inputs"), py::arg("keep_inputs"), py::arg("outputs"), py::arg("input_order"));
  // specs: (input name, mean values, scale values, reverse channels, channel axis, transpose perm).
  m.def(
      "preprocess_inputs",
      [](Model& model, const std::vector<std::tuple<std::string, std::vector<double>, std::vector<double>, bool, int64_t, std::vector<int64_t>>>& specs) {
        std::vector<passes::PreprocessSpec> out;
        for (const auto& [name, mean, scale, reverse, axis, perm] : specs) out.push_back({name, mean, scale, reverse, axis, perm});
        passes::PreprocessResult r = passes::preprocess_inputs(model, out);
        py::dict d;
        d["folded"] = r.folded;
        d["inserted"] = r.inserted;
        return d;
      },
      py::arg("model"), py::arg("specs"));
  py::class_<passes::CompressResult, std::shared_ptr<passes::CompressResult>>(m, "CompressResult")
      .def_readonly("opset_before", &passes::CompressResult::opset_before)
      .def_readonly("opset_after", &passes::CompressResult::opset_after)
      .def_readonly("onnx_note", &passes::CompressResult::onnx_note)
      .def("weights",
           [](const passes::CompressResult& r) {
             py::list out;
             for (const auto& w : r.weights) {
               py::dict d;
               d["weight"] = w.weight;
               d["node"] = w.node;
               d["op_type"] = w.op_type;
               d["shape"] = w.shape;
               d["mode"] = w.mode;
               d["group_size"] = w.group_size;
               d["reason"] = w.reason;
               d["original_bytes"] = w.original_bytes;
               d["compressed_bytes"] = w.compressed_bytes;
               out.append(d);
             }
             return out;
           })
      .def("relative_error", [](const passes::CompressResult& r, size_t i) {
        if (i >= r.weights.size()) fail_usage("relative_error: no weight #" + std::to_string(i) + "; there are " + std::to_string(r.weights.size()));
        if (!r.weights[i].data) return 0.0;
        py::gil_scoped_release release;
        return passes::relative_error(*r.weights[i].data);
      });
  m.def(
      "compress_weights",
      [](Model& model, const std::string& mode, int64_t group_size, double ratio, bool all_layers, const std::string& backup,
         const std::string& fallback, const std::vector<std::string>& names, const std::vector<std::string>& patterns,
         const std::vector<std::string>& types) {
        passes::CompressOptions o;
        if (!quant::parse_scheme(mode, &o.mode))
          fail_usage("mode must be int8_asym, int8_sym, int4_asym or int4_sym, not '" + mode + "'");
        if (backup == "none") o.backup.reset();
        else if (quant::Scheme b; quant::parse_scheme(backup, &b) && quant::bits(b) == 8) o.backup = b;
        else fail_usage("backup_mode must be int8_asym, int8_sym or none, not '" + backup + "'");
        // The checks the pass itself does not make (NaN passes a range test); the Python API
        // checks the same first, this keeps the binding safe on its own.
        if (group_size == 0 || group_size < -1)
          fail_usage("group_size must be a positive number of weights per group, or -1 (per channel), not " + std::to_string(group_size));
        if (!(ratio >= 0.0 && ratio <= 1.0)) fail_usage("ratio must be within [0, 1], not " + py::repr(py::float_(ratio)).cast<std::string>());
        if (fallback != "adjust" && fallback != "ignore" && fallback != "error")
          fail_usage("group_size_fallback must be 'adjust', 'ignore' or 'error', not '" + fallback + "'");
        for (const std::string& pattern : patterns) {
          try {
            std::regex(pattern, std::regex::ECMAScript);
          } catch (const std::regex_error& e) {
            fail_usage("ignored_scope: '" + pattern + "' is not a valid regular expression (ECMAScript syntax: " + e.what() + ")");
          }
        }
        o.group_size = group_size;
        o.ratio = ratio;
        o.all_layers = all_layers;
        o.group_size_fallback = fallback;
        o.ignored_names = names;
        o.ignored_patterns = patterns;
        o.ignored_types = types;
        auto result = std::make_shared<passes::CompressResult>();
        {
          py::gil_scoped_release release;
          *result = passes::compress_weights(model, o);
        }
        return result;
      },
      py::arg("model"), py::arg("mode"), py::arg("group_size"), py::arg("ratio"), py::arg("all_layers"), py::arg("backup_mode"),
      py::arg("group_size_fallback"), py::arg("ignored_names"), py::arg("ignored_patterns"), py::arg("ignored_types"));
  m.def("list_passes", []() {
    py::list out;
    for (const auto& p : passes::list_passes()) out.append(py::make_tuple(p.name, p.summary));
    return out;
  });
  m.def(
      "expand_fused_ops", [](Model& model, int64_t opset) { return passes::expand_ops_above_opset(model, opset); }, py::arg("model"),
      py::arg("opset"), "Expands fused ops newer than `opset` into older ops (the step before ONNX output); returns how many.");
  m.def(
      "register_python_pass",
      [](const std::string& name, const std::string& summary, py::function fn) {
        PyObject* raw = fn.inc_ref().ptr();
        std::shared_ptr<PyObject> held(raw, [](PyObject* p) {
          py::gil_scoped_acquire gil;
          Py_DECREF(p);
        });
        passes::register_external_pass(name, summary, [=] { return std::make_unique<PythonPass>(name, summary, held); });
      },
      py::arg("name"), py::arg("summary"), py::arg("fn"));
  m.def("unregister_python_pass", &passes::unregister_external_pass, py::arg("name"));
  m.def("default_pipeline", []() { return std::string(passes::default_pipeline()); });
  m.def(
      "validate_pipeline",
      [](const std::string& text) {
        std::vector<std::string> names;  // the passes it may run, in first-run order
        std::function<void(const std::vector<passes::PipelineStep>&)> walk = [&](const auto& steps) {
          for (const auto& st : steps) {
            if (st.pass.empty()) walk(st.group);
            else if (std::find(names.begin(), names.end(), st.pass) == names.end()) names.push_back(st.pass);
          }
        };
        walk(passes::parse_pipeline(text));
        return names;
      },
      py::arg("text"), "Parses pipeline text (UsageError when it is wrong); returns the names of the passes it may run.");

  // Throws the named C++ exception as a bug deep in the core would, so tests can check that each
  // leaves as the documented irforge exception (the translator above has no other way in).
  m.def(
      "_throw_for_test",
      [](const std::string& what) {
        if (what == "out_of_range") (void)std::string("x").at(5);  // std::out_of_range from the library
        if (what == "length_error") throw std::length_error("vector::reserve");
        if (what == "logic_error") throw std::logic_error("broken invariant");
        if (what == "exception") throw std::exception();
        if (what == "bad_alloc") throw std::bad_alloc();
        if (what == "int") throw 42;
        if (what == "internal") fail(ErrorKind::kInternal, "verifier: value 'v' has no producer");
        if (what == "usage") fail_usage("bad option");
        if (what == "cast") (void)py::str("text").cast<int>();
        fail_usage("_throw_for_test: unknown exception '" + what + "'");
      },
      py::arg("what"));

  m.def("set_num_threads", &set_thread_count, py::arg("n"),
        "Threads for parallel C++ work (n <= 0: IRFORGE_NUM_THREADS or all cores).");
  m.def("get_num_threads", &thread_count);

  m.def("openvino_lowered_ops", []() { return ov::lower_registry().ops(); });
  // Pass-through custom ops (irforge.register_custom_op): the IR layer registry, and the node
  // views the Python shape inference reads and writes (main graph).
  m.def("register_custom_layer", &ov::register_custom_layer, py::arg("domain"), py::arg("op_type"), py::arg("version"));
  m.def("unregister_custom_layer", &ov::unregister_custom_layer, py::arg("domain"), py::arg("op_type"));
  m.def(
      "custom_nodes",
      [](Model& model, const std::string& domain, const std::string& op_type) {
        py::list out;
        if (!model.graph) return out;
        auto shape_of = [](const Type& t) -> py::object {
          if (!t.is_tensor() || !t.shape) return py::none();
          py::list dims;
          for (const Dim& d : *t.shape) dims.append(d.is_static() ? py::object(py::int_(d.value)) : py::object(py::none()));
          return dims;
        };
        for (const auto& n : model.graph->nodes()) {
          if (n->domain() != domain || n->op_type() != op_type) continue;
          py::dict d;
          d["name"] = n->name();
          py::list ins, outs;
          for (Value* v : n->inputs()) {
            if (!v) { ins.append(py::none()); continue; }
            ins.append(py::make_tuple(v->name(), static_cast<int>(v->type().is_tensor() ? v->type().elem_type : DataType::kUndefined), shape_of(v->type())));
          }
          for (size_t k = 0; k < n->num_outputs(); ++k)
            outs.append(py::make_tuple(n->output(k)->name(), static_cast<int>(n->output(k)->type().is_tensor() ? n->output(k)->type().elem_type : DataType::kUndefined)));
          d["inputs"] = ins;
          d["outputs"] = outs;
          py::dict attrs;
          for (const Attribute& a : n->attributes()) {
            switch (a.kind) {
              case AttrKind::kInt: attrs[a.name.c_str()] = a.i; break;
              case AttrKind::kFloat: attrs[a.name.c_str()] = a.f; break;
              case AttrKind::kString: attrs[a.name.c_str()] = py::bytes(a.s); break;
              case AttrKind::kInts: attrs[a.name.c_str()] = a.ints; break;
              case AttrKind::kFloats: attrs[a.name.c_str()] = a.floats; break;
              case AttrKind::kStrings: { py::list l; for (const auto& x : a.strings) l.append(py::bytes(x)); attrs[a.name.c_str()] = l; break; }
              default: break;
            }
          }
          d["attrs"] = attrs;
          out.append(d);
        }
        return out;
      },
      py::arg("model"), py::arg("domain"), py::arg("op_type"));
  m.def(
      "set_value_type",
      [](Model& model, const std::string& name, int elem_type, std::optional<std::vector<std::optional<int64_t>>> shape) {
        if (!model.graph) return;
        for (const auto& n : model.graph->nodes())
          for (size_t k = 0; k < n->num_outputs(); ++k)
            if (n->output(k)->name() == name) {
              Type t = Type::tensor(static_cast<DataType>(elem_type));
              if (shape) {
                Shape s;
                for (const auto& d : *shape) s.push_back(d && *d >= 0 ? Dim::of(*d) : Dim{});
                t.shape = std::move(s);
              }
              n->output(k)->set_type(std::move(t));
              return;
            }
        fail_usage("set_value_type: no node output named '" + name + "'");
      },
      py::arg("model"), py::arg("name"), py::arg("elem_type"), py::arg("shape"));

  // Op-level validation (ir/validate_ops.h); readers already run it, this is for models built
  // or edited in place.
  m.def("validate_ops", [](const Model& model) { validate_ops(model); }, py::arg("model"));
  m.def("op_problems", [](const Model& model) { return op_problems(model); }, py::arg("model"));

  m.def(
      "read_onnx",
      [](const std::string& path) {
        std::shared_ptr<Model> model;
        {
          py::gil_scoped_release release;
          model = read_onnx_file(path);
        }
        return model;
      },
      py::arg("path"));

  m.def(
      "read_onnx_bytes",
      [](py::bytes data, const std::string& base_dir, const std::string& label) {
        std::string_view view = data;  // `data` (immutable) stays referenced by the caller's frame
        std::shared_ptr<Model> model;
        {
          // The copy of a large blob is long too: made without the GIL.
          py::gil_scoped_release release;
          auto storage = std::make_shared<OwnedStorage>(std::vector<uint8_t>(view.begin(), view.end()));
          model = read_onnx_bytes(storage, base_dir, label);
        }
        return model;
      },
      py::arg("data"), py::arg("base_dir") = "", py::arg("label") = "<bytes>");

  // TensorFlow Lite flatbuffers (cpp/io/tflite), memory-mapped.
  m.def(
      "read_tflite",
      [](const std::string& path) {
        std::shared_ptr<Model> model;
        {
          py::gil_scoped_release release;
          model = read_tflite_file(path);
        }
        return model;
      },
      py::arg("path"));

  bindings::register_builder(m);
  bindings::register_safetensors(m);

  bindings::register_file_readers(m);

  bindings::register_tensorflow(m);

  bindings::register_paddle(m);
}
