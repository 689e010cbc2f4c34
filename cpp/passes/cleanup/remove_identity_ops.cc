#include "passes/cleanup/remove_identity_ops.h"

#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

bool is_noop(const Node& n) {
  if (!n.domain().empty() || n.inputs().empty() || !n.input(0) || n.num_outputs() == 0) return false;
  // Only output 0 is bypassed: a read extra output (Dropout's mask, or one a malformed node
  // carries) would be left without its producer.
  for (size_t i = 1; i < n.num_outputs(); ++i)
    if (n.output(i)->has_uses() || n.output(i)->is_graph_output()) return false;
  const std::string& op = n.op_type();
  if (op == "Identity") return n.input(0)->type().kind == Type::Kind::kTensor || !n.input(0)->type().known();
  if (op == "Dropout") {
    if (n.input(2)) {  // training_mode: only a constant false keeps Dropout an identity
      const Tensor* t = constant_of(n.input(2));
      if (!t || t->dtype() != DataType::kBool || t->nbytes() != 1 || t->data()[0] != 0) return false;
    }
    return true;
  }
  if (op == "Cast") {
    const Type& t = n.input(0)->type();
    return t.is_tensor() && static_cast<int64_t>(t.elem_type) == n.attr_int("to", -1) && t.elem_type != DataType::kUndefined;
  }
  return false;
}

int64_t bypass(Graph& g) {
  int64_t count = 0;
  std::vector<Node*> nodes;
  for (const auto& n : g.nodes()) nodes.push_back(n.get());
  for (Node* n : nodes) {
    for (Graph* sub : n->subgraphs()) count += bypass(*sub);
    if (!is_noop(*n)) continue;
    Value* in = n->input(0);
    Value* out = n->output(0);
    if (out->is_graph_output()) {
      // The output name is the interface: keep it by renaming the producer's value, which is
      // only possible for an internal node output of this graph that is not itself an output.
      if (!in->producer() || in->is_graph_output() || in->graph() != &g) continue;
    }
    if (!replace_value(g, out, in)) continue;
    g.remove_node(n);
    ++count;
  }
  return count;
}

}  // namespace

PassResult RemoveIdentityOps::run(Model& model, const PassOptions&) {
  PassResult r;
  r.rewrites = bypass(*model.graph);
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
