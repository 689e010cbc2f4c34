// Building blocks for expanders (expand_fused_ops.h): new nodes are inserted just before the
// fused node, so topological order holds, and take fresh names derived from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace irforge::passes {

Attribute int_attr(const std::string& name, int64_t v);
Attribute float_attr(const std::string& name, float v);
Attribute ints_attr(const std::string& name, std::vector<int64_t> v);

class Expansion {
 public:
  // `node` is the fused node being replaced; values are typed with `elem` unless told otherwise.
  Expansion(Graph& g, Node* node, int64_t opset);
  Graph& graph() { return g_; }
  Node* node() { return node_; }
  int64_t opset() const { return opset_; }
  DataType elem() const { return elem_; }

  // One new node with one output of element type `out_type` (kUndefined: the fused node's).
  Value* op(const std::string& op_type, const std::vector<Value*>& inputs, std::vector<Attribute> attrs = {},
            DataType out_type = DataType::kUndefined);
  // A rank-0 constant of element type `t` (kUndefined: the fused node's).
  Value* scalar(double v, DataType t = DataType::kUndefined);
  Value* ints(const std::vector<int64_t>& v);
  // ReduceMean over `axes` keeping dims, in the form the opset has (axes attribute < 18).
  Value* reduce_mean(Value* x, const std::vector<int64_t>& axes);
  // Cast to `t` unless `x` is already of that type (by the fused node's input types).
  Value* cast(Value* x, DataType from, DataType to);
  // Makes `result` stand for the fused node's first output (its name too, if it is a graph
  // output) and removes the fused node. Its other outputs must be unused.
  void finish(Value* result);

  // Axes [axis, rank) as negative numbers (rank from the type of `x` when axis >= 0).
  std::vector<int64_t> trailing_axes(const Value* x, int64_t axis) const;

 private:
  std::string name(const std::string& suffix);
  Graph& g_;
  Node* node_;
  int64_t opset_;
  DataType elem_;
  std::string base_;
};

}  // namespace irforge::passes
