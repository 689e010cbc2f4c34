#include "io/onnx/reader.h"

#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "io/onnx/wire.h"
#include "ir/validate_ops.h"
#include "support/error.h"

namespace irforge {

namespace {

using wire::Field;
using wire::Reader;

// Names visible in a graph: its own values, then the enclosing graphs' (outer-scope capture).
struct Scope {
  std::unordered_map<std::string, Value*> names;
  const Scope* parent = nullptr;
  Value* find(const std::string& n) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->names.find(n);
      if (it != s->names.end()) return it->second;
    }
    return nullptr;
  }
};

struct ValueInfo {
  std::string name, doc_string;
  Type type;
  StringPairs metadata;
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// Decoded-but-unconverted typed data of a TensorProto (fields may come in any order).
struct TypedData {
  std::vector<float> floats;
  std::vector<int32_t> int32s;
  std::vector<int64_t> int64s;
  std::vector<double> doubles;
  std::vector<uint64_t> uint64s;
  bool any() const { return !floats.empty() || !int32s.empty() || !int64s.empty() || !doubles.empty() || !uint64s.empty(); }
};

class OnnxReader {
 public:
  OnnxReader(std::shared_ptr<const Storage> storage, std::string base_dir, std::string label, ReadLimits limits)
      : storage_(std::move(storage)), base_dir_(std::move(base_dir)), label_(std::move(label)), limits_(limits) {}

  std::unique_ptr<Model> read() {
    auto model = std::make_unique<Model>();
    model->source_path = label_;
    try {
      parse_model(*model);
    } catch (const Error& e) {
      throw Error(e.kind(), label_ + ": " + e.what());
    }
    return model;
  }

 private:
  // ---- model ----------------------------------------------------------------------------------
  void parse_model(Model& m) {
    if (storage_->size() == 0) fail_invalid("the file is empty (0 bytes), not an ONNX model");
    Reader r(storage_->data(), storage_->size());
    Field f;
    bool have_graph = false;
    try {
      while (r.next(f)) {
        switch (f.number) {
          case 1: m.ir_version = static_cast<int64_t>(f.varint); check(f, wire::kVarint, "ir_version"); break;
          case 8: m.opset_imports.push_back(parse_opset(f)); break;
          case 2: m.producer_name = str(f, "producer_name"); break;
          case 3: m.producer_version = str(f, "producer_version"); break;
          case 4: m.domain = str(f, "domain"); break;
          case 5: check(f, wire::kVarint, "model_version"); m.model_version = static_cast<int64_t>(f.varint); m.has_model_version = true; break;
          case 6: m.doc_string = str(f, "doc_string"); break;
          case 7:
            check(f, wire::kLengthDelimited, "graph");
            if (have_graph) fail_invalid("model has more than one graph field");
            graph_field_ = f;
            have_graph = true;
            break;
          case 14: m.metadata_props.push_back(parse_string_pair(f)); break;
          case 25: function_fields_.push_back(f); break;
          default: m.unknown_fields += f.raw();
        }
      }
    } catch (const Error& e) {
      // The outermost message does not parse: the file is cut short, damaged, or not ONNX.
      throw Error(e.kind(), std::string("not an ONNX model, or a truncated or damaged one") +
                                (looks_like_text() ? " (the file looks like text)" : "") + ": " + e.what());
    }
    if (!have_graph) fail_invalid("not an ONNX model: no graph found (is this a .onnx file?)");
    if (m.ir_version <= 0) fail_invalid("not an ONNX model: missing or invalid ir_version");
    m.graph = std::make_unique<Graph>();
    parse_graph(graph_field_, *m.graph, nullptr, "graph", 0);
    for (const Field& ff : function_fields_) {
      m.functions.emplace_back();
      parse_function(ff, m.functions.back());
    }
  }

  bool looks_like_text() const {
    size_t n = std::min<size_t>(storage_->size(), 256);
    for (size_t k = 0; k < n; ++k) {
      uint8_t c = storage_->data()[k];
      if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
      if (c == 0x7f) return false;
    }
    return n > 0;
  }

  OpsetImport parse_opset(const Field& f) {
    check(f, wire::kLengthDelimited, "opset_import");
    OpsetImport o;
    Reader r(f);
    Field g;
    while (r.next(g)) {
      if (g.number == 1) o.domain = str(g, "opset_import.domain");
      else if (g.number == 2) { check(g, wire::kVarint, "opset_import.version"); o.version = static_cast<int64_t>(g.varint); }
    }
    return o;
  }

  std::pair<std::string, std::string> parse_string_pair(const Field& f) {
    check(f, wire::kLengthDelimited, "string entry");
    std::pair<std::string, std::string> p;
    Reader r(f);
    Field g;
    while (r.next(g)) {
      if (g.number == 1) p.first = str(g, "key");
      else if (g.number == 2) p.second = str(g, "value");
    }
    return p;
  }

  // ---- graphs ---------------------------------------------------------------------------------
  void parse_graph(const Field& gf, Graph& graph, const Scope* parent, const std::string& where, int depth) {
    if (depth > limits_.max_graph_depth)
      fail(ErrorKind::kResourceLimit, where + ": subgraphs nested deeper than " + std::to_string(limits_.max_graph_depth) + " levels");
    std::vector<Field> node_fields;
    std::vector<ValueInfo> inputs, outputs, value_infos;
    std::vector<std::shared_ptr<Tensor>> initializers;
    std::vector<std::shared_ptr<SparseTensor>> sparse_initializers;
    Reader r(gf);
    Field f;
    while (r.next(f)) {
      switch (f.number) {
        case 1: check(f, wire::kLengthDelimited, "node"); count_entry(nodes_seen_, "nodes", where); node_fields.push_back(f); break;
        case 2: graph.set_name(str(f, "graph name")); break;
        case 5: count_entry(tensors_seen_, "initializers", where); initializers.push_back(parse_tensor(f, where + " initializer")); break;
        case 15: sparse_initializers.push_back(parse_sparse(f, where + " sparse initializer")); break;
        case 10: graph.doc_string() = str(f, "doc_string"); break;
        case 11: inputs.push_back(parse_value_info(f)); break;
        case 12: outputs.push_back(parse_value_info(f)); break;
        case 13: value_infos.push_back(parse_value_info(f)); break;
        case 16: graph.metadata_props().push_back(parse_string_pair(f)); break;
        default: graph.unknown_fields() += f.raw();
      }
    }
    const std::string gname = where + (graph.name().empty() ? "" : " " + quoted(graph.name()));

    Scope scope;
    scope.parent = parent;
    auto define = [&](Value* v, const std::string& what) {
      if (v->name().empty()) return;
      auto [it, inserted] = scope.names.emplace(v->name(), v);
      if (!inserted) fail_invalid(gname + ": tensor " + quoted(v->name()) + " is defined twice (" + what + ")");
    };

    for (auto& vi : inputs) {
      Value* v = graph.add_input(vi.name, std::move(vi.type));
      v->doc_string() = std::move(vi.doc_string);
      v->metadata_props() = std::move(vi.metadata);
      define(v, "graph input");
    }
    for (auto& t : initializers) {
      if (t->name().empty()) fail_invalid(gname + ": an initializer has no name");
      auto it = scope.names.find(t->name());
      if (it != scope.names.end() && it->second->is_graph_input() && !it->second->initializer()) {
        graph.set_initializer(it->second, t);  // an input with a default value
      } else {
        define(graph.add_initializer(t), "initializer");
      }
    }
    for (auto& t : sparse_initializers) {
      if (t->values.name().empty()) fail_invalid(gname + ": a sparse initializer has no name");
      define(graph.add_sparse_initializer(t), "sparse initializer");
    }

    // Pass 1: create nodes and their outputs so names resolve regardless of node order.
    struct Pending {
      Node* node;
      std::vector<std::string> inputs;
      std::vector<Field> attributes;
    };
    std::vector<Pending> pending;
    pending.reserve(node_fields.size());
    for (size_t idx = 0; idx < node_fields.size(); ++idx) {
      Pending p;
      p.node = graph.append_node("");
      parse_node_header(node_fields[idx], *p.node, p.inputs, p.attributes, gname, idx);
      for (size_t k = 0; k < p.node->num_outputs(); ++k) {
        Value* out = p.node->output(k);
        // SSA across scopes: a subgraph's node may not redefine a name it can see from outside.
        if (parent && !out->name().empty() && parent->find(out->name()))
          fail_invalid(gname + ": " + p.node->describe() + " output " + quoted(out->name()) +
                       " redefines a tensor of an enclosing graph (names must be unique)");
        define(out, "output of " + p.node->describe());
      }
      pending.push_back(std::move(p));
    }
    // Pass 2: resolve inputs and parse attributes (subgraphs see every name of this graph).
    for (auto& p : pending) {
      Node& n = *p.node;
      for (const std::string& in : p.inputs) {
        if (in.empty()) {
          n.add_input(nullptr);
          continue;
        }
        Value* v = scope.find(in);
        if (!v) fail_invalid(gname + ": " + n.describe() + " uses undefined tensor " + quoted(in));
        n.add_input(v);
      }
      for (const Field& af : p.attributes) {
        n.attributes().emplace_back();
        try {
          parse_attribute(af, n.attributes().back(), &scope, depth);
        } catch (const Error& e) {
          // Name the outer levels only: a path through 64 nested graphs helps nobody.
          if (depth >= kNamedLevels) {
            ++unnamed_levels_;
            throw;
          }
          std::string inner = e.what();
          if (unnamed_levels_ > 0) inner = "(" + std::to_string(unnamed_levels_) + " more nested levels) " + inner;
          unnamed_levels_ = 0;
          throw Error(e.kind(), gname + ": " + n.describe() + ": " + inner);
        }
      }
    }

    for (auto& vi : outputs) {
      Value* v = scope.find(vi.name);
      if (!v) fail_invalid(gname + ": graph output " + quoted(vi.name) + " is not produced by any node, input or initializer");
      merge_value_info(v, vi);
      graph.add_output(v);
    }
    for (auto& vi : value_infos) {
      auto it = scope.names.find(vi.name);
      if (it != scope.names.end()) merge_value_info(it->second, vi);
    }

    Node* cycle = nullptr;
    if (!graph.sort_topologically(&cycle))
      fail_invalid(gname + ": the graph has a cycle through " + cycle->describe());
  }

  static void merge_value_info(Value* v, ValueInfo& vi) {
    if (vi.type.known()) v->set_type(std::move(vi.type));
    if (!vi.doc_string.empty()) v->doc_string() = std::move(vi.doc_string);
    if (!vi.metadata.empty()) v->metadata_props() = std::move(vi.metadata);
  }

  void parse_node_header(const Field& nf, Node& n, std::vector<std::string>& inputs, std::vector<Field>& attrs,
                         const std::string& gname, size_t index) {
    Reader r(nf);
    Field f;
    std::vector<std::string> outputs;
    std::string op_type, domain;
    try {
      while (r.next(f)) {
        switch (f.number) {
          case 1: inputs.push_back(str(f, "node input")); break;
          case 2: outputs.push_back(str(f, "node output")); break;
          case 3: n.set_name(str(f, "node name")); break;
          case 4: op_type = str(f, "op_type"); break;
          case 7: domain = str(f, "domain"); break;
          case 8: n.overload() = str(f, "overload"); break;
          case 5: check(f, wire::kLengthDelimited, "attribute"); attrs.push_back(f); break;
          case 6: n.doc_string() = str(f, "doc_string"); break;
          case 9: n.metadata_props().push_back(parse_string_pair(f)); break;
          default: n.unknown_fields() += f.raw();
        }
      }
    } catch (const Error& e) {
      throw Error(e.kind(), gname + ": node #" + std::to_string(index) + (n.name().empty() ? "" : " " + quoted(n.name())) + ": " + e.what());
    }
    if (domain == "ai.onnx") domain.clear();
    n.set_op_type(op_type);
    n.set_domain(domain);
    if (op_type.empty())
      fail_invalid(gname + ": node #" + std::to_string(index) + (n.name().empty() ? "" : " " + quoted(n.name())) + " has no op_type");
    for (auto& o : outputs) n.add_output(std::move(o));
  }

  ValueInfo parse_value_info(const Field& f) {
    check(f, wire::kLengthDelimited, "value info");
    ValueInfo vi;
    Reader r(f);
    Field g, type_field;
    bool has_type = false;
    while (r.next(g)) {
      switch (g.number) {
        case 1: vi.name = str(g, "value name"); break;
        case 2: check(g, wire::kLengthDelimited, "type"); type_field = g; has_type = true; break;
        case 3: vi.doc_string = str(g, "doc_string"); break;
        case 4: vi.metadata.push_back(parse_string_pair(g)); break;
        default: break;
      }
    }
    if (has_type) {
      try {
        vi.type = parse_type(type_field, 0);  // after the loop, so errors can name the value
      } catch (const Error& e) {
        throw Error(e.kind(), "value " + quoted(vi.name) + ": " + e.what());
      }
    }
    return vi;
  }

  // ---- types ----------------------------------------------------------------------------------
  Type parse_type(const Field& f, int depth) {
    if (depth > limits_.max_type_depth)
      fail(ErrorKind::kResourceLimit, "type nested deeper than " + std::to_string(limits_.max_type_depth) + " levels");
    Type t;
    Reader r(f);
    Field g;
    while (r.next(g)) {
      switch (g.number) {
        case 1: t.kind = Type::Kind::kTensor; parse_tensor_type(g, t); break;
        case 8: t.kind = Type::Kind::kSparseTensor; parse_tensor_type(g, t); break;
        case 4:
        case 9: {
          check(g, wire::kLengthDelimited, "type");
          t.kind = g.number == 4 ? Type::Kind::kSequence : Type::Kind::kOptional;
          Reader rr(g);
          Field h;
          while (rr.next(h))
            if (h.number == 1) { check(h, wire::kLengthDelimited, "elem_type"); t.elem = std::make_shared<Type>(parse_type(h, depth + 1)); }
          break;
        }
        case 5: {
          check(g, wire::kLengthDelimited, "map type");
          t.kind = Type::Kind::kMap;
          Reader rr(g);
          Field h;
          while (rr.next(h)) {
            if (h.number == 1) t.key_type = dtype_of(h.varint);
            else if (h.number == 2) { check(h, wire::kLengthDelimited, "value_type"); t.elem = std::make_shared<Type>(parse_type(h, depth + 1)); }
          }
          break;
        }
        case 7: {
          check(g, wire::kLengthDelimited, "opaque type");
          t.kind = Type::Kind::kOpaque;
          Reader rr(g);
          Field h;
          while (rr.next(h)) {
            if (h.number == 1) t.opaque_domain = str(h, "domain");
            else if (h.number == 2) t.opaque_name = str(h, "name");
          }
          break;
        }
        case 6: t.denotation = str(g, "denotation"); break;
        default: break;
      }
    }
    return t;
  }

  void parse_tensor_type(const Field& f, Type& t) {
    check(f, wire::kLengthDelimited, "tensor type");
    Reader r(f);
    Field g;
    while (r.next(g)) {
      if (g.number == 1) {
        t.elem_type = dtype_of(g.varint);
      } else if (g.number == 2) {
        check(g, wire::kLengthDelimited, "shape");
        Shape shape;
        Reader rs(g);
        Field d;
        while (rs.next(d)) {
          if (d.number != 1) continue;
          check(d, wire::kLengthDelimited, "dim");
          if (static_cast<int64_t>(shape.size()) >= limits_.max_rank)
            fail(ErrorKind::kResourceLimit, "a type has more than " + std::to_string(limits_.max_rank) + " dimensions");
          Dim dim;
          Reader rd(d);
          Field e;
          while (rd.next(e)) {
            if (e.number == 1) {
              // Some exporters write -1 for a dynamic dim (OpenVINO's reader takes it so); any
              // negative size is read as unknown, since the passes size vectors by static dims.
              const auto v = static_cast<int64_t>(e.varint);
              dim.kind = v < 0 ? Dim::Kind::kUnknown : Dim::Kind::kValue;
              dim.value = v < 0 ? 0 : v;
              dim.param.clear();
            }
            else if (e.number == 2) { dim.kind = Dim::Kind::kParam; dim.param = str(e, "dim_param"); }
            else if (e.number == 3) dim.denotation = str(e, "denotation");
          }
          shape.push_back(std::move(dim));
        }
        // A static shape with more elements than any tensor may hold is hostile or corrupt, and
        // its element count would overflow the arithmetic of shape inference and folding.
        uint64_t count = 1;
        for (const Dim& dim : shape) {
          if (dim.kind != Dim::Kind::kValue || dim.value <= 0) continue;
          uint64_t d = static_cast<uint64_t>(dim.value);
          if (d > limits_.max_elements || count > limits_.max_elements / d)
            fail(ErrorKind::kResourceLimit, "type " + shape_str(shape) + " declares more than " + std::to_string(limits_.max_elements) + " elements");
          count *= d;
        }
        t.shape = std::move(shape);
      }
    }
  }

  // ---- attributes -----------------------------------------------------------------------------
  void parse_attribute(const Field& af, Attribute& a, const Scope* scope, int depth) {
    Reader r(af);
    Field f;
    bool has_kind = false;
    std::vector<Field> graph_fields;
    while (r.next(f)) {
      switch (f.number) {
        case 1: a.name = str(f, "attribute name"); break;
        case 21: a.ref_attr_name = str(f, "ref_attr_name"); break;
        case 13: a.doc_string = str(f, "doc_string"); break;
        case 20: check(f, wire::kVarint, "attribute type"); a.kind = static_cast<AttrKind>(f.varint); has_kind = true; break;
        case 2: check(f, wire::kFixed32, "attribute f"); { uint32_t b = static_cast<uint32_t>(f.varint); std::memcpy(&a.f, &b, 4); } infer(a, AttrKind::kFloat, has_kind); break;
        case 3: check(f, wire::kVarint, "attribute i"); a.i = static_cast<int64_t>(f.varint); infer(a, AttrKind::kInt, has_kind); break;
        case 4: a.s = str(f, "attribute s"); infer(a, AttrKind::kString, has_kind); break;
        case 5: a.t = parse_tensor(f, "attribute tensor"); infer(a, AttrKind::kTensor, has_kind); break;
        case 6: check(f, wire::kLengthDelimited, "attribute graph"); graph_fields.push_back(f); infer(a, AttrKind::kGraph, has_kind); break;
        case 22: a.sparse_tensor = parse_sparse(f, "attribute sparse tensor"); infer(a, AttrKind::kSparseTensor, has_kind); break;
        case 14: check(f, wire::kLengthDelimited, "attribute type proto"); a.tp = std::make_shared<Type>(parse_type(f, 0)); infer(a, AttrKind::kTypeProto, has_kind); break;
        case 7:
          wire::read_repeated(f, a.floats, wire::fixed_f32, wire::kFixed32);
          infer(a, AttrKind::kFloats, has_kind);
          break;
        case 8:
          wire::read_repeated(f, a.ints, [](uint64_t raw) { return static_cast<int64_t>(raw); }, wire::kVarint);
          infer(a, AttrKind::kInts, has_kind);
          break;
        case 9: a.strings.push_back(str(f, "attribute strings")); infer(a, AttrKind::kStrings, has_kind); break;
        case 10: a.tensors.push_back(parse_tensor(f, "attribute tensors")); infer(a, AttrKind::kTensors, has_kind); break;
        case 11: check(f, wire::kLengthDelimited, "attribute graphs"); graph_fields.push_back(f); infer(a, AttrKind::kGraphs, has_kind); break;
        case 23: a.sparse_tensors.push_back(parse_sparse(f, "attribute sparse tensors")); infer(a, AttrKind::kSparseTensors, has_kind); break;
        case 15: check(f, wire::kLengthDelimited, "attribute type protos"); a.type_protos.push_back(parse_type(f, 0)); infer(a, AttrKind::kTypeProtos, has_kind); break;
        default: a.unknown_fields += f.raw();
      }
    }
    if (a.name.empty()) fail_invalid("an attribute has no name");
    for (const Field& gf : graph_fields) {
      auto g = std::make_unique<Graph>();
      std::string where = "attribute " + quoted(a.name) + " subgraph";
      parse_graph(gf, *g, scope, where, depth + 1);
      if (a.kind == AttrKind::kGraph) {
        a.g = std::move(g);
      } else {
        a.graphs.push_back(std::move(g));
      }
    }
  }

  static void infer(Attribute& a, AttrKind k, bool has_kind) {
    if (!has_kind) a.kind = k;
  }

  // ---- functions ------------------------------------------------------------------------------
  void parse_function(const Field& ff, Function& fn) {
    check(ff, wire::kLengthDelimited, "function");
    // A FunctionProto's body fields line up with GraphProto except for numbering; re-use the
    // graph machinery by collecting the parts and building the body directly.
    std::vector<std::string> inputs, outputs;
    std::vector<Field> node_fields;
    std::vector<ValueInfo> value_infos;
    Reader r(ff);
    Field f;
    while (r.next(f)) {
      switch (f.number) {
        case 1: fn.name = str(f, "function name"); break;
        case 4: inputs.push_back(str(f, "function input")); break;
        case 5: outputs.push_back(str(f, "function output")); break;
        case 6: fn.attribute_names.push_back(str(f, "function attribute")); break;
        case 11: {
          check(f, wire::kLengthDelimited, "function attribute_proto");
          fn.attribute_defaults.emplace_back();
          parse_attribute(f, fn.attribute_defaults.back(), nullptr, 0);
          break;
        }
        case 7: check(f, wire::kLengthDelimited, "function node"); node_fields.push_back(f); break;
        case 8: fn.doc_string = str(f, "doc_string"); break;
        case 9: fn.opset_imports.push_back(parse_opset(f)); break;
        case 10: fn.domain = str(f, "function domain"); break;
        case 13: fn.overload = str(f, "overload"); break;
        case 12: value_infos.push_back(parse_value_info(f)); break;
        case 14: fn.metadata_props.push_back(parse_string_pair(f)); break;
        default: fn.unknown_fields += f.raw();
      }
    }
    std::string where = "function " + quoted(fn.domain.empty() ? fn.name : fn.domain + "::" + fn.name);
    try {
      fn.body = std::make_unique<Graph>();
      Graph& g = *fn.body;
      g.set_name(fn.name);
      Scope scope;
      for (auto& in : inputs) {
        Value* v = g.add_input(in, Type{});
        if (!in.empty() && !scope.names.emplace(in, v).second) fail_invalid("input " + quoted(in) + " is declared twice");
      }
      std::vector<std::pair<Node*, std::vector<std::string>>> pending;
      std::vector<std::vector<Field>> attrs(node_fields.size());
      for (size_t idx = 0; idx < node_fields.size(); ++idx) {
        Node* n = g.append_node("");
        std::vector<std::string> ins;
        parse_node_header(node_fields[idx], *n, ins, attrs[idx], where, idx);
        for (size_t k = 0; k < n->num_outputs(); ++k) {
          Value* v = n->output(k);
          if (!v->name().empty() && !scope.names.emplace(v->name(), v).second)
            fail_invalid("tensor " + quoted(v->name()) + " is defined twice");
        }
        pending.emplace_back(n, std::move(ins));
      }
      for (size_t idx = 0; idx < pending.size(); ++idx) {
        Node* n = pending[idx].first;
        for (const auto& in : pending[idx].second) {
          if (in.empty()) { n->add_input(nullptr); continue; }
          Value* v = scope.find(in);
          if (!v) fail_invalid(n->describe() + " uses undefined tensor " + quoted(in));
          n->add_input(v);
        }
        for (const Field& af : attrs[idx]) {
          n->attributes().emplace_back();
          parse_attribute(af, n->attributes().back(), &scope, 1);
        }
      }
      for (auto& out : outputs) {
        Value* v = scope.find(out);
        if (!v) fail_invalid("output " + quoted(out) + " is not produced by the body");
        g.add_output(v);
      }
      for (auto& vi : value_infos) {
        auto it = scope.names.find(vi.name);
        if (it != scope.names.end()) merge_value_info(it->second, vi);
      }
      Node* cycle = nullptr;
      if (!g.sort_topologically(&cycle)) fail_invalid("the body has a cycle through " + cycle->describe());
    } catch (const Error& e) {
      throw Error(e.kind(), where + ": " + e.what());
    }
  }

  // ---- tensors --------------------------------------------------------------------------------
  std::shared_ptr<SparseTensor> parse_sparse(const Field& f, const std::string& what) {
    check(f, wire::kLengthDelimited, what);
    auto sp = std::make_shared<SparseTensor>();
    Reader r(f);
    Field g;
    bool has_values = false, has_indices = false;
    while (r.next(g)) {
      if (g.number == 1) { sp->values = std::move(*parse_tensor(g, what + " values")); has_values = true; }
      else if (g.number == 2) { sp->indices = std::move(*parse_tensor(g, what + " indices")); has_indices = true; }
      else if (g.number == 3) wire::read_repeated(g, sp->dims, [](uint64_t v) { return static_cast<int64_t>(v); }, wire::kVarint);
    }
    if (!has_values || !has_indices)
      fail_invalid(what + " " + quoted(sp->values.name()) + " has no " + (has_values ? "indices" : "values") + " tensor");
    for (int64_t d : sp->dims)
      if (d < 0) fail_invalid(what + " " + quoted(sp->values.name()) + " has a negative dimension");
    return sp;
  }

  std::shared_ptr<Tensor> parse_tensor(const Field& tf, const std::string& what) {
    check(tf, wire::kLengthDelimited, what);
    auto t = std::make_shared<Tensor>();
    TypedData typed;
    const uint8_t* raw = nullptr;
    size_t raw_size = 0;
    bool has_raw = false, external = false;
    int32_t dtype = 0;
    StringPairs external_info;
    std::vector<int64_t> dims;
    Reader r(tf);
    Field f;
    try {
      while (r.next(f)) {
        switch (f.number) {
          case 1: wire::read_repeated(f, dims, [](uint64_t v) { return static_cast<int64_t>(v); }, wire::kVarint); break;
          case 2: check(f, wire::kVarint, "data_type"); dtype = static_cast<int32_t>(f.varint); break;
          case 4: wire::read_repeated(f, typed.floats, [](uint64_t raw32) { uint32_t b = static_cast<uint32_t>(raw32); float v; std::memcpy(&v, &b, 4); return v; }, wire::kFixed32); break;
          case 5: wire::read_repeated(f, typed.int32s, [](uint64_t v) { return static_cast<int32_t>(v); }, wire::kVarint); break;
          case 6: t->strings().push_back(str(f, "string_data")); break;
          case 7: wire::read_repeated(f, typed.int64s, [](uint64_t v) { return static_cast<int64_t>(v); }, wire::kVarint); break;
          case 8: t->set_name(str(f, "tensor name")); break;
          case 12: t->doc_string() = str(f, "doc_string"); break;
          case 9: check(f, wire::kLengthDelimited, "raw_data"); raw = f.data; raw_size = f.size; has_raw = true; break;
          case 13: external_info.push_back(parse_string_pair(f)); break;
          case 14: check(f, wire::kVarint, "data_location"); external = f.varint == 1; break;
          case 10: wire::read_repeated(f, typed.doubles, [](uint64_t v) { double d; std::memcpy(&d, &v, 8); return d; }, wire::kFixed64); break;
          case 11: wire::read_repeated(f, typed.uint64s, [](uint64_t v) { return v; }, wire::kVarint); break;
          case 16: t->metadata_props().push_back(parse_string_pair(f)); break;
          default: t->unknown_fields() += f.raw();
        }
      }
    } catch (const Error& e) {
      throw Error(e.kind(), what + (t->name().empty() ? "" : " " + quoted(t->name())) + ": " + e.what());
    }
    const std::string label = what + " " + quoted(t->name());
    if (!is_known_dtype(dtype) || dtype == 0)
      fail_invalid(label + " has unknown data type " + std::to_string(dtype));
    DataType dt = static_cast<DataType>(dtype);
    t->set_dtype(dt);
    if (static_cast<int64_t>(dims.size()) > limits_.max_rank)
      fail(ErrorKind::kResourceLimit, label + " has " + std::to_string(dims.size()) + " dimensions (limit " + std::to_string(limits_.max_rank) + ")");
    uint64_t count = 1;
    for (int64_t d : dims) {
      if (d < 0) fail_invalid(label + " has a negative dimension " + std::to_string(d));
      if (d != 0 && count > limits_.max_elements / static_cast<uint64_t>(d))
        fail(ErrorKind::kResourceLimit, label + " declares more than " + std::to_string(limits_.max_elements) + " elements");
      count *= static_cast<uint64_t>(d);
    }
    if (count > limits_.max_elements)
      fail(ErrorKind::kResourceLimit, label + " declares more than " + std::to_string(limits_.max_elements) + " elements");
    t->set_dims(std::move(dims));

    if (dt == DataType::kString) {
      if (has_raw || external) fail_invalid(label + ": string tensors cannot use raw_data or external data");
      if (t->strings().size() != count)
        fail_invalid(label + " has " + std::to_string(t->strings().size()) + " strings but its shape holds " + std::to_string(count));
      return t;
    }
    uint64_t expected = *raw_bytes_for(dt, count);
    if (external) {
      load_external(*t, external_info, expected, label);
    } else if (has_raw) {
      if (raw_size != expected)
        fail_invalid(label + ": raw_data has " + std::to_string(raw_size) + " bytes but shape " + dims_str(t->dims()) + " of " +
                     dtype_name(dt) + " needs " + std::to_string(expected));
      t->set_view(storage_, static_cast<size_t>(raw - storage_->data()), raw_size);
      // Reading the field headers around it faulted in whole page-cache folios (2 MB each on
      // this kernel), i.e. weight bytes nobody needs yet: unmap them so parsing a 400 MB file
      // does not peak at 150 MB of RSS. The view faults them back in when read.
      if (const MappedFile* file = storage_->mapping()) file->release(raw, raw_size);
    } else {
      t->set_owned(convert_typed(typed, dt, count, label));
    }
    return t;
  }

  static std::string shape_str(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
      if (i) s += ",";
      if (shape[i].kind == Dim::Kind::kValue) s += std::to_string(shape[i].value);
      else if (shape[i].kind == Dim::Kind::kParam) s += shape[i].param;
      else s += "?";
    }
    return s + "]";
  }

  static std::string dims_str(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
    return s + "]";
  }

  template <typename T>
  static void need_count(const std::vector<T>& v, uint64_t want, const std::string& label, const char* field) {
    if (v.size() != want)
      fail_invalid(label + ": " + field + " has " + std::to_string(v.size()) + " values but the shape needs " + std::to_string(want));
  }

  std::vector<uint8_t> convert_typed(const TypedData& td, DataType dt, uint64_t count, const std::string& label) {
    // Allocate only after the value count matched: a tensor declaring 2^40 elements without
    // data must fail, not allocate (and zero) terabytes.
    const uint64_t nbytes = *raw_bytes_for(dt, count);
    std::vector<uint8_t> out;
    auto need_count = [&](const auto& v, uint64_t want, const std::string& lbl, const char* field) {
      OnnxReader::need_count(v, want, lbl, field);
      out.resize(static_cast<size_t>(nbytes));
    };
    auto put = [&](const void* src, size_t n) { if (n) std::memcpy(out.data(), src, n); };
    switch (dt) {
      case DataType::kFloat: need_count(td.floats, count, label, "float_data"); put(td.floats.data(), out.size()); break;
      case DataType::kComplex64: need_count(td.floats, count * 2, label, "float_data"); put(td.floats.data(), out.size()); break;
      case DataType::kDouble: need_count(td.doubles, count, label, "double_data"); put(td.doubles.data(), out.size()); break;
      case DataType::kComplex128: need_count(td.doubles, count * 2, label, "double_data"); put(td.doubles.data(), out.size()); break;
      case DataType::kInt64: need_count(td.int64s, count, label, "int64_data"); put(td.int64s.data(), out.size()); break;
      case DataType::kUint64: need_count(td.uint64s, count, label, "uint64_data"); put(td.uint64s.data(), out.size()); break;
      case DataType::kUint32: {
        need_count(td.uint64s, count, label, "uint64_data");
        for (uint64_t k = 0; k < count; ++k) { uint32_t v = static_cast<uint32_t>(td.uint64s[k]); std::memcpy(&out[k * 4], &v, 4); }
        break;
      }
      case DataType::kInt32: need_count(td.int32s, count, label, "int32_data"); put(td.int32s.data(), out.size()); break;
      case DataType::kInt16:
      case DataType::kUint16:
      case DataType::kFloat16:
      case DataType::kBfloat16: {
        need_count(td.int32s, count, label, "int32_data");
        for (uint64_t k = 0; k < count; ++k) { uint16_t v = static_cast<uint16_t>(td.int32s[k]); std::memcpy(&out[k * 2], &v, 2); }
        break;
      }
      case DataType::kInt8:
      case DataType::kUint8:
      case DataType::kBool:
      case DataType::kFloat8E4M3FN:
      case DataType::kFloat8E4M3FNUZ:
      case DataType::kFloat8E5M2:
      case DataType::kFloat8E5M2FNUZ:
      case DataType::kFloat8E8M0:
        need_count(td.int32s, count, label, "int32_data");
        for (uint64_t k = 0; k < count; ++k) out[k] = static_cast<uint8_t>(td.int32s[k]);
        break;
      case DataType::kInt4:
      case DataType::kUint4:
      case DataType::kFloat4E2M1:
      case DataType::kInt2:
      case DataType::kUint2:
        // int32_data holds the packed bytes, one per entry.
        need_count(td.int32s, nbytes, label, "int32_data");
        for (size_t k = 0; k < out.size(); ++k) out[k] = static_cast<uint8_t>(td.int32s[k]);
        break;
      case DataType::kFloat6E2M3:
      case DataType::kFloat6E3M2: {
        // int32_data holds one 6-bit code per entry; raw_data packs four codes into three bytes.
        need_count(td.int32s, count, label, "int32_data");
        for (uint64_t k = 0; k < count; ++k) {
          uint32_t code = static_cast<uint32_t>(td.int32s[k]) & 0x3f;
          uint64_t bit = k * 6;
          out[bit / 8] |= static_cast<uint8_t>(code << (bit % 8));
          if (bit % 8 > 2 && bit / 8 + 1 < out.size()) out[bit / 8 + 1] |= static_cast<uint8_t>(code >> (8 - bit % 8));
        }
        break;
      }
      default: fail(ErrorKind::kUnsupported, label + ": cannot decode data of type " + dtype_name(dt));
    }
    return out;
  }

  // ---- external data --------------------------------------------------------------------------
  void load_external(Tensor& t, const StringPairs& info, uint64_t expected, const std::string& label) {
    std::string location;
    uint64_t offset = 0, length = 0;
    bool has_length = false;
    for (const auto& [k, v] : info) {
      if (k == "location") location = v;
      else if (k == "offset") offset = parse_u64(v, label, "offset");
      else if (k == "length") { length = parse_u64(v, label, "length"); has_length = true; }
    }
    if (location.empty()) fail_invalid(label + ": external data has no location");
    if (base_dir_.empty())
      fail(ErrorKind::kFile, label + ": external data " + quoted(location) + " cannot be resolved for a model given as bytes; load it from its path");
    std::shared_ptr<const Storage> file = external_file(location, label);
    if (offset > file->size())
      fail_invalid(label + ": external data offset " + std::to_string(offset) + " is past the end of " + quoted(location) + " (" + std::to_string(file->size()) + " bytes)");
    if (!has_length) length = file->size() - offset;
    if (length > file->size() - offset)
      fail_invalid(label + ": external data [" + std::to_string(offset) + ", +" + std::to_string(length) + ") runs past the end of " +
                   quoted(location) + " (" + std::to_string(file->size()) + " bytes)");
    if (length != expected)
      fail_invalid(label + ": external data has " + std::to_string(length) + " bytes but shape " + dims_str(t.dims()) + " of " +
                   dtype_name(t.dtype()) + " needs " + std::to_string(expected));
    t.set_view(file, static_cast<size_t>(offset), static_cast<size_t>(length));
  }

  static uint64_t parse_u64(const std::string& s, const std::string& label, const char* what) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
      fail_invalid(label + ": external data " + what + " " + quoted(s) + " is not a non-negative integer");
    return std::stoull(s);
  }

  std::shared_ptr<const Storage> external_file(const std::string& location, const std::string& label) {
    auto it = external_files_.find(location);
    if (it != external_files_.end()) return it->second;
    // The location must stay inside the model's folder: no absolute paths, no "..", no symlink
    // that leads out.
    if (location[0] == '/' || location.find('\\') != std::string::npos)
      fail(ErrorKind::kFile, label + ": external data location " + quoted(location) + " must be a relative path inside the model's folder");
    size_t start = 0;
    while (start <= location.size()) {
      size_t end = location.find('/', start);
      if (end == std::string::npos) end = location.size();
      if (location.compare(start, end - start, "..") == 0)
        fail(ErrorKind::kFile, label + ": external data location " + quoted(location) + " escapes the model's folder");
      start = end + 1;
    }
    std::string path = base_dir_ + "/" + location;
    char resolved_base[PATH_MAX], resolved_path[PATH_MAX];
    if (!realpath(base_dir_.c_str(), resolved_base))
      fail(ErrorKind::kFile, label + ": cannot resolve the model's folder " + quoted(base_dir_));
    if (!realpath(path.c_str(), resolved_path))
      fail(ErrorKind::kFile, label + ": external data file " + quoted(path) + " does not exist");
    std::string base(resolved_base), full(resolved_path);
    if (full.compare(0, base.size(), base) != 0 || (full.size() > base.size() && full[base.size()] != '/' && base != "/"))
      fail(ErrorKind::kFile, label + ": external data " + quoted(location) + " resolves outside the model's folder");
    auto storage = std::make_shared<MappedStorage>(MappedFile::open(path));
    external_files_[location] = storage;
    return storage;
  }

  // ---- helpers --------------------------------------------------------------------------------
  static void check(const Field& f, wire::WireType want, const std::string& what) {
    if (f.type != want)
      fail_invalid("malformed protobuf: field " + what + " (#" + std::to_string(f.number) + ") has wire type " +
                   std::to_string(static_cast<int>(f.type)) + ", expected " + std::to_string(static_cast<int>(want)));
  }
  static std::string str(const Field& f, const std::string& what) {
    check(f, wire::kLengthDelimited, what);
    return f.str();
  }
  static DataType dtype_of(uint64_t v) {
    if (v > static_cast<uint64_t>(kMaxDataType)) fail_invalid("unknown element type " + std::to_string(v));
    return static_cast<DataType>(v);
  }

  static constexpr int kNamedLevels = 4;  // error messages name this many enclosing graphs
  int unnamed_levels_ = 0;
  std::shared_ptr<const Storage> storage_;
  std::string base_dir_, label_;
  ReadLimits limits_;
  // Totals over all graphs: a few bytes of protobuf per node or tensor would otherwise let a
  // small file demand gigabytes of graph structure.
  uint64_t nodes_seen_ = 0, tensors_seen_ = 0;
  void count_entry(uint64_t& seen, const char* what, const std::string& where) {
    if (++seen > limits_.max_entries)
      fail(ErrorKind::kResourceLimit, where + ": more than " + std::to_string(limits_.max_entries) + " " + what + " in the model");
  }
  Field graph_field_;
  std::vector<Field> function_fields_;
  std::map<std::string, std::shared_ptr<const Storage>> external_files_;
};

std::string dirname_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::unique_ptr<Model> read_onnx_file(const std::string& path, const ReadLimits& limits) {
  auto file = MappedFile::open(path);
  auto model = OnnxReader(std::make_shared<MappedStorage>(file), dirname_of(path), path, limits).read();
  // Whatever parsing still has mapped (node and header pages) is not needed either.
  file->release(file->data(), file->size());
  validate_ops(*model);  // ops are checked at the border, so passes may trust them
  return model;
}

std::unique_ptr<Model> read_onnx_bytes(std::shared_ptr<const Storage> bytes, const std::string& base_dir,
                                       const std::string& label, const ReadLimits& limits) {
  auto model = OnnxReader(std::move(bytes), base_dir, label, limits).read();
  validate_ops(*model);  // also what a Python pass hands back (read through here)
  return model;
}

}  // namespace irforge
