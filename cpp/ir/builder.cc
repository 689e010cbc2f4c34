#include "ir/builder.h"

#include <algorithm>
#include <cstring>

#include "ir/validate_ops.h"
#include "ir/verifier.h"
#include "support/error.h"

namespace irforge {

namespace {

// The same limits the ONNX reader enforces, so a frontend cannot build what a file may not hold.
constexpr size_t kMaxRank = 64;
constexpr uint64_t kMaxElements = uint64_t{1} << 40;

bool graph_encloses(const Graph* outer, const Graph* g) {
  for (; g; g = g->parent())
    if (g == outer) return true;
  return false;
}

}  // namespace

Builder::Builder(std::string source) : model_(std::make_unique<Model>()) {
  model_->graph = std::make_unique<Graph>();
  model_->source_path = std::move(source);
  model_->ir_version = 10;
  model_->producer_name = "irforge";
}

Builder::~Builder() = default;

std::string Builder::unique_name(const std::string& wanted) {
  std::string base = wanted.empty() ? "v" : wanted;
  if (names_.insert(base).second) return base;
  for (size_t k = 1;; ++k) {
    std::string candidate = base + "_" + std::to_string(k);
    if (names_.insert(candidate).second) return candidate;
  }
}

void Builder::check_visible(Graph& g, Value* v, const std::string& what) {
  if (!v) return;
  if (!graph_encloses(v->graph(), &g))
    fail_invalid(model_->source_path + ": " + what + " uses value '" + v->name() +
                 "', which is not defined in this graph or an enclosing one");
}

Value* Builder::input(Graph& g, const std::string& name, Type type) {
  if (type.shape && type.shape->size() > kMaxRank)
    fail(ErrorKind::kResourceLimit, model_->source_path + ": input '" + name + "' has " +
                                        std::to_string(type.shape->size()) + " dims; at most 64 are accepted");
  return g.add_input(unique_name(name), std::move(type));
}

Value* Builder::constant(Graph& g, const std::string& name, DataType dtype, std::vector<int64_t> dims,
                         std::shared_ptr<const Storage> storage, size_t offset) {
  const std::string where = model_->source_path + ": constant '" + name + "'";
  if (!is_known_dtype(static_cast<int32_t>(dtype)) || dtype == DataType::kUndefined || dtype == DataType::kString)
    fail_invalid(where + " has element type " + dtype_name(dtype) + ", which cannot be a raw-byte constant");
  if (dims.size() > kMaxRank)
    fail(ErrorKind::kResourceLimit, where + " has " + std::to_string(dims.size()) + " dims; at most 64 are accepted");
  uint64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) fail_invalid(where + " has a negative dim " + std::to_string(d));
    if (d != 0 && count > kMaxElements / static_cast<uint64_t>(d))
      fail(ErrorKind::kResourceLimit, where + " has more than 2^40 elements");
    count *= static_cast<uint64_t>(d);
  }
  auto nbytes = raw_bytes_for(dtype, count);
  if (!nbytes) fail(ErrorKind::kResourceLimit, where + ": its byte size overflows");
  if (!storage && *nbytes != 0) fail_invalid(where + " has no storage for its " + std::to_string(*nbytes) + " bytes");
  size_t available = storage ? storage->size() : 0;
  if (offset > available || *nbytes > available - offset)
    fail_invalid(where + " needs bytes [" + std::to_string(offset) + ", " + std::to_string(offset + *nbytes) +
                 ") but its storage holds " + std::to_string(available) + " bytes");
  auto tensor = std::make_shared<Tensor>(unique_name(name), dtype, std::move(dims));
  tensor->set_view(std::move(storage), offset, static_cast<size_t>(*nbytes));
  return g.add_initializer(std::move(tensor));
}

Value* Builder::owned_constant(Graph& g, const std::string& name, DataType dtype, std::vector<int64_t> dims,
                               std::vector<uint8_t> bytes) {
  auto storage = std::make_shared<OwnedStorage>(std::move(bytes));
  return constant(g, name, dtype, std::move(dims), std::move(storage), 0);
}

namespace {

// Packs typed values into the raw little-endian bytes a constant holds, after checking that
// their count matches the dims (a mismatch is a translator bug or a malformed model field).
template <typename T>
std::vector<uint8_t> pack_values(const std::string& where, const std::vector<int64_t>& dims, const std::vector<T>& values) {
  uint64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) fail_invalid(where + " has a negative dim " + std::to_string(d));
    if (d != 0 && count > kMaxElements / static_cast<uint64_t>(d)) fail(ErrorKind::kResourceLimit, where + " has more than 2^40 elements");
    count *= static_cast<uint64_t>(d);
  }
  if (count != values.size())
    fail_invalid(where + " has " + std::to_string(values.size()) + " values for " + std::to_string(count) + " elements");
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

}  // namespace

Value* Builder::owned_constant(Graph& g, const std::string& name, std::vector<int64_t> dims, const std::vector<float>& values) {
  auto bytes = pack_values(model_->source_path + ": constant '" + name + "'", dims, values);
  return owned_constant(g, name, DataType::kFloat, std::move(dims), std::move(bytes));
}

Value* Builder::owned_constant(Graph& g, const std::string& name, std::vector<int64_t> dims, const std::vector<int64_t>& values) {
  auto bytes = pack_values(model_->source_path + ": constant '" + name + "'", dims, values);
  return owned_constant(g, name, DataType::kInt64, std::move(dims), std::move(bytes));
}

std::vector<Value*> Builder::node(Graph& g, const std::string& op_type, const std::vector<Value*>& inputs,
                                  std::vector<Attribute> attrs, size_t n_outputs, const std::string& domain,
                                  const std::string& name, const std::vector<std::string>& output_names) {
  const std::string node_name = unique_name(name.empty() ? op_type + "_" + std::to_string(node_counter_) : name);
  ++node_counter_;
  const std::string what = "node '" + node_name + "' (" + op_type + ")";
  if (op_type.empty()) fail_invalid(model_->source_path + ": a node has an empty op type");
  if (!output_names.empty() && output_names.size() != n_outputs)
    fail_invalid(model_->source_path + ": " + what + " has " + std::to_string(n_outputs) + " outputs but " +
                 std::to_string(output_names.size()) + " output names");
  for (size_t i = 0; i < inputs.size(); ++i) check_visible(g, inputs[i], what + " input " + std::to_string(i));
  for (const Attribute& a : attrs)
    if (a.name.empty()) fail_invalid(model_->source_path + ": " + what + " has an attribute without a name");
  Node* n = g.append_node(op_type, domain);
  n->set_name(node_name);
  for (Value* v : inputs) n->add_input(v);
  for (Attribute& a : attrs) {
    if (a.g) a.g->set_parent(&g);
    for (auto& sub : a.graphs) sub->set_parent(&g);
    n->attributes().push_back(std::move(a));
  }
  std::vector<Value*> outs;
  for (size_t i = 0; i < n_outputs; ++i)
    outs.push_back(n->add_output(unique_name(output_names.empty() ? node_name + ":" + std::to_string(i) : output_names[i])));
  if (!domain.empty() && domain != "ai.onnx" && !opsets_.count(domain)) opsets_[domain] = 1;
  return outs;
}

Value* Builder::output(Graph& g, Value* v, const std::string& name) {
  if (!v) fail_invalid(model_->source_path + ": graph output '" + name + "' is not a value");
  check_visible(g, v, "graph output '" + name + "'");
  const std::string wanted = name.empty() ? v->name() : name;
  for (const Value* other : g.outputs())
    if (other->name() == wanted) fail_invalid(model_->source_path + ": two graph outputs are named '" + wanted + "'");
  // A node output of this graph becomes the output itself; inputs, constants, captured values
  // and values that already are outputs go through an Identity of their own.
  bool own_value = !v->is_graph_input() && !v->is_graph_output() && !v->initializer() && v->graph() == &g;
  if (own_value && (wanted == v->name() || !names_.count(wanted))) {
    names_.erase(v->name());
    names_.insert(wanted);
    v->set_name(wanted);
    g.add_output(v);
    return v;
  }
  // The wanted name is taken (e.g. by a graph input): the output gets a suffixed one.
  Node* id = g.append_node("Identity");
  id->set_name(unique_name("output_" + wanted));
  id->add_input(v);
  Value* out = id->add_output(unique_name(wanted));
  out->set_type(v->type());
  g.add_output(out);
  return out;
}

Graph* Builder::new_subgraph(Graph& parent, const std::string& name) {
  auto g = std::make_unique<Graph>(&parent);
  g->set_name(unique_name(name));
  pending_subgraphs_.push_back(std::move(g));
  return pending_subgraphs_.back().get();
}

std::unique_ptr<Graph> Builder::take_subgraph(Graph* g) {
  auto it = std::find_if(pending_subgraphs_.begin(), pending_subgraphs_.end(), [g](auto& p) { return p.get() == g; });
  if (it == pending_subgraphs_.end())
    fail_invalid(model_->source_path + ": a subgraph was used twice or does not belong to this builder");
  std::unique_ptr<Graph> out = std::move(*it);
  pending_subgraphs_.erase(it);
  return out;
}

void Builder::set_opset(const std::string& domain, int64_t version) {
  if (version <= 0) fail_invalid(model_->source_path + ": opset version of '" + domain + "' must be positive");
  opsets_[domain == "ai.onnx" ? "" : domain] = version;
}

std::unique_ptr<Model> Builder::finish() {
  if (!model_) fail(ErrorKind::kInternal, "Builder::finish() called twice");
  if (!pending_subgraphs_.empty())
    fail_invalid(model_->source_path + ": subgraph '" + pending_subgraphs_.front()->name() + "' was built but not used by any node");
  if (model_->graph->outputs().empty()) fail_invalid(model_->source_path + ": the graph has no outputs");
  if (!opsets_.count("")) opsets_[""] = kDefaultOpset;
  std::vector<std::string> domains;
  for (auto& [d, v] : opsets_) domains.push_back(d);
  std::sort(domains.begin(), domains.end());
  for (const auto& d : domains) model_->opset_imports.push_back({d, opsets_[d]});

  Node* cycle = nullptr;
  bool acyclic = true;
  for_each_graph(*model_->graph, [&](Graph& g) {
    if (acyclic && !g.sort_topologically(&cycle)) acyclic = false;
  });
  if (!acyclic) fail_invalid(model_->source_path + ": the graph has a cycle through " + cycle->describe());
  auto problems = verify(*model_);
  if (!problems.empty()) {
    std::string msg = model_->source_path + ": the built graph is malformed:";
    for (size_t i = 0; i < problems.size() && i < 5; ++i) msg += "\n  " + problems[i];
    fail_invalid(msg);
  }
  // Built models meet the op schema table as read ones do, so passes may trust them alike.
  validate_ops(*model_);
  names_.clear();
  opsets_.clear();
  return std::move(model_);
}

}  // namespace irforge
