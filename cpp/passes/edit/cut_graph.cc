#include "passes/edit/cut_graph.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "passes/pass_manager.h"
#include "passes/util.h"
#include "support/usage_error.h"

namespace irforge::passes {

namespace {

std::string where(const Model& m) { return m.source_path.empty() ? std::string("model") : m.source_path; }

// Every tensor of the main graph by name: inputs, initializers, node outputs.
std::unordered_map<std::string, Value*> tensors_by_name(Graph& g) {
  std::unordered_map<std::string, Value*> out;
  for (Value* v : g.inputs()) out.emplace(v->name(), v);
  for (Value* v : g.initializers()) out.emplace(v->name(), v);
  for (const auto& n : g.nodes())
    for (size_t k = 0; k < n->num_outputs(); ++k)
      if (!n->output(k)->name().empty()) out.emplace(n->output(k)->name(), n->output(k));
  return out;
}

// Values of `outer` that a subgraph (at any depth) reads: captures keep their producers alive.
void captured_values(const Graph& sub, const Graph& outer, std::vector<Value*>& out) {
  for (const auto& n : sub.nodes()) {
    for (Value* v : n->inputs())
      if (v && v->graph() == &outer) out.push_back(v);
    for (Graph* s : n->subgraphs()) captured_values(*s, outer, out);
  }
  for (Value* v : sub.outputs())
    if (v->graph() == &outer) out.push_back(v);
}

// Nodes and graph inputs `outputs` depend on; the walk stops at `stops` (the cut tensors), which
// count as inputs when reached.
void reachable(Graph& g, const std::vector<Value*>& outputs, const std::unordered_set<const Value*>& stops,
               std::unordered_set<const Node*>& nodes, std::unordered_set<const Value*>& inputs) {
  std::vector<Value*> work(outputs.begin(), outputs.end());
  while (!work.empty()) {
    Value* v = work.back();
    work.pop_back();
    Node* p = v->producer();
    if (stops.count(v)) {
      inputs.insert(v);
      continue;
    }
    if (!p) {
      if (v->is_graph_input() && !v->initializer()) inputs.insert(v);
      continue;
    }
    if (!nodes.insert(p).second) continue;
    for (Value* in : p->inputs())
      if (in) work.push_back(in);
    for (Graph* s : p->subgraphs()) captured_values(*s, g, work);
  }
}

bool is_constant_value(const Value* v) {
  return (v->initializer() || v->sparse_initializer()) && !v->is_graph_input();
}

}  // namespace

void cut_graph(Model& model, const std::vector<CutInput>& cut_inputs, const std::vector<std::string>& keep_inputs,
               const std::vector<std::string>& outputs, const std::vector<std::string>& input_order) {
  if (!model.graph) fail_usage(where(model) + ": the model has no graph to cut");
  Graph& g = *model.graph;
  std::string input_list;
  for (Value* in : g.inputs())
    if (!in->initializer()) input_list += (input_list.empty() ? "" : ", ") + in->name();
  auto lookup = [&](const std::unordered_map<std::string, Value*>& all, const std::string& name, const char* option) {
    auto it = all.find(name);
    if (it == all.end())
      fail_usage(where(model) + ": " + option + " '" + name + "': the model has no " + option + " '" + name +
                 "' and no tensor of that name (graph inputs, node outputs); its inputs are: " + input_list);
    return it->second;
  };

  auto all = tensors_by_name(g);

  // Check every name before changing anything.
  std::vector<Value*> new_outputs;
  std::unordered_set<const Value*> seen_outputs;
  for (const std::string& name : outputs) {
    Value* v = lookup(all, name, "output");
    if (is_constant_value(v)) fail_usage(where(model) + ": output '" + name + "': is a constant (initializer), nothing computes it");
    if (!seen_outputs.insert(v).second) fail_usage(where(model) + ": output '" + name + "' is given twice");
    new_outputs.push_back(v);
  }
  std::vector<Value*> cut_values;
  std::vector<DataType> cut_inputs_types;
  std::unordered_set<const Value*> kept;
  for (const std::string& name : keep_inputs) {
    Value* v = lookup(all, name, "input");
    if (!v->is_graph_input()) fail_usage(where(model) + ": input '" + name + "': is not a model input");
    kept.insert(v);
  }
  for (const CutInput& c : cut_inputs) {
    Value* v = lookup(all, c.name, "input");
    if (v->is_graph_input()) {
      kept.insert(v);
      continue;
    }
    if (is_constant_value(v)) fail_usage(where(model) + ": input '" + c.name + "': is a constant (initializer), not a tensor to cut at");
    if (std::find(cut_values.begin(), cut_values.end(), v) != cut_values.end())
      fail_usage(where(model) + ": input '" + c.name + "' is given twice");
    const Type& t = v->type();
    if (t.known() && !t.is_tensor())
      fail_usage(where(model) + ": input '" + c.name + "': is not a tensor (" + type_to_string(t) + "); only tensors can become inputs");
    if (seen_outputs.count(v) || (outputs.empty() && v->is_graph_output()))
      fail_usage(where(model) + ": input '" + c.name + "': the model has no input '" + c.name +
                 "'; it is an output, and a cut there would leave nothing to compute for it; its inputs are: " + input_list);
    cut_values.push_back(v);
    cut_inputs_types.push_back(c.type);
  }

  // Whether the cut separates the graph, decided before anything changes.
  std::unordered_set<const Node*> needed;
  std::unordered_set<const Value*> needed_inputs;
  std::unordered_set<const Value*> stops(cut_values.begin(), cut_values.end());
  reachable(g, new_outputs.empty() ? g.outputs() : new_outputs, stops, needed, needed_inputs);
  for (size_t i = 0; i < cut_values.size(); ++i)
    if (!needed_inputs.count(cut_values[i]))
      fail_usage(where(model) + ": input '" + cut_values[i]->name() +
                 "': no output depends on it (another cut input lies between it and the outputs, or it feeds none of them)");
  for (const Value* in : kept)
    if (!needed_inputs.count(in)) fail_usage(where(model) + ": input '" + in->name() + "': no output depends on it after the cut");
  if (!cut_values.empty()) {
    for (Value* in : g.inputs())
      if (needed_inputs.count(in) && !kept.count(in) && !stops.count(in)) {
        std::string cuts;
        for (const Value* c : cut_values) cuts += (cuts.empty() ? "" : ", ") + c->name();
        fail_usage(where(model) + ": input " + cuts + " does not separate the graph: the outputs still need the model input '" +
                   in->name() + "'; name it in input too, or cut where it no longer reaches");
      }
  }

  // A cut tensor of unknown type: the model's shape inference may know it (it only annotates).
  auto type_unknown = [](const Value* v) { return !v->type().is_tensor() || v->type().elem_type == DataType::kUndefined; };
  bool unknown = false;
  for (size_t i = 0; i < cut_values.size(); ++i) unknown |= type_unknown(cut_values[i]) && cut_inputs_types[i] == DataType::kUndefined;
  if (unknown) run_pipeline(model, "infer-shapes", PipelineOptions{});
  for (size_t i = 0; i < cut_values.size(); ++i)
    if (type_unknown(cut_values[i]) && cut_inputs_types[i] == DataType::kUndefined)
      fail_usage(where(model) + ": input '" + cut_values[i]->name() + "': its element type is unknown; give it, e.g. '" +
                 cut_values[i]->name() + "{f32}'");

  if (!new_outputs.empty()) {
    g.clear_outputs();
    for (Value* v : new_outputs) g.add_output(v);
  }
  NameGen names(model);
  for (size_t i = 0; i < cut_values.size(); ++i) {
    Value* v = cut_values[i];
    Type t = v->type();
    if (!t.is_tensor() || t.elem_type == DataType::kUndefined) {
      Type given = Type::tensor(cut_inputs_types[i]);
      if (t.is_tensor()) given.shape = t.shape;
      t = std::move(given);
    }
    std::string name = v->name();
    v->set_name(names.fresh(name + "__before_cut"));
    Value* in = g.add_input(name, std::move(t));
    g.replace_all_uses(v, in);
    needed_inputs.insert(in);
  }

  // Remove what no output needs, users before producers.
  std::vector<Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  for (auto it = order.rbegin(); it != order.rend(); ++it)
    if (!needed.count(*it)) g.remove_node(*it);
  std::vector<Value*> drop;
  for (Value* in : g.inputs())
    if (!needed_inputs.count(in) && !in->initializer() && !in->has_uses() && !in->is_graph_output()) drop.push_back(in);
  for (Value* v : g.initializers())
    if (!v->has_uses() && !v->is_graph_output()) drop.push_back(v);
  for (Value* v : drop) g.remove_value(v);
  std::vector<Value*> given_order;
  for (const std::string& name : input_order)
    for (Value* in : g.inputs())
      if (in->name() == name) given_order.push_back(in);
  g.reorder_inputs(given_order);
}

}  // namespace irforge::passes
