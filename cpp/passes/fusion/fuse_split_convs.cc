#include "passes/fusion/fuse_split_convs.h"

#include <functional>
#include <vector>

#include "passes/fusion/weight_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

using namespace fusion;
using Ints = std::vector<int64_t>;

// Attributes that must agree across the parallel convs (group included).
bool same_conv_attrs(const Node* a, const Node* b) {
  for (const char* name : {"kernel_shape", "strides", "pads", "dilations"})
    if (a->attr_ints(name) != b->attr_ints(name)) return false;
  return a->attr_string("auto_pad", "NOTSET") == b->attr_string("auto_pad", "NOTSET") && a->attr_int("group", 1) == b->attr_int("group", 1);
}

int64_t norm_axis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

struct Match {
  Node* concat;
  Node* split;
  std::vector<LinearOp> convs;
};

std::optional<Match> match(Node* concat) {
  if (!is_op(concat, "Concat") || concat->inputs().size() < 2 || concat->num_outputs() != 1) return std::nullopt;
  Match m{concat, nullptr, {}};
  for (size_t i = 0; i < concat->inputs().size(); ++i) {
    Value* v = concat->input(i);
    Node* c = local_producer(v, concat);
    if (!is_op(c, "Conv") || !used_only_by(v, concat) || v->uses().size() != 1) return std::nullopt;
    auto op = linear_op(c);
    if (!op || !c->input(0)) return std::nullopt;
    Value* part = c->input(0);
    Node* s = local_producer(part, c);
    if (!is_op(s, "Split") || part->output_index() != i || !used_only_by(part, c) || part->uses().size() != 1) return std::nullopt;
    if (i == 0) m.split = s;
    else if (s != m.split || !same_conv_attrs(c, m.convs[0].node) || op->weight_dims != m.convs[0].weight_dims) return std::nullopt;
    if (i > 0 && (c->input(2) != nullptr) != (m.convs[0].node->input(2) != nullptr)) return std::nullopt;
    m.convs.push_back(*op);
  }
  Node* s = m.split;
  if (s->num_outputs() != m.convs.size() || !s->input(0)) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(m.convs[0].weight_dims.size());
  if (norm_axis(s->attr_int("axis", 0), rank) != 1 || norm_axis(concat->attr_int("axis", 0), rank) != 1) return std::nullopt;
  // Sizes given explicitly (attribute before opset 13, input after) must be equal; otherwise the
  // convs' equal input channel counts already say the parts are equal.
  std::optional<Ints> sizes;
  if (s->attr("split")) sizes = s->attr_ints("split");
  else if (s->input(1)) {
    sizes = constant_ints(s->input(1));
    if (!sizes) return std::nullopt;
  }
  if (sizes) {
    if (sizes->size() != m.convs.size()) return std::nullopt;
    for (int64_t x : *sizes)
      if (x != m.convs[0].in_channels) return std::nullopt;
  }
  return m;
}

void rewrite(Graph& g, NameGen& names, const Match& m) {
  Node* first = m.convs[0].node;
  const int64_t parts = static_cast<int64_t>(m.convs.size());
  Ints dims = m.convs[0].weight_dims;
  dims[0] *= parts;
  std::vector<float> w, b;
  for (const LinearOp& op : m.convs) {
    auto wi = f32_constant(op.node->input(1));
    w.insert(w.end(), wi->begin(), wi->end());
    if (op.node->input(2)) {
      auto bi = f32_constant(op.node->input(2));
      b.insert(b.end(), bi->begin(), bi->end());
    }
  }
  Node* conv = g.insert_node_before(m.concat, "Conv");
  conv->set_name(names.fresh(first->name().empty() ? "grouped_conv" : first->name() + "_grouped"));
  for (const Attribute& a : first->attributes()) {
    Attribute c;
    c.name = a.name;
    c.kind = a.kind;
    c.i = a.i;
    c.s = a.s;
    c.ints = a.ints;
    c.f = a.f;
    c.floats = a.floats;
    if (a.name == "group") c.i = a.i * parts;
    conv->attributes().push_back(std::move(c));
  }
  if (!conv->attr("group")) {
    Attribute c;
    c.name = "group";
    c.kind = AttrKind::kInt;
    c.i = parts;
    conv->attributes().push_back(std::move(c));
  }
  conv->add_input(m.split->input(0));
  Value* wv = add_f32_initializer(g, names.fresh(first->input(1)->name() + "_grouped"), dims, w);
  conv->add_input(wv);
  if (!b.empty()) conv->add_input(add_f32_initializer(g, names.fresh(first->input(2)->name() + "_grouped"), {dims[0]}, b));
  Value* y = conv->add_output(names.fresh(m.concat->output(0)->name() + "_grouped"));
  y->set_type(m.concat->output(0)->type());
  absorb_consumer(g, y, m.concat);
  for (const LinearOp& op : m.convs) g.remove_node(op.node);
  g.remove_node(m.split);  // each part was read only by its conv
}

}  // namespace

PassResult FuseSplitConvs::run(Model& model, const PassOptions&) {
  PassResult r;
  if (!model.graph) return r;
  NameGen names(model);
  std::function<int64_t(Graph&)> fuse = [&](Graph& g) {
    int64_t count = 0;
    std::vector<Node*> nodes;
    for (const auto& n : g.nodes()) nodes.push_back(n.get());
    for (Node* n : nodes) {
      for (Graph* sub : n->subgraphs()) count += fuse(*sub);
      if (auto m = match(n)) {
        rewrite(g, names, *m);
        ++count;
      }
    }
    return count;
  };
  r.rewrites = fuse(*model.graph);
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
