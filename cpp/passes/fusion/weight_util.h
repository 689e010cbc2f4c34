// Helpers shared by the weight fusions (fuse-batchnorm-into-linear, fuse-mul-add-into-linear,
// fuse-pad-into-conv, fuse-split-convs): float32 constants as vectors, ranks from the IR
// types, and the "may I rewrite this weight" question.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/util.h"

namespace irforge::passes::fusion {

// The values of a float32 constant (initializer or Constant node); nullopt otherwise.
std::optional<std::vector<float>> f32_constant(const Value* v);
// Whether v is a dense f32 constant, without reading its values.
bool is_f32_constant(const Value* v);
// The dims of a float32 constant; nullopt when `v` is not one.
std::optional<std::vector<int64_t>> f32_constant_dims(const Value* v);

// The rank the IR type states for `v`, -1 when unknown.
int64_t known_rank(const Value* v);
// True when `v` is a float32 tensor by its IR type.
bool is_f32(const Value* v);

// True when every use of `v` is by `user` (any input slots) and `v` is not a graph output:
// rewriting `v` for `user` then cannot change what anyone else reads.
bool used_only_by(const Value* v, const Node* user);

// The node producing `v` when it is in the same graph as `user`; nullptr for graph inputs,
// constants and values a subgraph captures from an enclosing graph (rewriting those from inside
// the subgraph would edit the wrong graph).
Node* local_producer(const Value* v, const Node* user);

// True when `n` is an ONNX-domain node of type `op`.
bool is_op(const Node* n, const char* op);

// A channel vector behind a broadcastable constant: the constant has rank <= `out_rank` and all
// its dims are 1 except (optionally) the one aligned with axis `axis` of the output (axis counted
// in the output's rank). Returns `channels` values (a size-1 dim is repeated), or nullopt when
// the constant varies along any other axis or has an incompatible length.
std::optional<std::vector<float>> per_axis_values(const Value* c, int64_t out_rank, int64_t axis, int64_t channels);

// A Conv, ConvTranspose, Gemm or 2-D-weight MatMul whose float32 weight (and bias, when it has
// one) are constants that no other node reads, so they may be replaced by rewritten copies.
// With `shared_ok`, others may read them too: for a fusion that only adds a new bias (the
// branches of an If each holding a Gemm of one captured weight and bias).
struct LinearOp {
  Node* node = nullptr;
  int64_t out_channels = 0;  // Conv: M; ConvTranspose: (W dim 1) * group; Gemm/MatMul: N
  int64_t in_channels = 0;   // Conv: (W dim 1) * group; ConvTranspose: W dim 0; Gemm/MatMul: K
  std::vector<int64_t> weight_dims;
};
std::optional<LinearOp> linear_op(Node* n, bool shared_ok = false);

// The weight with every element scaled by s[channel], channel = its output channel
// (`output` = true) or its input channel. Computed in double, rounded once to float.
std::vector<float> scaled_weight(const LinearOp& op, bool output, const std::vector<double>& s);
// The bias the op adds per output channel (Gemm: beta * C; none: zeros).
std::vector<double> effective_bias(const LinearOp& op);
// Whether the op can hold a bias (MatMul cannot).
bool has_bias_slot(const LinearOp& op);
// set_weight(scaled_weight(...)), but a large weight initializer is scaled lazily: the new
// weight is computed from the old one while the writer streams it (passes/fold/lazy_weights.h).
void set_scaled_weight(Graph& g, NameGen& names, const LinearOp& op, bool output, const std::vector<double>& s);
// Replace the op's weight / bias by new float32 initializers (Gemm: C = bias, beta = 1).
void set_weight(Graph& g, NameGen& names, const LinearOp& op, const std::vector<float>& w);
void set_bias(Graph& g, NameGen& names, const LinearOp& op, const std::vector<double>& b);

// Detaches `consumer` (a node reading `kept`) and lets `kept` stand for `consumer`'s output 0
// everywhere (taking over its name when it is a graph output), then removes `consumer`.
// `kept` must be a node output used only by `consumer`; its other outputs must be unused.
void absorb_consumer(Graph& g, Value* kept, Node* consumer);

}  // namespace irforge::passes::fusion
