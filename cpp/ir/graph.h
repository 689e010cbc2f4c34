// The graph IR: a Graph owns Nodes kept in topological order; a Node owns its output Values;
// every Value knows its producer and all its uses, so replacing a value is O(uses).
// Subgraphs (If/Loop/Scan bodies) are Graphs owned by attributes; their nodes may use values of
// enclosing graphs directly (outer-scope capture), and those uses appear in the outer value's
// use list too.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "ir/attribute.h"
#include "ir/tensor.h"
#include "ir/type.h"

namespace irforge {

class Graph;
class Node;

struct Use {
  Node* node;
  size_t input_index;
  bool operator==(const Use& o) const { return node == o.node && input_index == o.input_index; }
};

class Value {
 public:
  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  Type& type() { return type_; }
  const Type& type() const { return type_; }
  void set_type(Type t) { type_ = std::move(t); }

  Graph* graph() const { return graph_; }
  Node* producer() const { return producer_; }  // nullptr for graph inputs and initializers
  size_t output_index() const { return output_index_; }
  const std::vector<Use>& uses() const { return uses_; }
  bool has_uses() const { return !uses_.empty(); }

  // Initializer data when this value is a constant of its graph; otherwise nullptr.
  const std::shared_ptr<Tensor>& initializer() const { return initializer_; }
  const std::shared_ptr<SparseTensor>& sparse_initializer() const { return sparse_initializer_; }
  bool is_graph_input() const { return is_graph_input_; }
  // Graphs listing this value among their outputs (usually none or its own graph).
  const std::vector<Graph*>& output_of() const { return output_of_; }
  bool is_graph_output() const { return !output_of_.empty(); }

  std::string& doc_string() { return doc_string_; }
  StringPairs& metadata_props() { return metadata_props_; }
  const StringPairs& metadata_props() const { return metadata_props_; }
  const std::string& doc_string() const { return doc_string_; }

 private:
  friend class Graph;
  friend class Node;
  std::string name_;
  Type type_;
  Graph* graph_ = nullptr;
  Node* producer_ = nullptr;
  size_t output_index_ = 0;
  std::vector<Use> uses_;
  std::shared_ptr<Tensor> initializer_;
  std::shared_ptr<SparseTensor> sparse_initializer_;
  bool is_graph_input_ = false;
  std::vector<Graph*> output_of_;
  std::string doc_string_;
  StringPairs metadata_props_;
};

class Node {
 public:
  ~Node();
  const std::string& op_type() const { return op_type_; }
  void set_op_type(std::string s) { op_type_ = std::move(s); }
  const std::string& domain() const { return domain_; }
  void set_domain(std::string s) { domain_ = std::move(s); }
  const std::string& name() const { return name_; }
  void set_name(std::string s) { name_ = std::move(s); }
  std::string& overload() { return overload_; }
  const std::string& overload() const { return overload_; }
  std::string& doc_string() { return doc_string_; }
  const std::string& doc_string() const { return doc_string_; }
  StringPairs& metadata_props() { return metadata_props_; }
  const StringPairs& metadata_props() const { return metadata_props_; }
  std::string& unknown_fields() { return unknown_fields_; }
  const std::string& unknown_fields() const { return unknown_fields_; }
  Graph* graph() const { return graph_; }

  // Inputs may be nullptr where ONNX has an omitted optional input ("").
  const std::vector<Value*>& inputs() const { return inputs_; }
  Value* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  void set_input(size_t i, Value* v);
  void add_input(Value* v);
  void remove_input(size_t i);  // shifts later inputs down
  void clear_inputs();

  size_t num_outputs() const { return outputs_.size(); }
  // Checked like input(): a pass asking for an output the node lacks is a bug, reported with
  // the node instead of reading past the vector (the validator rejects nodes without outputs).
  Value* output(size_t i) const {
    if (i >= outputs_.size()) output_out_of_range(i);
    return outputs_[i].get();
  }
  Value* add_output(std::string name);

  std::vector<Attribute>& attributes() { return attributes_; }
  const std::vector<Attribute>& attributes() const { return attributes_; }
  const Attribute* attr(const std::string& name) const;
  Attribute* attr(const std::string& name);
  // Typed lookups with defaults.
  int64_t attr_int(const std::string& name, int64_t dflt) const;
  float attr_float(const std::string& name, float dflt) const;
  std::string attr_string(const std::string& name, const std::string& dflt) const;
  std::vector<int64_t> attr_ints(const std::string& name) const;
  // All subgraphs held by this node's attributes.
  std::vector<Graph*> subgraphs() const;

  std::string describe() const;  // "node 'name' (Op)" for error messages

 private:
  [[noreturn]] void output_out_of_range(size_t i) const;
  friend class Graph;
  Node() = default;
  std::string op_type_, domain_, name_, overload_, doc_string_, unknown_fields_;
  StringPairs metadata_props_;
  Graph* graph_ = nullptr;
  std::vector<Value*> inputs_;
  std::vector<std::unique_ptr<Value>> outputs_;
  std::vector<Attribute> attributes_;
  std::list<std::unique_ptr<Node>>::iterator self_;
};

class Graph {
 public:
  explicit Graph(Graph* parent = nullptr) : parent_(parent) {}
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void set_name(std::string s) { name_ = std::move(s); }
  std::string& doc_string() { return doc_string_; }
  const std::string& doc_string() const { return doc_string_; }
  StringPairs& metadata_props() { return metadata_props_; }
  const StringPairs& metadata_props() const { return metadata_props_; }
  std::string& unknown_fields() { return unknown_fields_; }
  const std::string& unknown_fields() const { return unknown_fields_; }
  Graph* parent() const { return parent_; }
  void set_parent(Graph* p) { parent_ = p; }

  // Graph inputs in declaration order (some may also carry an initializer: ONNX IR < 4 style).
  const std::vector<Value*>& inputs() const { return inputs_; }
  Value* add_input(std::string name, Type type);
  // Puts the listed inputs first, in the given order (the rest keep theirs after them).
  void reorder_inputs(const std::vector<Value*>& first);
  // Initializers in declaration order.
  const std::vector<Value*>& initializers() const { return initializers_; }
  Value* add_initializer(std::shared_ptr<Tensor> tensor);
  Value* add_sparse_initializer(std::shared_ptr<SparseTensor> tensor);
  // Attach data to an existing input value (an input with a default).
  void set_initializer(Value* v, std::shared_ptr<Tensor> tensor);
  // Removes an unused initializer or input value (throws if it still has uses).
  void remove_value(Value* v);

  const std::vector<Value*>& outputs() const { return outputs_; }
  void add_output(Value* v);
  void set_output(size_t i, Value* v);
  void clear_outputs();

  // Nodes in topological order.
  const std::list<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  size_t num_nodes() const { return nodes_.size(); }
  Node* append_node(std::string op_type, std::string domain = "");
  Node* insert_node_before(Node* anchor, std::string op_type, std::string domain = "");
  // Removes a node whose outputs have no uses (throws otherwise); its input uses are dropped.
  void remove_node(Node* n);
  // Moves `n` to just before `anchor` (both in this graph).
  void move_before(Node* n, Node* anchor);
  // Moves every node of `from` (e.g. an If branch being inlined) to just before `anchor` in this
  // graph, in order. Nodes and their output values are the same objects afterwards, so every
  // use stays valid; `from` keeps its inputs, initializers and outputs.
  void splice_nodes_before(Graph& from, Node* anchor);

  // Every use of `from` (in this graph, its subgraphs, and graph outputs) now uses `to`.
  void replace_all_uses(Value* from, Value* to);

  // Sorts nodes topologically (stable for already sorted graphs); returns false on a cycle and
  // reports one node on it in *cycle_node.
  bool sort_topologically(Node** cycle_node = nullptr);

 private:
  friend class Node;
  Graph* parent_;
  std::string name_, doc_string_, unknown_fields_;
  StringPairs metadata_props_;
  std::vector<Value*> inputs_;
  std::vector<Value*> initializers_;
  std::vector<std::unique_ptr<Value>> owned_values_;  // inputs and initializers
  std::vector<Value*> outputs_;
  std::list<std::unique_ptr<Node>> nodes_;
};

struct OpsetImport {
  std::string domain;
  int64_t version = 0;
};

// A model-local function (FunctionProto). Its body is a Graph whose inputs are the function's
// formal inputs; attribute parameters are referenced by `ref_attr_name` inside the body.
struct Function {
  std::string name, domain, overload, doc_string;
  std::vector<std::string> attribute_names;
  std::vector<Attribute> attribute_defaults;
  std::vector<OpsetImport> opset_imports;
  StringPairs metadata_props;
  std::unique_ptr<Graph> body;
  std::string unknown_fields;
};

struct Model {
  int64_t ir_version = 0;
  std::vector<OpsetImport> opset_imports;
  std::string producer_name, producer_version, domain, doc_string;
  int64_t model_version = 0;
  bool has_model_version = false;
  StringPairs metadata_props;
  std::unique_ptr<Graph> graph;
  std::vector<Function> functions;
  std::string unknown_fields;  // training_info, configuration, future fields
  std::string source_path;     // where it was read from, for messages

  // Version of the default ("" / "ai.onnx") opset, 0 when absent.
  int64_t opset_version(const std::string& domain = "") const;
};

// Visits `g` and all nested subgraphs, parents before children.
template <typename F>
void for_each_graph(Graph& g, F&& f) {
  f(g);
  for (auto& n : g.nodes())
    for (Graph* sub : n->subgraphs()) for_each_graph(*sub, f);
}

}  // namespace irforge
