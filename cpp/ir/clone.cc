#include "ir/clone.h"

#include <unordered_map>

#include "support/error.h"

namespace irforge {

namespace {

using ValueMap = std::unordered_map<const Value*, Value*>;

void copy_value_info(const Value& from, Value& to) {
  to.set_name(from.name());
  to.set_type(from.type());
  to.doc_string() = from.doc_string();
  to.metadata_props() = from.metadata_props();
}

std::unique_ptr<Graph> clone_graph(const Graph& g, Graph* parent, ValueMap& map);

Attribute clone_attribute(const Attribute& a, Graph* owner, ValueMap& map) {
  Attribute c;
  c.name = a.name;
  c.kind = a.kind;
  c.ref_attr_name = a.ref_attr_name;
  c.doc_string = a.doc_string;
  c.f = a.f;
  c.i = a.i;
  c.s = a.s;
  c.t = a.t;
  c.sparse_tensor = a.sparse_tensor;
  c.tp = a.tp;
  c.floats = a.floats;
  c.ints = a.ints;
  c.strings = a.strings;
  c.tensors = a.tensors;
  c.sparse_tensors = a.sparse_tensors;
  c.type_protos = a.type_protos;
  c.unknown_fields = a.unknown_fields;
  if (a.g) c.g = clone_graph(*a.g, owner, map);
  for (const auto& sub : a.graphs) c.graphs.push_back(clone_graph(*sub, owner, map));
  return c;
}

Value* mapped(const ValueMap& map, const Value* v) {
  if (!v) return nullptr;
  auto it = map.find(v);
  // Values of enclosing graphs are mapped before a subgraph is cloned (topological order).
  if (it == map.end()) fail(ErrorKind::kInternal, "clone: value '" + v->name() + "' is used before it is defined");
  return it->second;
}

std::unique_ptr<Graph> clone_graph(const Graph& g, Graph* parent, ValueMap& map) {
  auto out = std::make_unique<Graph>(parent);
  out->set_name(g.name());
  out->doc_string() = g.doc_string();
  out->metadata_props() = g.metadata_props();
  out->unknown_fields() = g.unknown_fields();
  for (const Value* v : g.inputs()) {
    Value* c = out->add_input(v->name(), v->type());
    copy_value_info(*v, *c);
    map[v] = c;
  }
  // Same initializer order as the original, so the written bytes are identical.
  for (const Value* v : g.initializers()) {
    Value* c;
    if (v->is_graph_input()) {
      c = map[v];
      if (v->initializer()) out->set_initializer(c, v->initializer());
      else continue;  // a sparse default on an input has no API; never produced by the reader
    } else if (v->sparse_initializer()) {
      c = out->add_sparse_initializer(v->sparse_initializer());
    } else {
      c = out->add_initializer(v->initializer());
    }
    copy_value_info(*v, *c);
    map[v] = c;
  }
  for (const auto& n : g.nodes()) {
    Node* c = out->append_node(n->op_type(), n->domain());
    c->set_name(n->name());
    c->overload() = n->overload();
    c->doc_string() = n->doc_string();
    c->metadata_props() = n->metadata_props();
    c->unknown_fields() = n->unknown_fields();
    for (const Value* in : n->inputs()) c->add_input(mapped(map, in));
    for (size_t k = 0; k < n->num_outputs(); ++k) {
      Value* o = c->add_output(n->output(k)->name());
      copy_value_info(*n->output(k), *o);
      map[n->output(k)] = o;
    }
    for (const auto& a : n->attributes()) c->attributes().push_back(clone_attribute(a, out.get(), map));
  }
  for (const Value* v : g.outputs()) out->add_output(mapped(map, v));
  return out;
}

}  // namespace

std::unique_ptr<Model> clone_model(const Model& m) {
  auto c = std::make_unique<Model>();
  c->ir_version = m.ir_version;
  c->opset_imports = m.opset_imports;
  c->producer_name = m.producer_name;
  c->producer_version = m.producer_version;
  c->domain = m.domain;
  c->doc_string = m.doc_string;
  c->model_version = m.model_version;
  c->has_model_version = m.has_model_version;
  c->metadata_props = m.metadata_props;
  c->unknown_fields = m.unknown_fields;
  c->source_path = m.source_path;
  ValueMap map;
  if (m.graph) c->graph = clone_graph(*m.graph, nullptr, map);
  for (const Function& f : m.functions) {
    Function cf;
    cf.name = f.name;
    cf.domain = f.domain;
    cf.overload = f.overload;
    cf.doc_string = f.doc_string;
    cf.attribute_names = f.attribute_names;
    for (const auto& a : f.attribute_defaults) cf.attribute_defaults.push_back(clone_attribute(a, nullptr, map));
    cf.opset_imports = f.opset_imports;
    cf.metadata_props = f.metadata_props;
    cf.unknown_fields = f.unknown_fields;
    ValueMap fmap;
    if (f.body) cf.body = clone_graph(*f.body, nullptr, fmap);
    c->functions.push_back(std::move(cf));
  }
  return c;
}

}  // namespace irforge
