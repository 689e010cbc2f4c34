#include "passes/cleanup/common_subexpression_elimination.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

bool mergeable_op(const Node& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
  if (n.num_outputs() == 0 || !n.subgraphs().empty()) return false;
  static const std::unordered_set<std::string> kNever = {
      "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
      "Dropout", "Constant"};
  return !kNever.count(n.op_type());
}

bool commutative(const Node& n) {
  static const std::unordered_set<std::string> kOps = {"Add", "Mul", "And", "Or", "Xor", "Equal", "Max", "Min"};
  return n.inputs().size() == 2 && kOps.count(n.op_type());
}

template <typename T>
void put(std::string& k, const T& v) {
  k.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void put_str(std::string& k, const std::string& s) {
  put(k, s.size());
  k += s;
}

// Tensors are compared by their bytes up to this size; nodes with larger tensor attributes are
// left alone (rare outside Constant, and comparing would read weights).
constexpr size_t kMaxTensorAttrBytes = 1 << 16;

bool put_tensor(std::string& k, const Tensor& t) {
  if (t.nbytes() > kMaxTensorAttrBytes) return false;
  put(k, static_cast<int32_t>(t.dtype()));
  put(k, t.dims().size());
  for (int64_t d : t.dims()) put(k, d);
  put(k, t.nbytes());
  if (t.nbytes()) k.append(reinterpret_cast<const char*>(t.data()), t.nbytes());
  put(k, t.strings().size());
  for (const auto& s : t.strings()) put_str(k, s);
  return true;
}

// A byte string identifying what the node computes; false when the node must not be merged.
bool node_key(const Node& n, std::string& k) {
  if (!mergeable_op(n)) return false;
  put_str(k, n.domain() == "ai.onnx" ? std::string() : n.domain());
  put_str(k, n.op_type());
  put_str(k, n.overload());
  put(k, n.num_outputs());
  std::vector<const Value*> ins(n.inputs().begin(), n.inputs().end());
  if (commutative(n) && ins[0] > ins[1]) std::swap(ins[0], ins[1]);
  put(k, ins.size());
  for (const Value* v : ins) put(k, reinterpret_cast<uintptr_t>(v));
  // Attributes in name order: the same attributes listed in another order are the same node.
  std::vector<const Attribute*> attrs;
  for (const auto& a : n.attributes()) attrs.push_back(&a);
  std::sort(attrs.begin(), attrs.end(), [](const Attribute* a, const Attribute* b) { return a->name < b->name; });
  for (const Attribute* a : attrs) {
    if (!a->ref_attr_name.empty()) return false;  // inside a function body: depends on the caller
    put_str(k, a->name);
    put(k, static_cast<int32_t>(a->kind));
    switch (a->kind) {
      case AttrKind::kFloat: put(k, a->f); break;
      case AttrKind::kInt: put(k, a->i); break;
      case AttrKind::kString: put_str(k, a->s); break;
      case AttrKind::kFloats:
        put(k, a->floats.size());
        for (float f : a->floats) put(k, f);
        break;
      case AttrKind::kInts:
        put(k, a->ints.size());
        for (int64_t i : a->ints) put(k, i);
        break;
      case AttrKind::kStrings:
        put(k, a->strings.size());
        for (const auto& s : a->strings) put_str(k, s);
        break;
      case AttrKind::kTensor:
        if (!a->t || !put_tensor(k, *a->t)) return false;
        break;
      case AttrKind::kTensors:
        put(k, a->tensors.size());
        for (const auto& t : a->tensors)
          if (!t || !put_tensor(k, *t)) return false;
        break;
      default:  // graphs, sparse tensors, type protos: not compared
        return false;
    }
  }
  return true;
}

bool used(const Value* v) { return v->has_uses() || v->is_graph_output(); }

int64_t eliminate(Graph& g) {
  int64_t merged = 0;
  std::unordered_map<std::string, Node*> seen;
  std::vector<Node*> nodes;
  for (const auto& n : g.nodes()) nodes.push_back(n.get());
  for (Node* n : nodes) {
    for (Graph* sub : n->subgraphs()) merged += eliminate(*sub);
    std::string key;
    if (!node_key(*n, key)) continue;
    auto [it, inserted] = seen.emplace(std::move(key), n);
    if (inserted) continue;
    Node* keep = it->second;
    // Both results cannot keep their graph-output names when both are outputs.
    bool ok = true;
    for (size_t k = 0; k < n->num_outputs() && ok; ++k)
      ok = !(n->output(k)->is_graph_output() && keep->output(k)->is_graph_output());
    if (!ok) continue;
    for (size_t k = 0; k < n->num_outputs(); ++k) {
      Value* dup = n->output(k);
      if (!used(dup)) continue;
      Value* kept = keep->output(k);
      if (dup->is_graph_output()) {
        // The duplicate's output name is the interface: the kept value takes it over.
        if (!replace_value(g, dup, kept)) ok = false;
      } else {
        g.replace_all_uses(dup, kept);
      }
    }
    if (!ok) continue;  // unreachable in practice: replace_value refuses only graph outputs, excluded above
    g.remove_node(n);
    ++merged;
  }
  return merged;
}

}  // namespace

PassResult CommonSubexpressionElimination::run(Model& model, const PassOptions&) {
  PassResult r;
  if (!model.graph) return r;
  r.rewrites = eliminate(*model.graph);
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
