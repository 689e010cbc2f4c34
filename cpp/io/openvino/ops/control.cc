// Control-flow ONNX ops lowered to OpenVINO's sub-graph ops (see subgraph.h): If → If-8,
// Loop → Loop-5, Scan → Loop-5; Optional ops on plain tensors.
#include <limits>
#include <map>
#include <set>
#include <string>

#include "io/openvino/ops/subgraph.h"

namespace irforge::ov {

namespace {

const Graph& graph_attr(NodeContext& c, const char* name) {
  const Attribute* a = c.node().attr(name);
  if (!a || a->kind != AttrKind::kGraph || !a->g) c.unsupported(std::string("graph attribute '") + name + "' is required");
  return *a->g;
}

// OpenVINO has no sequence, map or optional values: bodies must carry plain tensors.
void require_tensors(NodeContext& c, const Graph& g) {
  for (const auto* list : {&g.inputs(), &g.outputs()})
    for (const Value* v : *list)
      if (v->type().known() && !v->type().is_tensor())
        c.unsupported("body value '" + v->name() + "' is a " + type_to_string(v->type()) +
                      "; OpenVINO sub-graphs carry only tensors");
}

// The rank of branch output `v` (lowered to `port` of `body`): the lowered port's, which is what
// OpenVINO merges (an ONNX type annotation can disagree with it), else from its ONNX type.
std::optional<size_t> branch_rank(const Value* v, const Body& body, PortRef port) {
  if (PShape s = body.shape(port)) return s->size();
  if (v && v->type().is_tensor() && v->type().shape) return v->type().shape->size();
  return std::nullopt;
}

// The graph inputs that value `v` is computed from (through enclosing graphs too), by name.
void inputs_behind(const Value* v, std::set<std::string>& names, std::set<const Value*>& seen) {
  if (!v || !seen.insert(v).second) return;
  if (v->is_graph_input() && !v->initializer()) names.insert(v->name());
  if (const Node* n = v->producer()) {
    // Shape and Size read only the static part of their input: OpenVINO folds them.
    if (n->domain().empty() && (n->op_type() == "Shape" || n->op_type() == "Size")) return;
    for (const Value* in : n->inputs()) inputs_behind(in, names, seen);
    // Values a branch body reads from outside are inputs of the node too.
    for (const Graph* g : n->subgraphs())
      for (const auto& inner : g->nodes())
        for (const Value* in : inner->inputs())
          if (in && in->graph() != g) inputs_behind(in, names, seen);
  }
}

// OpenVINO's CPU plugin refuses an If nested in another body whose output rank is dynamic, which
// is what branches of different ranks give: name the If and the inputs its condition depends on,
// to freeze. (A top-level one runs: ONNX's AffineGrid function has one, and it passes there.)
void require_same_ranks(NodeContext& c, const Graph& then_g, const Graph& else_g, const Body& then_b, const Body& else_b,
                        const std::vector<std::vector<PortRef>>& outs) {
  if (c.node().graph() == c.lowering().model().graph.get()) return;
  for (size_t i = 0; i < c.num_outputs(); ++i) {
    auto r_then = branch_rank(then_g.outputs()[i], then_b, outs[0][i]);
    auto r_else = branch_rank(else_g.outputs()[i], else_b, outs[1][i]);
    if (!r_then || !r_else || *r_then == *r_else) continue;
    std::set<std::string> names;
    std::set<const Value*> seen;
    inputs_behind(c.node().inputs()[0], names, seen);
    // A condition that reads no input's values (e.g. built from input shapes) is folded by
    // OpenVINO when the model is compiled, and the If with it.
    if (names.empty()) continue;
    std::string hint;
    for (const std::string& n : names) hint += (hint.empty() ? "" : " or ") + ("--input \"" + n + "->VALUE\"");
    c.unsupported("output " + std::to_string(i) + " has rank " + std::to_string(*r_then) + " in then_branch and " +
                  std::to_string(*r_else) + " in else_branch, and OpenVINO's CPU plugin cannot run an If whose output rank is "
                  "dynamic; " + (hint.empty() ? std::string("make its condition constant") : "freeze the input its condition depends on (" + hint + ")") +
                  " so that the If folds to one branch");
  }
}

void lower_if(NodeContext& c) {
  const Graph& then_g = graph_attr(c, "then_branch");
  const Graph& else_g = graph_attr(c, "else_branch");
  require_tensors(c, then_g);
  require_tensors(c, else_g);
  if (then_g.outputs().size() != c.num_outputs() || else_g.outputs().size() != c.num_outputs())
    c.unsupported("both branches must produce one value per output");
  Body then_b(c, &then_g), else_b(c, &else_g);
  Body* bodies[2] = {&then_b, &else_b};
  std::vector<PortRef> inputs = {c.input(0)};
  std::vector<std::vector<PortMapEntry>> maps(2);
  std::map<std::pair<int, int>, int> index;
  std::vector<std::vector<PortRef>> outs(2);
  for (int k = 0; k < 2; ++k) {
    add_captures(*bodies[k], inputs, maps[k], index);
    bodies[k]->lower();
    for (size_t i = 0; i < c.num_outputs(); ++i) outs[k].push_back(bodies[k]->output(i));
  }
  require_same_ranks(c, then_g, else_g, then_b, else_b, outs);
  // Branches may differ in shape (OpenVINO merges them) but not in element type.
  std::vector<ElemType> types;
  for (size_t i = 0; i < c.num_outputs(); ++i) {
    ElemType t = then_b.type(outs[0][i]);
    if (t == ElemType::kDynamic) t = else_b.type(outs[1][i]);
    types.push_back(t);
    for (int k = 0; k < 2; ++k) maps[k].push_back(map_output(static_cast<int>(i), bodies[k]->result(outs[k][i])));
  }
  std::vector<PortRef> ports = c.op_multi("If", "opset8", inputs, {}, types);
  attach(c, ports[0].layer, {&then_b, &else_b}, {"then_body", "else_body"}, {"then_port_map", "else_port_map"}, std::move(maps), {});
  for (size_t i = 0; i < ports.size(); ++i) c.set_output(i, ports[i]);
}

void lower_loop(NodeContext& c) {
  const Graph& g = graph_attr(c, "body");
  require_tensors(c, g);
  // M and cond are positional (possibly empty) inputs; fewer would wrap the count below.
  if (c.num_inputs() < 2) c.invalid("Loop takes M and cond (either may be empty) before its loop-carried values");
  size_t carried = c.num_inputs() - 2;
  if (g.inputs().size() != carried + 2 || g.outputs().size() < carried + 1)
    c.unsupported("the body must take (iteration, condition, carried...) and return (condition, carried..., scans...)");
  size_t scans = g.outputs().size() - 1 - carried;
  // Without M the loop runs until the condition turns false (-1: no limit); without a condition
  // it runs M times.
  PortRef trip = c.has_input(0) ? c.input(0) : c.scalar_i64(-1);
  PortRef cond = c.has_input(1) ? c.input(1) : c.scalar(ElemType::kBoolean, 1);
  LoopBuilder loop(c, trip, cond, &g);
  Body& b = loop.body();
  bool rank1 = value_rank(g.inputs()[0]) == 1;
  b.bind_input(0, loop.iteration(rank1 ? PShape(Ints{1}) : PShape(Ints{})));
  // The body only runs while the condition holds, so its condition input is always true.
  b.bind_input(1, value_rank(g.inputs()[1]) == 1 ? loop.b().const_bytes(ElemType::kBoolean, Ints{1}, {1}) : loop.b().scalar(ElemType::kBoolean, 1));
  std::vector<PortRef> params;
  for (size_t k = 0; k < carried; ++k) {
    const Value* v = g.inputs()[2 + k];
    params.push_back(loop.carried(c.input(2 + k), dynamic_dims(value_rank(v)), v->name()));
    b.bind_input(2 + k, params.back());
  }
  loop.capture();
  b.lower();
  loop.condition(b.output(0));
  for (size_t k = 0; k < carried; ++k) loop.carry(params[k], b.output(1 + k));
  // Scan outputs stack one element per iteration along a new axis 0.
  for (size_t j = 0; j < scans; ++j)
    loop.concat_output(loop.b().op("Unsqueeze", "opset1", {b.output(1 + carried + j), loop.b().const_i64({0})}), 0);
  std::vector<PortRef> ports = loop.finish();
  for (size_t i = 0; i < ports.size(); ++i) c.set_output(i, ports[i]);
}

// Scan axes and directions, axes already non-negative.
struct ScanSpec {
  Ints in_axes, in_dirs, out_axes, out_dirs;
};

// A Scan-9 over `states` and `scans` in the graph `c` builds into, as a Loop-5 running once per
// element of the scan axis: states are loop-carried, each iteration Gathers its element of every
// scan input, and scan outputs are concatenated along their axes. Returns the final states, then
// the scan outputs. (TensorIterator's own input slicing is avoided: the CPU plugin lets in-place
// body ops write into the slice buffer, which corrupts a state computed from it in place, e.g.
// state + slice * w.)
std::vector<PortRef> scan_loop(NodeContext& c, const Graph& g, const std::vector<PortRef>& states,
                               const std::vector<PortRef>& scans, const ScanSpec& s) {
  size_t n = states.size(), m = scans.size(), k_out = g.outputs().size() - n;
  // All scan inputs have the same length along their axes: the trip count.
  PortRef length = c.op("Gather", "opset8", {c.op("ShapeOf", "opset3", {scans[0]}, {{"output_type", "i64"}}, ElemType::kI64),
                                               c.scalar_i64(s.in_axes[0]), c.scalar_i64(0)});
  LoopBuilder loop(c, length, c.scalar(ElemType::kBoolean, 1), &g);
  Body& b = loop.body();
  NodeContext& bc = loop.b();
  PortRef iter = loop.iteration();
  std::vector<PortRef> params;
  for (size_t i = 0; i < n; ++i) {
    params.push_back(loop.carried(states[i], dynamic_dims(value_rank(g.inputs()[i])), g.inputs()[i]->name()));
    b.bind_input(i, params.back());
  }
  PortRef reverse_index;
  for (size_t j = 0; j < m; ++j) {
    PortRef index = iter;
    if (s.in_dirs[j] != 0) {
      if (!reverse_index.valid()) {
        PortRef last = loop.invariant(c.op("Subtract", "opset1", {length, c.scalar_i64(1)}, {{"auto_broadcast", "numpy"}}), Ints{}, "last_index");
        reverse_index = bc.op("Subtract", "opset1", {last, iter}, {{"auto_broadcast", "numpy"}});
      }
      index = reverse_index;
    }
    PortRef p = loop.invariant(scans[j], std::nullopt, g.inputs()[n + j]->name());
    // A scalar index removes the scanned axis, as the ONNX body expects.
    b.bind_input(n + j, bc.op("Gather", "opset8", {p, index, bc.scalar_i64(s.in_axes[j])}, {{"batch_dims", "0"}}));
  }
  loop.capture();
  b.lower();
  for (size_t i = 0; i < n; ++i) loop.carry(params[i], b.output(i));
  for (size_t j = 0; j < k_out; ++j)
    loop.concat_output(bc.op("Unsqueeze", "opset1", {b.output(n + j), bc.const_i64({s.out_axes[j]})}), s.out_axes[j]);
  std::vector<PortRef> ports = loop.finish();
  // Reverse scan outputs are built first-to-last, then flipped.
  for (size_t j = 0; j < k_out; ++j)
    if (s.out_dirs[j] != 0)
      ports[n + j] = c.op("Slice", "opset8", {ports[n + j], c.const_i64({-1}), c.const_i64({std::numeric_limits<int64_t>::min()}),
                                               c.const_i64({-1}), c.const_i64({s.out_axes[j]})});
  return ports;
}

Ints attr_or_zeros(NodeContext& c, const char* name, size_t count) {
  Ints v = c.attr_ints(name);
  if (v.empty()) v.assign(count, 0);
  if (v.size() != count) c.unsupported(std::string(name) + " must have one entry per scan input/output");
  return v;
}

// Rank of the per-iteration element of scan output j (body output n + j); `extra` is how many
// leading axes the node's output has beyond it.
std::optional<int64_t> scan_output_rank(NodeContext& c, const Graph& g, size_t n, size_t j, int64_t extra) {
  if (auto r = value_rank(g.outputs()[n + j])) return r;
  if (n + j < c.num_outputs())
    if (auto r = value_rank(c.node().output(n + j))) return *r - extra;
  return std::nullopt;
}

void lower_scan9(NodeContext& c, const Graph& g) {
  size_t m = static_cast<size_t>(c.attr_int("num_scan_inputs", 0));
  if (m == 0 || m > c.num_inputs()) c.unsupported("num_scan_inputs must be between 1 and the number of inputs");
  size_t n = c.num_inputs() - m;
  if (g.inputs().size() != n + m || g.outputs().size() < n) c.unsupported("the body's inputs and outputs do not match the node's");
  size_t k_out = g.outputs().size() - n;
  ScanSpec s{attr_or_zeros(c, "scan_input_axes", m), attr_or_zeros(c, "scan_input_directions", m),
             attr_or_zeros(c, "scan_output_axes", k_out), attr_or_zeros(c, "scan_output_directions", k_out)};
  std::vector<PortRef> states, scans;
  for (size_t i = 0; i < n; ++i) states.push_back(c.input(i));
  for (size_t j = 0; j < m; ++j) {
    std::optional<int64_t> rank = c.input_rank(n + j);
    if (s.in_axes[j] < 0 && !rank) c.unsupported("a negative scan_input_axes entry needs the input's rank");
    if (rank) s.in_axes[j] = norm_axis(s.in_axes[j], *rank);
    scans.push_back(c.input(n + j));
  }
  for (size_t j = 0; j < k_out; ++j) {
    std::optional<int64_t> rank = scan_output_rank(c, g, n, j, 1);
    if (s.out_axes[j] < 0 && !rank) c.unsupported("a negative scan_output_axes entry needs the output's rank");
    if (rank) s.out_axes[j] = norm_axis(s.out_axes[j], *rank + 1);
  }
  std::vector<PortRef> ports = scan_loop(c, g, states, scans, s);
  for (size_t i = 0; i < ports.size(); ++i) c.set_output(i, ports[i]);
}

// Scan-8 is batched: states are [batch, ...], scan inputs and outputs [batch, sequence, ...].
// An outer Loop over the batch runs the Scan-9 lowering on each batch element.
void lower_scan8(NodeContext& c, const Graph& g) {
  if (c.has_input(0)) c.unsupported("Scan-8 with sequence_lens (per-batch lengths) is not supported");
  size_t m = static_cast<size_t>(c.attr_int("num_scan_inputs", 0));
  if (m == 0 || m + 1 > c.num_inputs()) c.unsupported("num_scan_inputs must be between 1 and the number of inputs");
  size_t n = c.num_inputs() - 1 - m;
  if (g.inputs().size() != n + m || g.outputs().size() < n) c.unsupported("the body's inputs and outputs do not match the node's");
  size_t k_out = g.outputs().size() - n;
  ScanSpec s{Ints(m, 0), attr_or_zeros(c, "directions", m), Ints(k_out, 0), Ints(k_out, 0)};

  PortRef batch = c.op("Gather", "opset8", {c.op("ShapeOf", "opset3", {c.input(1 + n)}, {{"output_type", "i64"}}, ElemType::kI64),
                                              c.scalar_i64(0), c.scalar_i64(0)});
  // The batch loop's body reads one batch element of every input; the ONNX body's outer values
  // are captured into it first so that the inner (Scan-9) Loop can capture them from there.
  LoopBuilder loop(c, batch, c.scalar(ElemType::kBoolean, 1), &g);
  NodeContext& bc = loop.b();
  PortRef iter = loop.iteration();
  std::vector<PortRef> states, scans;
  for (size_t i = 0; i < n + m; ++i) {
    PortRef p = loop.invariant(c.input(1 + i), std::nullopt, g.inputs()[i]->name());
    (i < n ? states : scans).push_back(bc.op("Gather", "opset8", {p, iter, bc.scalar_i64(0)}, {{"batch_dims", "0"}}));
  }
  loop.capture();
  for (PortRef p : scan_loop(bc, g, states, scans, s)) loop.concat_output(bc.op("Unsqueeze", "opset1", {p, bc.const_i64({0})}), 0);
  std::vector<PortRef> outs = loop.finish();
  for (size_t i = 0; i < outs.size(); ++i) c.set_output(i, outs[i]);
}

void lower_scan(NodeContext& c) {
  const Graph& g = graph_attr(c, "body");
  require_tensors(c, g);
  if (c.opset() < 9) lower_scan8(c, g);
  else lower_scan9(c, g);
}

// OpenVINO has no optional type: an optional that holds a tensor is that tensor, an absent input
// is known to be empty at conversion time. Empty optionals and optional sequences cannot flow.
void require_tensor_input(NodeContext& c) {
  const Type& t = c.node().inputs()[0]->type();
  bool tensor = t.is_tensor() || (t.kind == Type::Kind::kOptional && t.elem && t.elem->is_tensor()) || !t.known();
  if (!tensor) c.unsupported("the input is a " + type_to_string(t) + "; OpenVINO has no sequence values");
}

void lower_optional(NodeContext& c) {
  if (!c.has_input(0)) c.unsupported("an empty optional has no OpenVINO representation");
  require_tensor_input(c);
  c.set_output(0, c.input(0));
}

void lower_optional_has_element(NodeContext& c) {
  if (c.has_input(0)) require_tensor_input(c);
  c.set_output(0, c.scalar(ElemType::kBoolean, c.has_input(0) ? 1 : 0));
}

void lower_optional_get_element(NodeContext& c) {
  if (!c.has_input(0)) c.unsupported("the optional is empty");
  require_tensor_input(c);
  c.set_output(0, c.input(0));
}

}  // namespace

void register_control_ops(LowerRegistry& r) {
  r.add("If", lower_if);
  r.add("Loop", lower_loop);
  r.add("Scan", lower_scan);
  r.add("Optional", lower_optional);
  r.add("OptionalHasElement", lower_optional_has_element);
  r.add("OptionalGetElement", lower_optional_get_element);
}

}  // namespace irforge::ov
