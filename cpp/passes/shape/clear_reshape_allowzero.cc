#include "passes/shape/clear_reshape_allowzero.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "passes/shape/infer_shapes.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

using Contents = std::unordered_map<const Value*, std::vector<Dim>>;

bool is_allowzero_reshape(const Node& n) {
  return n.op_type() == "Reshape" && n.domain().empty() && n.inputs().size() == 2 && n.input(0) && n.input(1) &&
         n.attr_int("allowzero", 0) != 0;
}

bool any_allowzero_reshape(const Graph& g) {
  for (const auto& n : g.nodes()) {
    if (is_allowzero_reshape(*n)) return true;
    for (Graph* sub : n->subgraphs())
      if (any_allowzero_reshape(*sub)) return true;
  }
  return false;
}

// The target's entries: a constant's values, else the symbolic content infer-shapes found.
std::optional<std::vector<Dim>> target_entries(const Value* target, const Contents& contents) {
  if (auto k = constant_ints(target)) {
    std::vector<Dim> d;
    for (int64_t v : *k) d.push_back(Dim::of(v));
    return d;
  }
  auto it = contents.find(target);
  if (it == contents.end()) return std::nullopt;
  return it->second;
}

// Why not (the matcher has no side effects): empty when allowzero can be dropped.
const char* keep_reason(const Node& n, const Contents& contents) {
  auto entries = target_entries(n.input(1), contents);
  if (!entries) return "target content unknown";
  const Type& xt = n.input(0)->type();
  const std::vector<Dim>* in = xt.is_tensor() && xt.shape ? &*xt.shape : nullptr;
  for (size_t i = 0; i < entries->size(); ++i) {
    const Dim& d = (*entries)[i];
    if (d.is_static()) {
      if (d.value == 0) return "a static 0 entry means size 0 here";
      continue;
    }
    bool own_dim = d.kind == Dim::Kind::kParam && in && i < in->size() && (*in)[i].kind == Dim::Kind::kParam &&
                   (*in)[i].param == d.param;
    if (!own_dim) return "an entry that may be 0 at run time is not x's dim at the same index";
  }
  return nullptr;
}

int64_t clear(Graph& g, const Contents& contents) {
  int64_t n = 0;
  for (const auto& up : g.nodes()) {
    Node& node = *up;
    for (Graph* sub : node.subgraphs()) n += clear(*sub, contents);
    if (!is_allowzero_reshape(node) || keep_reason(node, contents)) continue;
    auto& attrs = node.attributes();
    attrs.erase(std::remove_if(attrs.begin(), attrs.end(), [](const Attribute& a) { return a.name == "allowzero"; }), attrs.end());
    ++n;
  }
  return n;
}

}  // namespace

PassResult ClearReshapeAllowzero::run(Model& model, const PassOptions&) {
  PassResult r;
  // Symbolic contents cost a whole inference run: only when there is something to clear.
  if (!model.graph || !any_allowzero_reshape(*model.graph)) return r;
  int64_t refined = 0;
  Contents contents = infer_shape_values(model, &refined);
  r.rewrites = clear(*model.graph, contents) + refined;
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
