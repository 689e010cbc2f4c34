// Small helpers shared by passes: constant lookup, new initializers, unique names.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"
#include "passes/pass.h"

namespace irforge::passes {

// The tensor of a value that is constant: a (non-input) initializer or the output of a
// Constant node with a tensor / float(s) / int(s) value. nullptr otherwise.
const Tensor* constant_of(const Value* v);
// Hands back the mapped file pages of [p, p+n) inside `t` after a pass read them (a read fault maps
// a whole page-cache folio, 2 MiB here, which would stay resident); nothing for in-memory tensors.
void release_mapped_pages(const Tensor& t, const uint8_t* p, size_t n);

// Constant values as doubles / int64s (numeric types only); nullopt if not constant.
std::optional<std::vector<double>> constant_doubles(const Value* v);
std::optional<std::vector<int64_t>> constant_ints(const Value* v);

// Unique value names for a model: collects every name once, then hands out fresh ones.
class NameGen {
 public:
  explicit NameGen(const Model& m);
  std::string fresh(const std::string& base);
  void reserve(const std::string& name) { used_.insert(name); }

 private:
  std::unordered_set<std::string> used_;
};

// A new float32 initializer in `g` with the given values.
Value* add_f32_initializer(Graph& g, const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values);

// True if `v` has exactly one use and is not a graph output.
bool used_once(const Value* v);

// True if `v` is used only as input of `user` (once) and is not a graph output.
bool single_use_by(const Value* v, const Node* user);

// Makes `replacement` stand for `old` everywhere. If `old` is a graph output its name moves
// to `replacement` (graph output names are the model's interface) — only done when
// `replacement` is an internal node output; returns false (nothing changed) otherwise.
bool replace_value(Graph& g, Value* old, Value* replacement);

// Sets attribute `name` of `n` to an int / ints value, replacing one of that name or adding it.
void set_int_attr(Node* n, const char* name, int64_t v);
void set_ints_attr(Node* n, const char* name, const std::vector<int64_t>& v);

// One sweep of a node-by-node rewrite: calls `visit(graph, node)` on each node of `g` in order,
// after sweeping that node's subgraphs (they can only capture values defined before it). The
// node list is taken first, so `visit` may insert or remove nodes. Returns the sum of what
// `visit` returned (its rewrites).
int64_t rewrite_nodes(Graph& g, const std::function<int64_t(Graph&, Node*)>& visit);

// rewrite_nodes over the model's main graph (nothing when it has none), as a PassResult.
PassResult rewrite_model(Model& m, const std::function<int64_t(Graph&, Node*)>& visit);

}  // namespace irforge::passes
