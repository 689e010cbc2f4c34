// Building OpenVINO sub-graph layers (If, Loop) from lowerings: a Body is an OvGraph with its own
// GraphLowering (to lower an ONNX body into it) and a NodeContext to build layers in it by hand;
// LoopBuilder assembles a Loop-5 layer: inputs, port map, back edges and outputs.
//
// ONNX bodies read values of enclosing graphs by name; OpenVINO bodies see only what the port
// map feeds them, so every such outer value becomes a body Parameter fed by an extra (invariant)
// input of the layer. Outer constants are re-created inside the body instead (the .bin writer
// recurses into bodies).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/openvino/lowering.h"

namespace irforge::ov {

// A Parameter shape of `rank` dynamic dims (dynamic rank when unknown).
PShape dynamic_dims(std::optional<int64_t> rank);
// The rank of a value from its ONNX type, when known.
std::optional<int64_t> value_rank(const Value* v);

PortMapEntry map_input(int external, int param);
PortMapEntry map_output(int external, int result);

class Body {
 public:
  // `onnx` is the ONNX body to lower into it, or null for a body built by hand.
  Body(NodeContext& outer, const Graph* onnx);

  // Builds layers inside the body.
  NodeContext& builder() { return b_; }
  PortRef parameter(ElemType t, const PShape& shape, const std::string& name);
  // A Parameter bound to ONNX body input i, of element type `t` (the value that feeds it).
  PortRef input_parameter(size_t i, ElemType t);
  void bind_input(size_t i, PortRef p);
  // Parameters for the non-constant outer values the ONNX body reads: (outer port, Parameter
  // layer). Their dims are left dynamic: OpenVINO re-infers them from the layer's inputs.
  std::vector<std::pair<PortRef, int>> capture();
  void lower();
  PortRef output(size_t i);  // ONNX body output i, once lowered
  int result(PortRef p);     // adds a Result; returns its layer id
  ElemType type(PortRef p) const { return graph_->port(p).type; }
  PShape shape(PortRef p) const { return graph_->port(p).shape; }
  std::unique_ptr<OvGraph> release() { return std::move(graph_); }

 private:
  NodeContext& outer_;
  const Graph* onnx_;
  std::unique_ptr<OvGraph> graph_;
  GraphLowering gl_;
  NodeContext b_;
};

// Invariant inputs for the outer values an ONNX body reads, appended to `inputs` (shared between
// the bodies of an If: `index` maps an outer port to its input).
void add_captures(Body& b, std::vector<PortRef>& inputs, std::vector<PortMapEntry>& map, std::map<std::pair<int, int>, int>& index);

// Moves the bodies and their port maps into the sub-graph layer `layer` of c's graph.
void attach(NodeContext& c, int layer, std::vector<Body*> bodies, std::vector<std::string> body_tags,
            std::vector<std::string> map_tags, std::vector<std::vector<PortMapEntry>> maps, std::vector<BackEdge> back);

// A Loop-5 under construction. Outputs are numbered in the order they are added.
class LoopBuilder {
 public:
  LoopBuilder(NodeContext& c, PortRef trip_count, PortRef condition, const Graph* onnx_body = nullptr);
  Body& body() { return body_; }
  NodeContext& b() { return body_.builder(); }
  // The current iteration number (i64 of `shape`: scalar or [1]).
  PortRef iteration(const PShape& shape = Ints{});
  // A Parameter reading `outer` in every iteration.
  PortRef invariant(PortRef outer, const PShape& shape, const std::string& name);
  // A loop-carried Parameter starting at `init`; give its next value with carry().
  PortRef carried(PortRef init, const PShape& shape, const std::string& name);
  // The next value of carried `param`; the layer outputs its final value (returns the index).
  size_t carry(PortRef param, PortRef next);
  // An output concatenating `v` of every iteration along `axis` (v has that axis, of size 1).
  size_t concat_output(PortRef v, int64_t axis);
  // Whether to run another iteration (default: always, up to the trip count).
  void condition(PortRef v);
  // Invariant inputs for the outer values the ONNX body reads.
  void capture();
  // Adds the Loop layer; returns its outputs.
  std::vector<PortRef> finish();

 private:
  NodeContext& c_;
  Body body_;
  std::vector<PortRef> inputs_;
  std::vector<PortMapEntry> map_;
  std::vector<BackEdge> back_;
  std::vector<ElemType> types_;
  std::map<std::pair<int, int>, int> captured_;
  bool has_condition_ = false;
};

}  // namespace irforge::ov
