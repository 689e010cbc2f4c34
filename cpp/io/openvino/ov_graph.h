// The OpenVINO-side graph the lowering builds and the XML/BIN writers serialize: layers with
// typed output ports, edges implied by input port references, constants whose bytes are views
// (converted to fp16 or other types only while streaming the .bin).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/dtype.h"
#include "ir/tensor.h"

namespace irforge::ov {

// OpenVINO element types the writer emits (names as in IR `element_type`).
enum class ElemType : uint8_t {
  kUndefined, kDynamic, kBoolean, kBf16, kF16, kF32, kF64, kI4, kI8, kI16, kI32, kI64,
  kU1, kU4, kU8, kU16, kU32, kU64, kF8E4M3, kF8E5M2, kF4E2M1, kF8E8M0, kString,
};

const char* elem_name(ElemType t);       // "f32"
const char* elem_precision(ElemType t);  // "FP32"
size_t elem_bits(ElemType t);
// ONNX element type → OpenVINO; nullopt when OpenVINO has no such type.
std::optional<ElemType> from_onnx(DataType t);
bool is_float(ElemType t);
bool is_integer(ElemType t);

// A possibly dynamic shape: nullopt rank = dynamic rank; a dim of -1 = dynamic.
using PShape = std::optional<std::vector<int64_t>>;

struct PortRef {
  int layer = -1;
  int port = 0;  // output index of that layer
  bool valid() const { return layer >= 0; }
};

struct OutPort {
  ElemType type = ElemType::kDynamic;
  PShape shape;
  std::vector<std::string> names;  // tensor names
};

// How a Const's bytes reach the .bin.
struct ConstData {
  std::shared_ptr<const Tensor> tensor;  // source bytes (a view), or nullptr when `owned` is used
  std::vector<uint8_t> owned;            // small constants created by the lowering
  ElemType source_type = ElemType::kF32;
  bool compress_to_f16 = false;  // f32 weight that may be stored as f16 + Convert
  // Filled by the .bin writer.
  uint64_t offset = 0, size = 0;
  ElemType stored_type = ElemType::kF32;
  const uint8_t* data() const { return tensor ? tensor->data() : owned.data(); }
  size_t nbytes() const { return tensor ? tensor->nbytes() : owned.size(); }
};

struct OvGraph;

// One <input>/<output> of a sub-graph layer's port map.
struct PortMapEntry {
  bool is_input = true;
  int external_port = 0;      // the layer's input or output index; -1 for Loop's special ports
  int internal_layer_id = 0;  // the body's Parameter (input) or Result (output)
  int64_t axis = -1;  // concatenated/sliced axis for TensorIterator-style maps; -1 = none
  int64_t start = 0, stride = 1, part_size = 1, end = -1;
  int purpose = 0;  // 0 none, 1 current_iteration, 2 execution_condition (Loop)
};

// Loop/TensorIterator: the body Result whose value feeds a body Parameter in the next iteration.
struct BackEdge {
  int from_layer = 0, from_port = 0, to_layer = 0;
};

struct Layer {
  int id = 0;
  std::string name, type, version;
  std::vector<std::pair<std::string, std::string>> data;  // <data> attributes in order
  std::vector<PortRef> inputs;
  std::vector<OutPort> outputs;
  std::vector<std::string> rt_info;  // raw <attribute .../> elements
  std::shared_ptr<ConstData> constant;  // Const layers
  // A Convert marked as decompression, emitted after a compressible Const: when the .bin writer
  // keeps that constant in f32 the XML writer leaves this layer out and wires its users to the
  // Const directly.
  bool decompression_convert = false;
  // Sub-graph ops: Loop/TensorIterator have one <body> with <port_map> and <back_edges>; If has
  // <then_body>/<else_body> with <then_port_map>/<else_port_map>. Tags name the XML elements.
  std::vector<std::unique_ptr<OvGraph>> bodies;
  std::vector<std::string> body_tags;                 // e.g. "body", "then_body"
  std::vector<std::string> port_map_tags;             // e.g. "port_map", "then_port_map"
  std::vector<std::vector<PortMapEntry>> port_maps;   // one per body
  std::vector<std::vector<BackEdge>> back_edges;      // one per body (empty for If)
};

struct OvGraph {
  std::vector<Layer> layers;
  Layer& add(std::string type, std::string version, std::string name) {
    layers.emplace_back();
    Layer& l = layers.back();
    l.id = static_cast<int>(layers.size()) - 1;
    l.type = std::move(type);
    l.version = std::move(version);
    l.name = std::move(name);
    return l;
  }
  const OutPort& port(PortRef r) const { return layers[r.layer].outputs[r.port]; }
  OutPort& port(PortRef r) { return layers[r.layer].outputs[r.port]; }
};

// Removes layers whose outputs reach no Result (in `g` and, recursively, in sub-graph bodies)
// and renumbers the rest in order. Parameters and output-less layers (Result) always stay. A
// lowering may build a layer it ends up bypassing (a Transpose folded into a MatMul, a constant
// re-created in another shape); pruning keeps such layers, and their constants, out of the IR.
// Returns the number of layers removed.
size_t prune_dead_layers(OvGraph& g);

}  // namespace irforge::ov
