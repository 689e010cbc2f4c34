#include "passes/shape/remove_shape_cast_roundtrip.h"

#include <cstdint>
#include <vector>

#include "passes/shape/dims_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

bool only_reshapes(const Node* n) {
  const std::string& op = n->op_type();
  return op == "Squeeze" || op == "Unsqueeze" || op == "Reshape" || op == "Flatten" || op == "Identity";
}

bool same_static_shape(const Value* a, const Value* b) {
  const Type& ta = a->type();
  const Type& tb = b->type();
  if (!ta.is_tensor() || !tb.is_tensor() || !ta.shape || !tb.shape || ta.shape->size() != tb.shape->size()) return false;
  for (size_t i = 0; i < ta.shape->size(); ++i)
    if (!(*ta.shape)[i].is_static() || !(*tb.shape)[i].is_static() || (*ta.shape)[i].value != (*tb.shape)[i].value) return false;
  return true;
}

int64_t visit(Graph& g, Node* outer, NameGen& names) {
  // To float/double, a dim converts to the same value from int32 or int64 (the legacy form's
  // Range limits): those Casts, too, may read the int64 dims.
  const bool to_int64 = is_cast_to(outer, DataType::kInt64);
  if (!to_int64 && !is_cast_to(outer, DataType::kFloat) && !is_cast_to(outer, DataType::kDouble)) return 0;
  // Already bypassed (its output is unused until dce runs): not a change.
  if (!outer->output(0)->has_uses() && !outer->output(0)->is_graph_output()) return 0;
  const Node* inner = outer->input(0)->producer();
  // Cast(int64) of Cast(int32) of dims: the dims themselves.
  if (to_int64 && is_cast_to(inner, DataType::kInt32) && holds_dims(inner->input(0)))
    return replace_value(g, outer->output(0), inner->input(0)) ? 1 : 0;
  // Cast(int64) of a selection of Cast(int32) of dims (the legacy Paddle form: its shape op is
  // int32, and it slices, squeezes and reshapes that): the selection on the int64 dims instead.
  //    Cast(Reshape(Squeeze(Slice(Cast(Shape(x), int32), 2, 3)), [1]), int64)
  //      ->  Reshape(Squeeze(Slice(Shape(x), 2, 3)), [1])
  auto found = int32_selection_of_dims(outer->input(0));
  if (!found || found->chain.empty()) return 0;
  for (const Node* select : found->chain)
    for (const Attribute& a : select->attributes())  // axis / axes / allowzero: the only ones these ops have
      if (a.kind != AttrKind::kInt && a.kind != AttrKind::kInts) return 0;
  // A trailing run of ops that only reshape (the legacy form's Squeeze to a scalar and Reshape
  // back to [1]) that ends in the static shape it started from changes nothing: replay only
  // what comes before it.
  std::vector<const Node*> chain = found->chain;
  const Value* result = outer->output(0);
  for (size_t k = chain.size(); k-- > 0 && only_reshapes(chain[k]);)
    if (same_static_shape(chain[k]->input(0), result)) chain.resize(k);
  if (chain.empty() && to_int64) return replace_value(g, outer->output(0), found->dims) ? 1 : 0;
  std::vector<Node*> taken;
  Value* prev = found->dims;
  for (const Node* select : chain) {
    Node* t = g.insert_node_before(outer, select->op_type());
    t->set_name(names.fresh((select->name().empty() ? select->op_type() : select->name()) + "/int64"));
    t->add_input(prev);
    for (size_t i = 1; i < select->inputs().size(); ++i) t->add_input(select->input(i));
    for (const Attribute& a : select->attributes()) {
      if (a.kind == AttrKind::kInt) set_int_attr(t, a.name.c_str(), a.i);
      else set_ints_attr(t, a.name.c_str(), a.ints);
    }
    const bool last = select == chain.back();
    prev = t->add_output(names.fresh(last ? outer->output(0)->name() + "/dims" : select->output(0)->name() + "/int64"));
    Type type = select->output(0)->type();
    type.elem_type = DataType::kInt64;
    prev->set_type(last && to_int64 ? outer->output(0)->type() : type);
    taken.push_back(t);
  }
  if (!to_int64) {
    Node* cast = g.insert_node_before(outer, "Cast");
    cast->set_name(names.fresh((outer->name().empty() ? std::string("Cast") : outer->name()) + "/from_int64"));
    cast->add_input(prev);
    set_int_attr(cast, "to", outer->attr_int("to", 0));
    prev = cast->add_output(names.fresh(outer->output(0)->name() + "/from_int64"));
    prev->set_type(outer->output(0)->type());
    taken.push_back(cast);
  }
  if (replace_value(g, outer->output(0), prev)) return 1;
  for (auto it = taken.rbegin(); it != taken.rend(); ++it) g.remove_node(*it);
  return 0;
}

}  // namespace

PassResult RemoveShapeCastRoundtrip::run(Model& model, const PassOptions&) {
  NameGen names(model);
  return rewrite_model(model, [&](Graph& g, Node* n) { return visit(g, n, names); });
}

}  // namespace irforge::passes
