#include "ir/printer.h"

#include <sstream>

namespace irforge {

namespace {

std::string value_name(const Value* v) { return v ? v->name() : std::string(); }

void print_attribute(std::ostringstream& os, const Attribute& a, int indent) {
  os << a.name << ": ";
  if (!a.ref_attr_name.empty()) {
    os << "@" << a.ref_attr_name;
    return;
  }
  auto list = [&](const auto& v, auto fmt) {
    os << "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) os << ", ";
      if (i == 16 && v.size() > 20) {
        os << "... (" << v.size() << " items)";
        break;
      }
      fmt(v[i]);
    }
    os << "]";
  };
  switch (a.kind) {
    case AttrKind::kFloat: os << a.f; break;
    case AttrKind::kInt: os << a.i; break;
    case AttrKind::kString: os << '"' << a.s << '"'; break;
    case AttrKind::kFloats: list(a.floats, [&](float f) { os << f; }); break;
    case AttrKind::kInts: list(a.ints, [&](int64_t i) { os << i; }); break;
    case AttrKind::kStrings: list(a.strings, [&](const std::string& s) { os << '"' << s << '"'; }); break;
    case AttrKind::kTensor: {
      std::string dims;
      for (size_t i = 0; i < a.t->dims().size(); ++i) dims += (i ? "," : "") + std::to_string(a.t->dims()[i]);
      os << "tensor(" << dtype_name(a.t->dtype()) << "[" << dims << "])";
      break;
    }
    case AttrKind::kGraph: os << "graph {\n" << print_graph(*a.g, indent + 4) << std::string(indent + 2, ' ') << "}"; break;
    case AttrKind::kGraphs:
      os << "graphs(" << a.graphs.size() << ")";
      break;
    case AttrKind::kTensors: os << "tensors(" << a.tensors.size() << ")"; break;
    case AttrKind::kSparseTensor: os << "sparse_tensor"; break;
    case AttrKind::kTypeProto: os << (a.tp ? type_to_string(*a.tp) : "?"); break;
    default: os << "<" << static_cast<int>(a.kind) << ">";
  }
}

}  // namespace

std::string print_graph(const Graph& g, int indent) {
  std::ostringstream os;
  std::string pad(indent, ' ');
  os << pad << g.name() << " (";
  for (size_t i = 0; i < g.inputs().size(); ++i)
    os << (i ? ", " : "") << type_to_string(g.inputs()[i]->type()) << " " << g.inputs()[i]->name();
  os << ") => (";
  for (size_t i = 0; i < g.outputs().size(); ++i)
    os << (i ? ", " : "") << type_to_string(g.outputs()[i]->type()) << " " << g.outputs()[i]->name();
  os << ")\n";
  for (const Value* v : g.initializers()) {
    if (v->is_graph_input()) continue;
    os << pad << "  " << type_to_string(v->type()) << " " << v->name() << " = <initializer>\n";
  }
  for (const auto& n : g.nodes()) {
    os << pad << "  ";
    for (size_t k = 0; k < n->num_outputs(); ++k) os << (k ? ", " : "") << n->output(k)->name();
    os << " = " << (n->domain().empty() ? "" : n->domain() + ".") << n->op_type();
    if (!n->attributes().empty()) {
      os << " <";
      for (size_t i = 0; i < n->attributes().size(); ++i) {
        if (i) os << ", ";
        print_attribute(os, n->attributes()[i], indent);
      }
      os << ">";
    }
    os << " (";
    for (size_t i = 0; i < n->inputs().size(); ++i) os << (i ? ", " : "") << value_name(n->inputs()[i]);
    os << ")\n";
  }
  return os.str();
}

std::string print_model(const Model& m) {
  std::ostringstream os;
  os << "<ir_version: " << m.ir_version << ", opset_import: [";
  for (size_t i = 0; i < m.opset_imports.size(); ++i)
    os << (i ? ", " : "") << '"' << m.opset_imports[i].domain << "\": " << m.opset_imports[i].version;
  os << "]";
  if (!m.producer_name.empty()) os << ", producer_name: \"" << m.producer_name << '"';
  os << ">\n";
  if (m.graph) os << print_graph(*m.graph);
  for (const auto& f : m.functions) os << "function " << f.domain << "." << f.name << ":\n" << print_graph(*f.body, 2);
  return os.str();
}

}  // namespace irforge
