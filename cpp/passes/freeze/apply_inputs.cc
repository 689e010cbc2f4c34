#include "passes/freeze/apply_inputs.h"

#include <functional>

#include "ir/validate_ops.h"
#include "passes/util.h"
#include "support/error.h"

namespace irforge::passes {

namespace {

[[noreturn]] void bad(const Model& m, const std::string& input, const std::string& what) {
  std::string where = m.source_path.empty() ? std::string("model") : m.source_path;
  fail(ErrorKind::kInvalidModel, where + ": input '" + input + "': " + what);
}

std::string dims_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? "," : "") + (s[i].is_static() ? std::to_string(s[i].value) : s[i].kind == Dim::Kind::kParam ? s[i].param : "?");
  return out + "]";
}

// True when `want` contradicts a static dim the model states (a reshape, not a refinement).
bool check_rank_and_conflicts(const Model& m, const Value& v, const Shape& want, const char* what) {
  const Type& t = v.type();
  if (!t.shape) return false;
  if (t.shape->size() != want.size())
    bad(m, v.name(), std::string(what) + " " + dims_text(want) + " has rank " + std::to_string(want.size()) + ", the model's input " +
                          dims_text(*t.shape) + " has rank " + std::to_string(t.shape->size()));
  for (size_t i = 0; i < want.size(); ++i)
    if ((*t.shape)[i].is_static() && want[i].is_static() && (*t.shape)[i].value != want[i].value) return true;
  return false;
}

// Drops inferred shapes of every node output so infer-shapes recomputes them from new input dims.
void forget_shapes(Graph& g) {
  for (const auto& n : g.nodes()) {
    for (size_t k = 0; k < n->num_outputs(); ++k) {
      Type& t = n->output(k)->type();
      if (t.is_tensor()) t.shape.reset();
    }
    for (Graph* sub : n->subgraphs()) forget_shapes(*sub);
  }
}

// A Cast of `v` to `to`, placed first in the graph.
Value* cast_to(Graph& g, NameGen& names, Value* v, DataType to, const Type& like) {
  Node* c = g.nodes().empty() ? g.append_node("Cast") : g.insert_node_before(g.nodes().front().get(), "Cast");
  c->add_input(v);
  Attribute a;
  a.name = "to";
  a.kind = AttrKind::kInt;
  a.i = static_cast<int64_t>(to);
  c->attributes().push_back(std::move(a));
  Value* out = c->add_output(names.fresh(v->name() + "_as_" + dtype_name(to)));
  Type t = like;
  t.kind = Type::Kind::kTensor;
  t.elem_type = to;
  out->set_type(std::move(t));
  c->set_name(names.fresh(out->name()));
  return out;
}

}  // namespace

void apply_input_specs(Model& model, const std::vector<InputSpec>& specs) {
  Graph& g = *model.graph;
  NameGen names(model);
  bool reshaped = false;
  for (const InputSpec& s : specs) {
    Value* v = nullptr;
    for (Value* in : g.inputs())
      if (in->name() == s.name) v = in;
    if (!v) {
      std::string known;
      for (Value* in : g.inputs())
        if (!in->initializer()) known += (known.empty() ? "" : ", ") + in->name();
      bad(model, s.name, "no such input; the model's inputs are: " + known);
    }
    if (!v->type().is_tensor()) bad(model, s.name, "is not a tensor input (" + type_to_string(v->type()) + ")");
    const DataType model_type = v->type().elem_type;

    if (s.value) {
      const Tensor& t = *s.value;
      Shape vs;
      for (int64_t d : t.dims()) vs.push_back(Dim::of(d));
      if (s.shape && s.shape->size() != vs.size()) bad(model, s.name, "the value's shape does not match " + dims_text(*s.shape));
      reshaped |= check_rank_and_conflicts(model, *v, vs, "the value's shape");
      auto tensor = std::make_shared<Tensor>(t);
      tensor->set_name(s.name);
      // The input's name moves to the initializer that replaces it.
      v->set_name(names.fresh(s.name + "__frozen_input"));
      Value* c = g.add_initializer(std::move(tensor));
      Value* replacement = c;
      if (model_type != DataType::kUndefined && model_type != t.dtype()) replacement = cast_to(g, names, c, model_type, c->type());
      g.replace_all_uses(v, replacement);
      g.remove_value(v);
      continue;
    }
    if (s.shape) {
      reshaped |= check_rank_and_conflicts(model, *v, *s.shape, "shape");
      v->type().shape = *s.shape;
    }
    if (s.type != DataType::kUndefined && s.type != model_type) {
      std::vector<Use> uses = v->uses();
      v->type().elem_type = s.type;
      Value* back = cast_to(g, names, v, model_type, v->type());
      for (const Use& u : uses) u.node->set_input(u.input_index, back);
    }
  }
  if (reshaped) forget_shapes(g);
  // Frozen values and fixed shapes are new facts about the ops (a frozen Unsqueeze axes input
  // with a duplicate, a Reshape target with two -1): check them as the reader checks its input.
  validate_ops(model);
}

}  // namespace irforge::passes
