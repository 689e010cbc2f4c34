// Python binding of the Paddle reader (irforge._core.pd_*): a decoded program (legacy
// ProgramDesc or PIR JSON) as plain Python objects, and the parameter file's offset table.
// Tensor bytes do not cross into Python: a parameter is (dtype, dims, offset), and the frontend
// makes it a constant viewing the mapped file (Builder.constant_from_file).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/builder_binding.h"
#include "bindings/decode_mapped_file.h"
#include "io/paddle/params.h"
#include "io/paddle/program.h"

namespace py = pybind11;
using namespace irforge;
using namespace irforge::paddle;

namespace {

py::object attr_to_py(const PdAttr& a) {
  switch (a.kind) {
    case PdAttr::kInt: case PdAttr::kLong: return py::int_(a.i);
    case PdAttr::kBoolean: return py::bool_(a.i != 0);
    case PdAttr::kFloat: case PdAttr::kFloat64: case PdAttr::kScalar: return py::float_(a.f);
    case PdAttr::kString: case PdAttr::kVar: return py::str(a.s);
    case PdAttr::kInts: case PdAttr::kLongs: case PdAttr::kBlocks: return py::cast(a.ints);
    case PdAttr::kBooleans: {
      py::list l;
      for (int64_t v : a.ints) l.append(py::bool_(v != 0));
      return l;
    }
    case PdAttr::kFloats: case PdAttr::kFloat64s: case PdAttr::kScalars: return py::cast(a.floats);
    case PdAttr::kStrings: case PdAttr::kVars: return py::cast(a.strings);
    case PdAttr::kBlock: return py::make_tuple("block", a.i);
    default: return py::none();
  }
}

py::list args_to_py(const std::vector<PdArg>& args) {
  py::list l;
  for (const auto& a : args) l.append(py::make_tuple(a.parameter, a.arguments));
  return l;
}

py::dict program_to_py(const PdProgram& p) {
  py::dict d;
  d["pir"] = p.pir;
  d["version"] = p.version;
  py::list blocks;
  for (const auto& b : p.blocks) {
    py::dict bd;
    bd["idx"] = b.idx;
    bd["parent"] = b.parent;
    bd["args"] = b.args;
    py::dict vars;
    for (const auto& v : b.vars) vars[py::str(v.name)] = py::make_tuple(v.type, v.dtype, v.dims, v.persistable);
    bd["vars"] = vars;
    py::list ops;
    for (const auto& op : b.ops) {
      py::dict od;
      od["type"] = op.type;
      od["inputs"] = args_to_py(op.inputs);
      od["outputs"] = args_to_py(op.outputs);
      py::dict attrs;
      for (const auto& a : op.attrs) attrs[py::str(a.name)] = attr_to_py(a);
      od["attrs"] = attrs;
      od["blocks"] = op.region_blocks;
      ops.append(od);
    }
    bd["ops"] = ops;
    blocks.append(bd);
  }
  d["blocks"] = blocks;
  return d;
}

}  // namespace

namespace irforge::bindings {

void register_paddle(py::module_& m) {
  auto program = [](const PdProgram& p, const uint8_t*) { return program_to_py(p); };
  m.def(
      "pd_read_program",
      [program](const std::string& path) { return decode_mapped_file(path, decode_program_desc, program); },
      py::arg("path"), "Decodes a legacy Paddle ProgramDesc (.pdmodel or __model__).");
  m.def(
      "pd_read_pir",
      [program](const std::string& path) {
        auto decode = [](const uint8_t* data, size_t size, const std::string& path) {
          return decode_pir_json(std::string_view(reinterpret_cast<const char*>(data), size), path);
        };
        return decode_mapped_file(path, decode, program);
      },
      py::arg("path"), "Decodes a Paddle PIR JSON program (.json).");
  m.def(
      "pd_scan_params",
      [](const std::string& path, const std::vector<std::string>& names) {
        auto decode = [&names](const uint8_t* data, size_t size, const std::string& path) { return scan_params(data, size, names, path); };
        return decode_mapped_file(path, decode, [](const std::vector<PdParam>& params, const uint8_t*) {
          py::list out;
          for (const auto& p : params) out.append(py::make_tuple(p.name, p.dtype, p.dims, p.offset, p.nbytes));
          return out;
        });
      },
      py::arg("path"), py::arg("names"),
      "(name, dtype, dims, offset, nbytes) of each tensor of a Paddle parameter file, named in order.");
}

}  // namespace irforge::bindings
