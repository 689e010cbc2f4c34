// Matching helpers shared by the activation/normalization fusions. Everything here only
// inspects the graph; rewriting goes through FusedNode.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_set>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/util.h"

namespace irforge::passes::fusion {

// The producer of `v` when it is `op_type` in the default domain; nullptr otherwise.
Node* producer_is(const Value* v, const char* op_type);

// Rank of `v` when known, -1 otherwise.
int64_t rank_of(const Value* v);

// The value of a one-element float constant whose broadcast against `like` cannot change
// `like`'s shape (rank 0, or rank <= like's known rank) and whose type is like's.
std::optional<double> scalar_constant(const Value* v, const Value* like);

// Relative closeness of an exported constant to its exact value; 16-bit float constants carry
// fewer digits.
bool near(double value, double exact, DataType t);

// True if every use of `v` is by a node in `allowed` (and v is not a graph output).
bool used_only_by(const Value* v, const std::vector<Node*>& allowed);

// A product of factors: `root` = scale * factors[0] * factors[1] * ..., through Mul nodes, Div
// by scalar constants and Pow by 2 or 3, looking into an operand only when it is used once
// (the root itself always). `nodes` are the nodes it looked through.
struct Product {
  std::vector<Value*> factors;
  double scale = 1.0;
  std::vector<Node*> nodes;
  int64_t const_rank = 0;  // highest rank among the constants folded into `scale`
};
Product flatten_product(Value* root);
// True if the product's constants cannot broadcast `x` to a bigger shape.
bool keeps_shape(const Product& p, const Value* x);

// True for float, double, float16 and bfloat16 tensors.
bool is_float(const Value* x);

// mul = Mul(x, g) with g = `op_type`(...) used only here and x a float tensor other than g:
// calls `fn(x, gate)` (gate: g's producer) for each of the two ways to read the inputs; returns
// true as soon as `fn` does.
bool match_gated_mul(Node* mul, const char* op_type, const std::function<bool(Value* x, Node* gate)>& fn);

// y = scale * x * g, y the output of a Mul or Div `root` and x, g the two factors of its
// flattened product: calls `fn(x, g, product)` for each of the two ways to choose x among the
// factors such that x is a float tensor whose shape the product's constants keep and g is used
// once; returns true as soon as `fn` does (a gated activation x * g(x) was rewritten).
bool match_gated_product(Node* root, const std::function<bool(Value* x, Value* g, const Product& p)>& fn);

// The other input of a binary node, or nullptr if `v` is not one of its two inputs.
Value* other_input(const Node* n, const Value* v);

// For binary Add/Mul nodes: which operand is a scalar constant (returns its value) and the
// other operand; nullopt when neither is.
struct ScalarOperand {
  Value* other;
  double value;
};
std::optional<ScalarOperand> scalar_operand(const Node* n, const Value* like);

// The axes of a Reduce* node as negative numbers (needs the input's rank when the axes are
// non-negative; `rank` is used when the input's type does not say), requiring keepdims = 1 and
// explicit, constant axes; nullopt otherwise.
std::optional<std::vector<int64_t>> kept_reduce_axes(const Node* reduce, int64_t rank = -1);

// True if `axes` (negative, any order) are exactly the last axes.size() axes.
bool are_trailing(std::vector<int64_t> axes);

// True if `w` is a constant whose dims are exactly the last `k` dims of `x` (all static).
bool matches_trailing_dims(const Value* w, const Value* x, int64_t k);

// The static dims of the last `k` axes of `x`, or nullopt.
std::optional<std::vector<int64_t>> trailing_dims(const Value* x, int64_t k);

// State of one fusion pass over one graph.
struct FusionContext {
  Graph& g;
  NameGen& names;
  const char* pass_name;
  std::unordered_set<const Node*> removed;  // never dereferenced: addresses only
};

// Runs `try_fuse` on every node of every graph (subgraphs too), in order, skipping nodes an
// earlier rewrite removed; the rewrites are how many calls returned true.
PassResult fuse_everywhere(Model& m, const char* pass_name, const std::function<bool(FusionContext&, Node*)>& try_fuse);

// Rewriting: inserts `op_type` before `anchor` (the pattern's last node), makes its single
// output replace `replaced` (taking its name if it is a graph output), records provenance, then
// removes the `pattern` nodes that became unused. Returns the new node.
Node* replace_with_fused(FusionContext& cx, Node* anchor, Value* replaced, const std::string& op_type,
                         const std::vector<Value*>& inputs, std::vector<Attribute> attrs, const std::vector<Node*>& pattern);

// A float32 constant of ones with `dims`.
Value* ones_f32(FusionContext& cx, const std::string& base, const std::vector<int64_t>& dims);

}  // namespace irforge::passes::fusion

namespace irforge::passes::fusion {

// The single user of `v` if it is `op_type` in the default domain (and v is not a graph output).
Node* sole_user(const Value* v, const char* op_type);

// a when `sq` is Pow(a, 2) or Mul(a, a); nullptr otherwise.
Value* squared(Node* sq);

// n = a / sqrt(mean + eps), as exported: Div(a, Sqrt(ve)), a * Reciprocal(Sqrt(ve)),
// a * Div(1, Sqrt(ve)), a * Pow(ve, -0.5) or Div(a, Pow(ve, 0.5)), with ve = Add(mean, eps) or
// ve = mean (eps 0) and mean = ReduceMean(...); every intermediate used once.
struct Normalize {
  Value* numerator;
  Node* mean;  // the ReduceMean under the square root
  double eps;
  std::vector<Node*> nodes;  // n's producer down to (excluding) `mean`
};
std::optional<Normalize> match_normalize(Node* n);

// n = a / sqrt(mean(s^2) + eps): match_normalize whose ReduceMean reads a square of `squared`
// (see `squared`) used only by it; the core of LayerNormalization (a = s = x - mean(x), or
// two equal copies) and RMSNormalization (a = s = x). `square` is not in `nodes`.
struct SquareNormalize : Normalize {
  Value* squared;
  Node* square;
};
std::optional<SquareNormalize> match_square_normalize(Node* n);

// The elementwise affine tail of a normalization: when the single user of `out` is `op_type`
// (Mul: scale, Add: shift) and its other operand is a constant with x's last `k` dims, appends it
// to `pattern`, moves `last`/`out` to it and returns that operand; nullptr otherwise.
Value* absorb_trailing_operand(const char* op_type, const Value* x, int64_t k, std::vector<Node*>& pattern,
                               Node*& last, Value*& out);

// The {axis = -k, epsilon} attributes of LayerNormalization / RMSNormalization.
std::vector<Attribute> norm_attrs(int64_t k, double eps);

}  // namespace irforge::passes::fusion

namespace irforge::passes::fusion {

// clamp(a * x + b, lo, hi): the clamp as Clip (attributes or constant inputs), Min(Max(u, lo), hi),
// Max(Min(u, hi), lo) or Min(Relu(u), hi); the affine part as x*a+b, x/d+b, (x+b')*a, (x+b')/d,
// x+b, x*a or x. Every intermediate below `v` is used once.
struct AffineClamp {
  Value* x;
  double a = 1, b = 0, lo = 0, hi = 0;
  bool affine = false;  // an affine part was found (a != 1 or b != 0 is possible)
  std::vector<Node*> nodes;
};
std::optional<AffineClamp> match_affine_clamp(Value* v);

}  // namespace irforge::passes::fusion
