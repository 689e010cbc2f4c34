#include "ir/graph.h"

#include <algorithm>
#include <unordered_map>

#include "support/error.h"

namespace irforge {

Attribute::Attribute() = default;
Attribute::~Attribute() = default;
Attribute::Attribute(Attribute&&) noexcept = default;
Attribute& Attribute::operator=(Attribute&&) noexcept = default;

namespace {
void erase_use(Value* v, Node* n, size_t index) {
  if (!v) return;
  auto& uses = const_cast<std::vector<Use>&>(v->uses());
  auto it = std::find(uses.begin(), uses.end(), Use{n, index});
  if (it != uses.end()) uses.erase(it);
}
void erase_one(std::vector<Graph*>& v, Graph* g) {
  auto it = std::find(v.begin(), v.end(), g);
  if (it != v.end()) v.erase(it);
}
}  // namespace

// ---- Node -------------------------------------------------------------------------------------

Node::~Node() = default;

void Node::set_input(size_t i, Value* v) {
  if (i >= inputs_.size()) inputs_.resize(i + 1, nullptr);
  if (inputs_[i] == v) return;
  if (inputs_[i]) erase_use(inputs_[i], this, i);
  inputs_[i] = v;
  if (v) v->uses_.push_back(Use{this, i});
}

void Node::add_input(Value* v) {
  inputs_.push_back(v);
  if (v) v->uses_.push_back(Use{this, inputs_.size() - 1});
}

void Node::remove_input(size_t i) {
  for (size_t k = i; k < inputs_.size(); ++k) erase_use(inputs_[k], this, k);
  inputs_.erase(inputs_.begin() + static_cast<std::ptrdiff_t>(i));
  for (size_t k = i; k < inputs_.size(); ++k)
    if (inputs_[k]) inputs_[k]->uses_.push_back(Use{this, k});
}

void Node::clear_inputs() {
  for (size_t k = 0; k < inputs_.size(); ++k) erase_use(inputs_[k], this, k);
  inputs_.clear();
}

Value* Node::add_output(std::string name) {
  auto v = std::make_unique<Value>();
  v->name_ = std::move(name);
  v->graph_ = graph_;
  v->producer_ = this;
  v->output_index_ = outputs_.size();
  outputs_.push_back(std::move(v));
  return outputs_.back().get();
}

const Attribute* Node::attr(const std::string& name) const {
  for (const auto& a : attributes_)
    if (a.name == name) return &a;
  return nullptr;
}
Attribute* Node::attr(const std::string& name) {
  for (auto& a : attributes_)
    if (a.name == name) return &a;
  return nullptr;
}
int64_t Node::attr_int(const std::string& name, int64_t dflt) const {
  const Attribute* a = attr(name);
  return a && a->kind == AttrKind::kInt ? a->i : dflt;
}
float Node::attr_float(const std::string& name, float dflt) const {
  const Attribute* a = attr(name);
  return a && a->kind == AttrKind::kFloat ? a->f : dflt;
}
std::string Node::attr_string(const std::string& name, const std::string& dflt) const {
  const Attribute* a = attr(name);
  return a && a->kind == AttrKind::kString ? a->s : dflt;
}
std::vector<int64_t> Node::attr_ints(const std::string& name) const {
  const Attribute* a = attr(name);
  return a && a->kind == AttrKind::kInts ? a->ints : std::vector<int64_t>{};
}

std::vector<Graph*> Node::subgraphs() const {
  std::vector<Graph*> out;
  for (const auto& a : attributes_) {
    if (a.g) out.push_back(a.g.get());
    for (const auto& g : a.graphs) out.push_back(g.get());
  }
  return out;
}

void Node::output_out_of_range(size_t i) const {
  fail(ErrorKind::kInternal, describe() + " has " + std::to_string(outputs_.size()) + " outputs; output " + std::to_string(i) +
                                 " was asked for (a pass assumed an output the node does not have)");
}

std::string Node::describe() const {
  std::string d = "node '" + name_ + "' (" + (domain_.empty() ? "" : domain_ + "::") + op_type_ + ")";
  return d;
}

// ---- Graph ------------------------------------------------------------------------------------

namespace {
// Detaches every use held by `g` and its nested subgraphs, so that values can then be freed in
// any order (subgraph nodes may use values of enclosing graphs).
void detach_all(Graph& g) {
  for (auto& n : g.nodes()) {
    n->clear_inputs();
    for (Graph* sub : n->subgraphs()) detach_all(*sub);
  }
  g.clear_outputs();
}
}  // namespace

Graph::~Graph() { detach_all(*this); }

Value* Graph::add_input(std::string name, Type type) {
  auto v = std::make_unique<Value>();
  v->name_ = std::move(name);
  v->type_ = std::move(type);
  v->graph_ = this;
  v->is_graph_input_ = true;
  inputs_.push_back(v.get());
  owned_values_.push_back(std::move(v));
  return inputs_.back();
}

void Graph::reorder_inputs(const std::vector<Value*>& first) {
  std::vector<Value*> order;
  for (Value* v : first)
    if (std::find(inputs_.begin(), inputs_.end(), v) != inputs_.end() && std::find(order.begin(), order.end(), v) == order.end())
      order.push_back(v);
  for (Value* v : inputs_)
    if (std::find(order.begin(), order.end(), v) == order.end()) order.push_back(v);
  inputs_ = std::move(order);
}

Value* Graph::add_initializer(std::shared_ptr<Tensor> tensor) {
  auto v = std::make_unique<Value>();
  v->name_ = tensor->name();
  v->graph_ = this;
  std::vector<Dim> shape;
  for (int64_t d : tensor->dims()) shape.push_back(Dim::of(d));
  v->type_ = Type::tensor(tensor->dtype(), std::move(shape));
  v->initializer_ = std::move(tensor);
  initializers_.push_back(v.get());
  owned_values_.push_back(std::move(v));
  return initializers_.back();
}

Value* Graph::add_sparse_initializer(std::shared_ptr<SparseTensor> tensor) {
  auto v = std::make_unique<Value>();
  v->name_ = tensor->values.name();
  v->graph_ = this;
  v->type_ = Type::tensor(tensor->values.dtype());
  std::vector<Dim> shape;
  for (int64_t d : tensor->dims) shape.push_back(Dim::of(d));
  v->type_.shape = std::move(shape);
  v->sparse_initializer_ = std::move(tensor);
  initializers_.push_back(v.get());
  owned_values_.push_back(std::move(v));
  return initializers_.back();
}

void Graph::set_initializer(Value* v, std::shared_ptr<Tensor> tensor) {
  if (!v->initializer_ && !v->sparse_initializer_) initializers_.push_back(v);
  v->initializer_ = std::move(tensor);
}

void Graph::remove_value(Value* v) {
  if (v->has_uses() || v->is_graph_output())
    fail(ErrorKind::kInternal, "cannot remove value '" + v->name() + "': it is still used");
  auto drop = [v](std::vector<Value*>& list) {
    list.erase(std::remove(list.begin(), list.end(), v), list.end());
  };
  drop(inputs_);
  drop(initializers_);
  owned_values_.erase(std::remove_if(owned_values_.begin(), owned_values_.end(),
                                     [v](const std::unique_ptr<Value>& p) { return p.get() == v; }),
                      owned_values_.end());
}

void Graph::add_output(Value* v) {
  outputs_.push_back(v);
  v->output_of_.push_back(this);
}

void Graph::set_output(size_t i, Value* v) {
  erase_one(outputs_[i]->output_of_, this);
  outputs_[i] = v;
  v->output_of_.push_back(this);
}

void Graph::clear_outputs() {
  for (Value* v : outputs_) erase_one(v->output_of_, this);
  outputs_.clear();
}

Node* Graph::append_node(std::string op_type, std::string domain) {
  std::unique_ptr<Node> n(new Node());
  n->op_type_ = std::move(op_type);
  n->domain_ = std::move(domain);
  n->graph_ = this;
  nodes_.push_back(std::move(n));
  nodes_.back()->self_ = std::prev(nodes_.end());
  return nodes_.back().get();
}

Node* Graph::insert_node_before(Node* anchor, std::string op_type, std::string domain) {
  std::unique_ptr<Node> n(new Node());
  n->op_type_ = std::move(op_type);
  n->domain_ = std::move(domain);
  n->graph_ = this;
  auto it = nodes_.insert(anchor->self_, std::move(n));
  (*it)->self_ = it;
  return it->get();
}

void Graph::remove_node(Node* n) {
  for (size_t i = 0; i < n->num_outputs(); ++i) {
    Value* v = n->output(i);
    if (v->has_uses() || v->is_graph_output())
      fail(ErrorKind::kInternal, "cannot remove " + n->describe() + ": output '" + v->name() + "' is still used");
  }
  n->clear_inputs();
  nodes_.erase(n->self_);
}

void Graph::move_before(Node* n, Node* anchor) {
  nodes_.splice(anchor->self_, nodes_, n->self_);
}

void Graph::splice_nodes_before(Graph& from, Node* anchor) {
  for (auto& n : from.nodes_) {
    n->graph_ = this;
    for (auto& v : n->outputs_) v->graph_ = this;
    for (Graph* sub : n->subgraphs()) sub->set_parent(this);
  }
  nodes_.splice(anchor->self_, from.nodes_);  // list iterators (Node::self_) stay valid
}

void Graph::replace_all_uses(Value* from, Value* to) {
  if (from == to) return;
  std::vector<Use> uses = from->uses_;
  for (const Use& u : uses) u.node->set_input(u.input_index, to);
  std::vector<Graph*> graphs = from->output_of_;
  for (Graph* g : graphs)
    for (size_t i = 0; i < g->outputs_.size(); ++i)
      if (g->outputs_[i] == from) g->set_output(i, to);
}

namespace {
// Values of `root`'s graph that the subgraphs of `n` (at any depth) use from outside.
void collect_captures(const Graph& sub, const Graph* owner, std::vector<Value*>& out) {
  for (const auto& node : sub.nodes()) {
    for (Value* v : node->inputs())
      if (v && v->graph() == owner) out.push_back(v);
    for (Graph* g : node->subgraphs()) collect_captures(*g, owner, out);
  }
  for (Value* v : sub.outputs())
    if (v->graph() == owner) out.push_back(v);
}
}  // namespace

bool Graph::sort_topologically(Node** cycle_node) {
  // Kahn's algorithm over producer edges (including captures by subgraphs), keeping the
  // current order among ready nodes so sorted graphs stay unchanged.
  std::unordered_map<Node*, size_t> index;
  std::vector<Node*> order;
  order.reserve(nodes_.size());
  for (auto& n : nodes_) {
    index[n.get()] = order.size();
    order.push_back(n.get());
  }
  std::vector<std::vector<size_t>> deps(order.size());
  std::vector<size_t> pending(order.size(), 0);
  std::vector<std::vector<size_t>> users(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    std::vector<Value*> ins(order[i]->inputs().begin(), order[i]->inputs().end());
    for (Graph* g : order[i]->subgraphs()) collect_captures(*g, this, ins);
    for (Value* v : ins) {
      if (!v || !v->producer() || v->graph() != this) continue;
      auto it = index.find(v->producer());
      if (it == index.end()) continue;
      users[it->second].push_back(i);
      ++pending[i];
    }
  }
  // Ready set as a min-heap on original position.
  std::vector<size_t> ready;
  auto cmp = [](size_t a, size_t b) { return a > b; };
  for (size_t i = 0; i < order.size(); ++i)
    if (pending[i] == 0) ready.push_back(i);
  std::make_heap(ready.begin(), ready.end(), cmp);
  std::vector<size_t> sorted;
  sorted.reserve(order.size());
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), cmp);
    size_t i = ready.back();
    ready.pop_back();
    sorted.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) {
        ready.push_back(u);
        std::push_heap(ready.begin(), ready.end(), cmp);
      }
  }
  if (sorted.size() != order.size()) {
    if (cycle_node)
      for (size_t i = 0; i < order.size(); ++i)
        if (pending[i] != 0) {
          *cycle_node = order[i];
          break;
        }
    return false;
  }
  for (size_t i : sorted) nodes_.splice(nodes_.end(), nodes_, order[i]->self_);
  return true;
}

int64_t Model::opset_version(const std::string& domain) const {
  for (const auto& o : opset_imports)
    if (o.domain == domain || (domain.empty() && o.domain == "ai.onnx")) return o.version;
  return 0;
}

}  // namespace irforge
