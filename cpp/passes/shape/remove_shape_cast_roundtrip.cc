#include "passes/shape/remove_shape_cast_roundtrip.h"

#include <cstdint>

#include "passes/shape/dims_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

bool is_cast_to(const Node* n, DataType t) {
  return n && n->op_type() == "Cast" && n->domain().empty() && n->inputs().size() == 1 && n->input(0) &&
         n->attr_int("to", -1) == static_cast<int64_t>(t);
}

bool elem_type_is(const Value* v, DataType t) { return v && v->type().is_tensor() && v->type().elem_type == t; }

// An op that selects elements of its first input only (the other inputs are indices, starts,
// axes): taking it before the Casts gives the same elements in int64.
bool selects_elements(const Node* n) {
  if (!n || !n->domain().empty() || n->num_outputs() != 1 || n->inputs().empty() || !n->input(0)) return false;
  const std::string& op = n->op_type();
  return op == "Slice" || op == "Gather" || op == "Squeeze" || op == "Unsqueeze";
}

int64_t visit(Graph& g, Node* outer, NameGen& names) {
  if (!is_cast_to(outer, DataType::kInt64)) return 0;
  // Already bypassed (its output is unused until dce runs): not a change.
  if (!outer->output(0)->has_uses() && !outer->output(0)->is_graph_output()) return 0;
  const Node* inner = outer->input(0)->producer();
  // Cast(int64) of Cast(int32) of dims: the dims themselves.
  if (is_cast_to(inner, DataType::kInt32) && holds_dims(inner->input(0)))
    return replace_value(g, outer->output(0), inner->input(0)) ? 1 : 0;
  // Cast(int64) of a selection of Cast(int32) of dims (the legacy Paddle form: its shape op is
  // int32): the selection on the int64 dims instead.
  //    Cast(Slice(Cast(Shape(x), int32), 2, max), int64)  ->  Slice(Shape(x), 2, max)
  const Node* select = inner;
  if (!selects_elements(select) || !elem_type_is(select->output(0), DataType::kInt32)) return 0;
  const Node* cast = select->input(0)->producer();
  if (!is_cast_to(cast, DataType::kInt32) || !holds_dims(cast->input(0))) return 0;
  for (const Attribute& a : select->attributes())  // axis / axes: the only ones these ops have
    if (a.kind != AttrKind::kInt && a.kind != AttrKind::kInts) return 0;
  Node* taken = g.insert_node_before(outer, select->op_type());
  taken->set_name(names.fresh((select->name().empty() ? select->op_type() : select->name()) + "/int64"));
  taken->add_input(cast->input(0));
  for (size_t i = 1; i < select->inputs().size(); ++i) taken->add_input(select->input(i));
  for (const Attribute& a : select->attributes()) {
    if (a.kind == AttrKind::kInt) set_int_attr(taken, a.name.c_str(), a.i);
    else set_ints_attr(taken, a.name.c_str(), a.ints);
  }
  Value* out = taken->add_output(names.fresh(outer->output(0)->name() + "/dims"));
  out->set_type(outer->output(0)->type());
  if (replace_value(g, outer->output(0), out)) return 1;
  g.remove_node(taken);
  return 0;
}

}  // namespace

PassResult RemoveShapeCastRoundtrip::run(Model& model, const PassOptions&) {
  NameGen names(model);
  return rewrite_model(model, [&](Graph& g, Node* n) { return visit(g, n, names); });
}

}  // namespace irforge::passes
