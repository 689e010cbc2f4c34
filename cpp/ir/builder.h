// The graph builder: how frontends (PyTorch today; TensorFlow, TFLite, Paddle, ... later) create
// a Model without going through ONNX bytes. A frontend adds inputs, zero-copy constants (views
// into a Storage: a mapped file, a buffer kept alive by the Model, ...), nodes in the canonical
// op set (ONNX semantics, plus documented `irforge`-domain ops) and outputs, then finish() hands
// back a Model that has passed the same checks as a read ONNX model, so every pass and writer
// serves it unchanged.
//
// Names: every value gets a unique name (the verifier requires it); a requested name that is
// taken gets a numeric suffix. Graph outputs keep exactly the name given to output().
// Subgraphs (If/Loop bodies): new_subgraph() creates a graph owned by the builder; nodes and
// outputs are added to it like to the main graph (its nodes may use values of enclosing graphs),
// and passing it as a graph attribute of a node moves it into that node (take_subgraph()).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"

namespace irforge {

class Builder {
 public:
  // `source` names the model in messages (a path, or "<torch.nn.Module Foo>").
  explicit Builder(std::string source);
  ~Builder();
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  Graph& main_graph() { return *model_->graph; }
  const std::string& source() const { return model_->source_path; }

  // A graph input. Dims are static (Dim::of) or symbolic (Dim::symbol("batch")).
  Value* input(Graph& g, const std::string& name, Type type);
  // A constant viewing `nbytes` = raw size of dtype x dims bytes of `storage` from `offset` on;
  // the bytes are not copied and `storage` lives as long as the Model does. Throws
  // kInvalidModel when the range does not fit in the storage, kResourceLimit on absurd dims.
  Value* constant(Graph& g, const std::string& name, DataType dtype, std::vector<int64_t> dims,
                  std::shared_ptr<const Storage> storage, size_t offset);
  // A small constant that owns its bytes (shapes, axes, scalars made up by a translator).
  Value* owned_constant(Graph& g, const std::string& name, DataType dtype, std::vector<int64_t> dims,
                        std::vector<uint8_t> bytes);
  // The same from typed values (a frontend's computed shapes, axes, folded weights): `values`
  // holds exactly product(dims) elements, else kInvalidModel. Spares every reader its own
  // packing of vectors into bytes.
  Value* owned_constant(Graph& g, const std::string& name, std::vector<int64_t> dims, const std::vector<float>& values);
  Value* owned_constant(Graph& g, const std::string& name, std::vector<int64_t> dims, const std::vector<int64_t>& values);
  // Appends a node; returns its `n_outputs` output values (named "<name>:<i>" or `output_names`).
  // An input may be nullptr (an omitted optional input). Every input must be visible from `g`
  // (defined in `g` or an enclosing graph).
  std::vector<Value*> node(Graph& g, const std::string& op_type, const std::vector<Value*>& inputs,
                           std::vector<Attribute> attrs, size_t n_outputs, const std::string& domain = "",
                           const std::string& name = "", const std::vector<std::string>& output_names = {});
  // Marks `v` as an output of `g` named `name` (empty: keep its name). A value that already is a
  // graph input or output, or whose name is taken by another value, is passed through an Identity.
  Value* output(Graph& g, Value* v, const std::string& name = "");
  // Sets a value's type (frontends know their tensors' dtype and shape).
  void set_type(Value* v, Type type) { v->set_type(std::move(type)); }

  // A new empty graph (a subgraph body) with `parent` as its enclosing graph.
  Graph* new_subgraph(Graph& parent, const std::string& name);
  // Moves a graph made by new_subgraph out of the builder (into a node attribute).
  std::unique_ptr<Graph> take_subgraph(Graph* g);

  // Opset imports of the result; the default domain defaults to kDefaultOpset, the `irforge`
  // domain is imported at version 1 when used.
  void set_opset(const std::string& domain, int64_t version);
  static constexpr int64_t kDefaultOpset = 21;

  // Sorts the graphs, checks structure (verify) and every op (validate_ops), and returns the
  // Model. The builder is empty afterwards. Throws kInvalidModel naming the first problems.
  std::unique_ptr<Model> finish();

 private:
  std::string unique_name(const std::string& wanted);
  void check_visible(Graph& g, Value* v, const std::string& what);
  std::unique_ptr<Model> model_;
  std::unordered_set<std::string> names_;
  std::unordered_map<std::string, int64_t> opsets_;
  std::vector<std::unique_ptr<Graph>> pending_subgraphs_;
  size_t node_counter_ = 0;
};

}  // namespace irforge
