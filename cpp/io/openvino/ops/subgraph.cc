#include "io/openvino/ops/subgraph.h"

#include <functional>
#include <unordered_set>

namespace irforge::ov {

namespace {

void collect_graphs(const Graph& g, std::unordered_set<const Graph*>& out) {
  out.insert(&g);
  for (const auto& n : g.nodes())
    for (Graph* s : n->subgraphs()) collect_graphs(*s, out);
}

// Values of enclosing graphs that `body` (or a body nested in it) reads, in first-use order.
std::vector<const Value*> outer_values(const Graph& body) {
  std::unordered_set<const Graph*> inside;
  collect_graphs(body, inside);
  std::vector<const Value*> out;
  std::unordered_set<const Value*> seen;
  auto visit = [&](const Value* v) {
    if (v && !inside.count(v->graph()) && seen.insert(v).second) out.push_back(v);
  };
  std::function<void(const Graph&)> walk = [&](const Graph& g) {
    for (const auto& n : g.nodes()) {
      for (const Value* v : n->inputs()) visit(v);
      for (Graph* s : n->subgraphs()) walk(*s);
    }
    for (const Value* v : g.outputs()) visit(v);
  };
  walk(body);
  return out;
}

}  // namespace

std::optional<int64_t> value_rank(const Value* v) {
  const Type& t = v->type();
  if (t.is_tensor() && t.shape) return static_cast<int64_t>(t.shape->size());
  return std::nullopt;
}

PShape dynamic_dims(std::optional<int64_t> rank) {
  if (!rank) return std::nullopt;
  return std::vector<int64_t>(static_cast<size_t>(*rank), -1);
}

PortMapEntry map_input(int external, int param) {
  PortMapEntry e;
  e.is_input = true;
  e.external_port = external;
  e.internal_layer_id = param;
  return e;
}

PortMapEntry map_output(int external, int result) {
  PortMapEntry e;
  e.is_input = false;
  e.external_port = external;
  e.internal_layer_id = result;
  return e;
}

// ---- Body ---------------------------------------------------------------------------------------

Body::Body(NodeContext& outer, const Graph* onnx)
    : outer_(outer), onnx_(onnx), graph_(std::make_unique<OvGraph>()),
      gl_(outer.lowering().model(), outer.lowering().options(), *graph_), b_(gl_, outer.node(), outer.opset()) {
  gl_.inherit_constants(outer.lowering());
}

PortRef Body::parameter(ElemType t, const PShape& shape, const std::string& name) {
  Layer& l = graph_->add("Parameter", "opset1", gl_.unique_name(name));
  std::string s = "...";
  if (shape) {
    s.clear();
    for (size_t i = 0; i < shape->size(); ++i) s += (i ? "," : "") + ((*shape)[i] < 0 ? std::string("?") : std::to_string((*shape)[i]));
  }
  l.data = {{"shape", s}, {"element_type", elem_name(t)}};
  OutPort p;
  p.type = t;
  p.shape = shape;
  l.outputs.push_back(p);
  return PortRef{l.id, 0};
}

PortRef Body::input_parameter(size_t i, ElemType t) {
  const Value* v = onnx_->inputs()[i];
  PortRef p = parameter(t, dynamic_dims(value_rank(v)), v->name());
  bind_input(i, p);
  return p;
}

void Body::bind_input(size_t i, PortRef p) { gl_.bind(onnx_->inputs()[i], p); }

std::vector<std::pair<PortRef, int>> Body::capture() {
  std::vector<std::pair<PortRef, int>> out;
  if (!onnx_) return out;
  GraphLowering& outer = outer_.lowering();
  for (const Value* v : outer_values(*onnx_)) {
    if (outer.constant_tensor(v)) continue;  // re-created as a Const inside the body
    PortRef src = outer.port_of(v);
    const OutPort& port = outer.out().port(src);
    std::optional<int64_t> rank = value_rank(v);
    if (!rank && port.shape) rank = static_cast<int64_t>(port.shape->size());
    PortRef p = parameter(port.type, dynamic_dims(rank), v->name());
    gl_.bind(v, p);
    out.push_back({src, p.layer});
  }
  return out;
}

void Body::lower() { gl_.lower_nodes(*onnx_); }

PortRef Body::output(size_t i) { return gl_.port_of(onnx_->outputs()[i]); }

int Body::result(PortRef p) {
  Layer& r = graph_->add("Result", "opset1", b_.layer_name());
  r.inputs = {p};
  return r.id;
}

void add_captures(Body& b, std::vector<PortRef>& inputs, std::vector<PortMapEntry>& map, std::map<std::pair<int, int>, int>& index) {
  for (auto [src, param] : b.capture()) {
    auto key = std::make_pair(src.layer, src.port);
    auto it = index.find(key);
    if (it == index.end()) {
      it = index.emplace(key, static_cast<int>(inputs.size())).first;
      inputs.push_back(src);
    }
    map.push_back(map_input(it->second, param));
  }
}

void attach(NodeContext& c, int layer, std::vector<Body*> bodies, std::vector<std::string> body_tags,
            std::vector<std::string> map_tags, std::vector<std::vector<PortMapEntry>> maps, std::vector<BackEdge> back) {
  Layer& l = c.graph().layers[layer];
  for (Body* b : bodies) {
    l.bodies.push_back(b->release());
    l.back_edges.push_back(back);
  }
  l.body_tags = std::move(body_tags);
  l.port_map_tags = std::move(map_tags);
  l.port_maps = std::move(maps);
}

// ---- LoopBuilder --------------------------------------------------------------------------------

LoopBuilder::LoopBuilder(NodeContext& c, PortRef trip_count, PortRef condition, const Graph* onnx_body)
    : c_(c), body_(c, onnx_body), inputs_{trip_count, condition} {}

PortRef LoopBuilder::iteration(const PShape& shape) {
  PortRef p = body_.parameter(ElemType::kI64, shape, "iteration");
  PortMapEntry e = map_input(-1, p.layer);
  e.purpose = 1;
  map_.push_back(e);
  return p;
}

PortRef LoopBuilder::invariant(PortRef outer, const PShape& shape, const std::string& name) {
  PortRef p = body_.parameter(c_.type(outer), shape, name);
  map_.push_back(map_input(static_cast<int>(inputs_.size()), p.layer));
  inputs_.push_back(outer);
  return p;
}

PortRef LoopBuilder::carried(PortRef init, const PShape& shape, const std::string& name) {
  // A merged input: the same port-map entry as an invariant one, plus the back edge carry() adds.
  return invariant(init, shape, name);
}

size_t LoopBuilder::carry(PortRef param, PortRef next) {
  int r = body_.result(next);
  back_.push_back(BackEdge{r, 0, param.layer});
  map_.push_back(map_output(static_cast<int>(types_.size()), r));
  types_.push_back(body_.type(next));
  return types_.size() - 1;
}

size_t LoopBuilder::concat_output(PortRef v, int64_t axis) {
  PortMapEntry e = map_output(static_cast<int>(types_.size()), body_.result(v));
  e.axis = axis;
  e.start = 0;
  e.end = -1;
  e.stride = 1;
  e.part_size = 1;
  map_.push_back(e);
  types_.push_back(body_.type(v));
  return types_.size() - 1;
}

void LoopBuilder::condition(PortRef v) {
  PortMapEntry e = map_output(-1, body_.result(v));
  e.purpose = 2;
  map_.push_back(e);
  has_condition_ = true;
}

void LoopBuilder::capture() { add_captures(body_, inputs_, map_, captured_); }

std::vector<PortRef> LoopBuilder::finish() {
  if (!has_condition_) condition(b().scalar(ElemType::kBoolean, 1));
  std::vector<PortRef> ports = c_.op_multi("Loop", "opset5", inputs_, {}, types_);
  attach(c_, ports[0].layer, {&body_}, {"body"}, {"port_map"}, {std::move(map_)}, std::move(back_));
  return ports;
}

}  // namespace irforge::ov
