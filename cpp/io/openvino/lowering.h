// Lowering ONNX-semantics nodes of the IR to OpenVINO opset layers. One function per ONNX op,
// grouped by family in io/openvino/ops/*.cc and registered in one explicit list
// (register_all_ops in lowering.cc). A lowering reads its node through NodeContext and builds
// layers with it; it never touches tensor bytes except small constant inputs (shapes, axes).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/openvino/ov_graph.h"
#include "ir/graph.h"

namespace irforge::ov {

struct LowerOptions {
  bool compress_to_fp16 = true;
};

class GraphLowering;

// A dynamic-or-static shape helper view of ints from a constant input.
using Ints = std::vector<int64_t>;

class NodeContext {
 public:
  NodeContext(GraphLowering& g, const Node& node, int64_t opset) : g_(g), node_(node), opset_(opset) {}

  const Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  const std::string& op_type() const { return node_.op_type(); }

  // ---- inputs ----
  size_t num_inputs() const { return node_.inputs().size(); }
  bool has_input(size_t i) const { return i < node_.inputs().size() && node_.inputs()[i] != nullptr; }
  // The OpenVINO port of input i (constants become Const layers, f32 weights compressible).
  PortRef input(size_t i);
  // Same, but a constant input keeps its precision (scales, shape-like float inputs).
  PortRef input_keep_precision(size_t i);
  // The tensor behind input i when it is a constant (initializer or Constant node), else null.
  const Tensor* const_input(size_t i) const;
  // Constant input i as a Const of other dims (same bytes, no Reshape layer); an invalid
  // PortRef when input i is not a constant or the element counts differ.
  PortRef const_input_as(size_t i, const Ints& dims);
  // Constant integer input (any int type) as int64 values; nullopt if not constant.
  std::optional<Ints> const_ints(size_t i) const;
  std::optional<std::vector<double>> const_floats(size_t i) const;
  ElemType type(PortRef p) const;
  PShape shape(PortRef p) const;
  // Rank of input i when known from the IR's type info.
  std::optional<int64_t> input_rank(size_t i) const;
  ElemType input_type(size_t i);

  // ---- attributes ----
  bool has_attr(const std::string& name) const { return node_.attr(name) != nullptr; }
  int64_t attr_int(const std::string& name, int64_t dflt) const { return node_.attr_int(name, dflt); }
  float attr_float(const std::string& name, float dflt) const { return node_.attr_float(name, dflt); }
  std::string attr_string(const std::string& name, const std::string& dflt = "") const { return node_.attr_string(name, dflt); }
  Ints attr_ints(const std::string& name) const { return node_.attr_ints(name); }
  std::vector<float> attr_floats(const std::string& name) const;
  // An attribute holding an ONNX element type (`to`, `output_dtype`, ...): nullopt when absent or
  // 0 (UNDEFINED); c.unsupported() naming the attribute when OpenVINO has no such type.
  std::optional<ElemType> attr_elem_type(const std::string& name) const;

  // ---- building ----
  using Attrs = std::vector<std::pair<std::string, std::string>>;
  // Adds a layer with one output; its type is `out` (kDynamic = same as the first input).
  PortRef op(const std::string& type, const std::string& version, const std::vector<PortRef>& inputs,
             const Attrs& attrs = {}, ElemType out = ElemType::kDynamic);
  // Adds a layer with several outputs of the given types.
  std::vector<PortRef> op_multi(const std::string& type, const std::string& version, const std::vector<PortRef>& inputs,
                                const Attrs& attrs, const std::vector<ElemType>& outs);
  // Small constants built by the lowering.
  PortRef const_i64(const Ints& values, std::optional<Ints> shape = std::nullopt);
  PortRef const_i32(const std::vector<int32_t>& values, std::optional<Ints> shape = std::nullopt);
  PortRef scalar_i64(int64_t v) { return const_i64({v}, Ints{}); }
  // A scalar of element type `t` holding `v` (converted).
  PortRef scalar(ElemType t, double v);
  PortRef const_f32(const std::vector<float>& values, std::optional<Ints> shape = std::nullopt);
  PortRef const_bytes(ElemType t, const Ints& shape, std::vector<uint8_t> bytes);
  // A Const layer named after `name` holding tensor `t` as it is, as element type `type` in `shape`
  // (a view of another constant's bytes, or bytes computed when the .bin is written).
  PortRef const_tensor(std::shared_ptr<const Tensor> t, ElemType type, const Ints& shape, const std::string& name);
  // `p` in the static shape `dims` (same element count) when `p` is a constant (a Const, or a
  // Const behind its decompression Convert): a new Const over the same bytes, so that no Reshape
  // and no shape constant reach the IR. nullopt when `p` is computed.
  std::optional<PortRef> reshaped_constant(PortRef p, const Ints& dims);
  PortRef convert(PortRef p, ElemType t);
  // Convert of `p`, which holds whole numbers within t's range (a clamped Round): converting its
  // result to another type later converts `p` itself, so a u8 Convert a consumer turns back
  // into f32 (DynamicQuantizeLinear → ConvInteger) costs no layers.
  PortRef convert_exact(PortRef p, ElemType t);
  // Convert `p` to the element type of `like` (ConvertLike).
  PortRef convert_like(PortRef p, PortRef like);

  void set_output(size_t i, PortRef p);
  bool output_used(size_t i) const;
  size_t num_outputs() const { return node_.num_outputs(); }

  // Throws Error(kUnsupported) naming the node.
  [[noreturn]] void unsupported(const std::string& why) const;
  // Throws Error(kInvalidModel) naming the model's file and the node: the node breaks a rule of
  // its op that the lowering would otherwise divide by or write into an IR the runtime refuses.
  [[noreturn]] void invalid(const std::string& why) const;

  OvGraph& graph();
  std::string layer_name();  // unique layer name derived from the node; call right before adding
  int first_layer() const { return first_layer_; }  // index of the first layer this node added
  // The lowering of the graph this node belongs to (sub-graph ops lower their bodies from it).
  GraphLowering& lowering() { return g_; }

 private:
  // The Const layer of const_tensor and const_bytes: `data` (a view or owned bytes) of element
  // type `type` in `shape`, named `name` (already unique).
  PortRef add_const_layer(std::shared_ptr<ConstData> data, ElemType type, const Ints& shape, const std::string& name);

  GraphLowering& g_;
  const Node& node_;
  int64_t opset_;
  int aux_ = 0;
  int first_layer_ = -1;
};

using LowerFn = std::function<void(NodeContext&)>;

class LowerRegistry {
 public:
  void add(const std::string& op_type, LowerFn fn, const std::string& domain = "") { fns_[{domain, op_type}] = std::move(fn); }
  const LowerFn* find(const std::string& domain, const std::string& op_type) const {
    auto it = fns_.find({domain, op_type});
    return it == fns_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> ops() const;

 private:
  std::map<std::pair<std::string, std::string>, LowerFn> fns_;
};

const LowerRegistry& lower_registry();

// Lowers the main graph of `model` into an OpenVINO graph.
std::unique_ptr<OvGraph> lower_model(const Model& model, const LowerOptions& options);

// Lowers one ONNX graph (the model graph or a subgraph body) into `out`. Values of enclosing
// graphs that the body uses must be bound with bind() before run().
class GraphLowering {
 public:
  GraphLowering(const Model& model, const LowerOptions& options, OvGraph& out) : model_(model), options_(options), out_(out) {}
  void bind(const Value* v, PortRef p) { ports_[v] = p; }
  // A body's lowering knows the Constant-node values of its enclosing graphs as constants too.
  void inherit_constants(const GraphLowering& outer) {
    constant_nodes_.insert(outer.constant_nodes_.begin(), outer.constant_nodes_.end());
    owned_tensors_.insert(owned_tensors_.end(), outer.owned_tensors_.begin(), outer.owned_tensors_.end());
  }
  // Parameters for graph inputs (if `make_parameters`), layers for nodes.
  void lower_nodes(const Graph& g);
  PortRef port_of(const Value* v);
  // A Const over `t`; `compressible` lets compress_to_fp16 store an f32 tensor as f16 (and
  // `bf16_too` a bf16 one) behind a decompression Convert.
  PortRef constant(const Tensor& t, bool compressible, const std::string& name, bool bf16_too = false);
  // A bf16 constant read as f32 (a Cast of a bf16 weight): with compress_to_fp16 it is stored as
  // f16 behind a decompression Convert to f32, like an f32 weight; else the plain bf16 Const.
  PortRef constant_bf16_as_f32(const Tensor& t, const std::string& name);
  OvGraph& out() { return out_; }
  const Model& model() const { return model_; }
  const LowerOptions& options() const { return options_; }
  std::string unique_name(const std::string& base);
  const Tensor* constant_tensor(const Value* v) const;
  // Another initializer of v's graph that holds v's values transposed (both 2-D), or null. Of
  // each such pair only the later one has a twin, the earlier one, so that a product reading
  // either refers to the earlier one (with its transpose flag flipped) and the weight is stored
  // once: TorchScript exports a tied LM head as a pre-transposed copy of the embedding.
  const Value* transposed_twin(const Value* v);

 private:
  friend class NodeContext;
  const Model& model_;
  const LowerOptions& options_;
  OvGraph& out_;
  std::unordered_map<const Value*, PortRef> ports_;
  std::unordered_map<const Value*, PortRef> const_ports_;       // keep-precision Const per value
  std::unordered_map<const Value*, PortRef> compressed_ports_;  // compressible Const (+Convert) per value
  std::unordered_map<const Value*, const Tensor*> constant_nodes_;  // outputs of Constant nodes
  std::unordered_map<std::string, int> names_;
  std::unordered_map<int, PortRef> exact_converts_;  // Convert layer id → its input (convert_exact)
  std::vector<std::shared_ptr<Tensor>> owned_tensors_;  // values of Constant nodes built here
  std::unordered_map<const Graph*, std::unordered_map<const Value*, const Value*>> twins_;  // per graph, built on demand
};

// Shared helpers for op families.
std::string join_ints(const Ints& v);
// A float attribute value exactly as OpenVINO parses it back ("%.9g"; std::to_string would
// print 1e-9 as 0.000000).
std::string fmt_float(double v);
// Normalizes a possibly negative axis against a rank.
int64_t norm_axis(int64_t axis, int64_t rank);

// Family registration functions (one per ops/*.cc file).
void register_elementwise_ops(LowerRegistry& r);
void register_nn_ops(LowerRegistry& r);
void register_conv_ops(LowerRegistry& r);
void register_matmul_ops(LowerRegistry& r);
void register_norm_ops(LowerRegistry& r);
void register_pool_ops(LowerRegistry& r);
void register_tensor_ops(LowerRegistry& r);
void register_indexing_ops(LowerRegistry& r);
void register_resize_ops(LowerRegistry& r);
void register_reduce_ops(LowerRegistry& r);
void register_control_ops(LowerRegistry& r);
void register_attention_ops(LowerRegistry& r);
void register_rnn_ops(LowerRegistry& r);
void register_loss_ops(LowerRegistry& r);
void register_misc_ops(LowerRegistry& r);
void register_quant_ops(LowerRegistry& r);
void register_quant_contrib_ops(LowerRegistry& r);
void register_signal_ops(LowerRegistry& r);
void register_ml_ops(LowerRegistry& r);
void register_training_ops(LowerRegistry& r);
void register_state_ops(LowerRegistry& r);
void register_ms_transformer_ops(LowerRegistry& r);  // com.microsoft transformers-optimizer ops
void register_detection_ops(LowerRegistry& r);
void register_multiclass_nms_ops(LowerRegistry& r);  // ops/multiclass_nms.cc (Paddle's multiclass_nms3)

}  // namespace irforge::ov
