#include "passes/shape/shape_of_range.h"

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "passes/shape/dims_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

bool constant_is(const Value* v, double want) {
  auto d = constant_doubles(v);
  return d && d->size() == 1 && (*d)[0] == want;
}

bool is_scalar(const Value* v) {
  const Type& t = v->type();
  return t.is_tensor() && t.shape && t.shape->empty();
}

// The dim the Range's limit is (itself, or under a Cast to float/double), else nullptr: an int64
// dim, or an int32 one selected from Cast(int32) of dims (legacy Paddle programs).
Value* limit_dim(Value* limit) {
  if (!limit || !is_scalar(limit)) return nullptr;
  const Node* p = limit->producer();
  if (is_cast_to(p, DataType::kFloat) || is_cast_to(p, DataType::kDouble)) limit = p->input(0);
  if (!limit || !is_scalar(limit)) return nullptr;
  if (holds_dims(limit) || int32_selection_of_dims(limit)) return limit;
  return nullptr;
}

int64_t visit(Graph& g, Node* shape, NameGen& names, int64_t opset) {
  if (shape->op_type() != "Shape" || !shape->domain().empty() || shape->inputs().size() != 1 || shape->attr("start") || shape->attr("end"))
    return 0;
  if (!shape->output(0)->has_uses() && !shape->output(0)->is_graph_output()) return 0;  // bypassed already
  const Node* range = shape->input(0) ? shape->input(0)->producer() : nullptr;
  if (!range || range->op_type() != "Range" || !range->domain().empty() || range->inputs().size() != 3) return 0;
  if (!constant_is(range->input(0), 0.0) || !constant_is(range->input(2), 1.0)) return 0;
  Value* n = limit_dim(range->input(1));
  if (!n) return 0;
  // Unsqueeze, not Reshape: simplify-layout cancels it against the Squeeze that made the dim a
  // scalar. Its axes are an attribute before opset 13, an input from 13 on.
  Node* unsqueeze = g.insert_node_before(shape, "Unsqueeze");
  unsqueeze->set_name(names.fresh((shape->name().empty() ? std::string("Shape") : shape->name()) + "/range_length"));
  Node* cast = nullptr;
  if (n->type().elem_type != DataType::kInt64) {
    // int32 (legacy Paddle): back to int64, which remove-shape-cast-roundtrip then takes from the
    // int64 dims themselves.
    cast = g.insert_node_before(unsqueeze, "Cast");
    cast->set_name(names.fresh((shape->name().empty() ? std::string("Shape") : shape->name()) + "/range_length_int64"));
    cast->add_input(n);
    set_int_attr(cast, "to", static_cast<int64_t>(DataType::kInt64));
    n = cast->add_output(names.fresh(shape->output(0)->name() + "/length_int64"));
    n->set_type(Type::tensor(DataType::kInt64, Shape{}));
  }
  unsqueeze->add_input(n);
  if (opset < 13) {
    set_ints_attr(unsqueeze, "axes", {0});
  } else {
    auto t = std::make_shared<Tensor>(names.fresh(shape->output(0)->name() + "/axis0"), DataType::kInt64, std::vector<int64_t>{1});
    t->set_owned(std::vector<uint8_t>(8, 0));
    unsqueeze->add_input(g.add_initializer(std::move(t)));
  }
  Value* out = unsqueeze->add_output(names.fresh(shape->output(0)->name() + "/length"));
  out->set_type(Type::tensor(DataType::kInt64, Shape{Dim::of(1)}));
  if (replace_value(g, shape->output(0), out)) return 1;
  g.remove_node(unsqueeze);
  if (cast) g.remove_node(cast);
  return 0;
}

}  // namespace

PassResult ShapeOfRange::run(Model& model, const PassOptions&) {
  NameGen names(model);
  const int64_t opset = model.opset_version("");
  return rewrite_model(model, [&](Graph& g, Node* n) { return visit(g, n, names, opset); });
}

}  // namespace irforge::passes
