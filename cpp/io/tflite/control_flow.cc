// Control flow and resource variables: IF → If, WHILE → Loop (the TFLite subgraphs become the
// If branches / Loop body, translated by a nested Translator), CALL_ONCE → its init subgraph
// inlined where it stands, VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE → dataflow through
// TranslationState::variables (one stateless invocation: what the interpreter computes on its
// first Invoke()).
#include "io/tflite/translate.h"
#include "support/error.h"

namespace irforge::tflite {

namespace {

std::vector<Value*> all_inputs(OpContext& c, size_t from) {
  std::vector<Value*> v;
  for (size_t i = from; i < c.num_inputs(); ++i) v.push_back(c.in(i));
  return v;
}

// An absent index is 0 (the schema default: flatbuffers omit fields at their default).
uint32_t subgraph_index(OpContext& c, uint16_t slot, const char* what) {
  int32_t i = c.opt<int32_t>(slot, 0);
  if (i < 0) c.invalid(std::string("has a negative ") + what + " subgraph index");
  return static_cast<uint32_t>(i);
}

// A subgraph's result as a body output: always through an Identity made in the body, so a value
// of the enclosing graph (a branch that returns its input unchanged) is never a body output itself.
void body_output(Builder& b, Graph& body, Value* v) { b.output(body, b.node(body, "Identity", {v}, {}, 1)[0]); }

// A condition (a bool of one element, [] or [1]) as the scalar If and Loop want.
Value* scalar_cond(Builder& b, Graph& g, OpContext& c, Value* v) {
  std::vector<uint8_t> bytes;  // an empty int64 shape: reshape to a scalar
  Value* shape = b.owned_constant(g, c.name + "/scalar_shape", DataType::kInt64, {0}, std::move(bytes));
  return b.node(g, "Reshape", {v, shape}, {}, 1)[0];
}

void set_out_types(OpContext& c, const std::vector<Value*>& outs) {
  for (size_t k = 0; k < outs.size(); ++k) {
    const TensorDef& t = c.out_tensor(k);
    c.tr.builder().set_type(outs[k], c.tr.input_type(t, c.name + "_out" + std::to_string(k)));
    c.set_out(k, outs[k]);
  }
}

}  // namespace

void if_op(OpContext& c) {
  Builder& b = c.tr.builder();
  uint32_t then_i = subgraph_index(c, 4, "then"), else_i = subgraph_index(c, 6, "else");
  size_t n = c.op.outputs.size();
  std::vector<Value*> args = all_inputs(c, 1);
  Value* cond = scalar_cond(b, c.tr.graph(), c, c.in(0));
  Attrs a;
  for (auto [idx, attr] : {std::pair{then_i, "then_branch"}, std::pair{else_i, "else_branch"}}) {
    Graph* g = b.new_subgraph(c.tr.graph(), c.name + "/" + attr);
    std::vector<Value*> outs = c.tr.inline_subgraph(idx, *g, args, c.name, true);
    if (outs.size() != n)
      c.invalid(std::string(attr) + " subgraph " + std::to_string(idx) + " has " + std::to_string(outs.size()) + " outputs, the operator " +
                std::to_string(n));
    for (Value* v : outs) body_output(b, *g, v);
    a.graph(attr, b.take_subgraph(g));
  }
  set_out_types(c, c.nodes("If", {cond}, n, std::move(a)));
}

void while_op(OpContext& c) {
  // TFLite: v = inputs; while (cond(v)) v = body(v); outputs = v. ONNX Loop evaluates its
  // condition before the first iteration from an input and after each from the body, so the
  // cond subgraph is translated twice: on the initial values here and on the body's results.
  Builder& b = c.tr.builder();
  uint32_t cond_i = subgraph_index(c, 4, "cond"), body_i = subgraph_index(c, 6, "body");
  std::vector<Value*> init = all_inputs(c, 0);
  size_t n = init.size();
  if (c.op.outputs.size() != n)
    c.invalid("has " + std::to_string(n) + " inputs but " + std::to_string(c.op.outputs.size()) + " outputs (they are the loop variables)");
  if (body_i >= c.tr.model().subgraphs.size()) c.invalid("body subgraph index " + std::to_string(body_i) + " is out of range");
  const SubgraphDef& body_sg = c.tr.model().subgraphs[body_i];
  if (body_sg.inputs.size() != n) c.invalid("body subgraph takes " + std::to_string(body_sg.inputs.size()) + " inputs, not " + std::to_string(n));

  std::vector<Value*> c0 = c.tr.inline_subgraph(cond_i, c.tr.graph(), init, c.name, false);
  if (c0.size() != 1) c.invalid("cond subgraph " + std::to_string(cond_i) + " has " + std::to_string(c0.size()) + " outputs, expected 1");
  Value* first = scalar_cond(b, c.tr.graph(), c, c0[0]);

  Graph* g = b.new_subgraph(c.tr.graph(), c.name + "/body");
  b.input(*g, c.name + "/iteration", Type::tensor(DataType::kInt64, {}));
  b.input(*g, c.name + "/cond_in", Type::tensor(DataType::kBool, {}));
  std::vector<Value*> vars;
  for (size_t k = 0; k < n; ++k) {
    const TensorDef& t = body_sg.tensors[body_sg.inputs[k]];
    std::string name = c.name + "/var" + std::to_string(k);
    vars.push_back(b.input(*g, name, c.tr.input_type(t, name)));
  }
  std::vector<Value*> next = c.tr.inline_subgraph(body_i, *g, vars, c.name, true);
  if (next.size() != n) c.invalid("body subgraph " + std::to_string(body_i) + " has " + std::to_string(next.size()) + " outputs, expected " + std::to_string(n));
  std::vector<Value*> again = c.tr.inline_subgraph(cond_i, *g, next, c.name, true);
  body_output(b, *g, scalar_cond(b, *g, c, again.at(0)));
  for (Value* v : next) body_output(b, *g, v);

  std::vector<Value*> ins{nullptr, first};
  ins.insert(ins.end(), init.begin(), init.end());
  set_out_types(c, c.nodes("Loop", ins, n, std::move(Attrs().graph("body", b.take_subgraph(g)))));
}

void call_once(OpContext& c) {
  if (c.tr.in_body()) c.unsupported("CALL_ONCE inside an IF/WHILE body");
  c.tr.inline_subgraph(subgraph_index(c, 4, "init"), c.tr.graph(), {}, c.name, false);
}

void var_handle(OpContext& c) {
  flatbuf::Table o = c.options();
  std::string container = o.valid() ? o.string(4) : "", shared = o.valid() ? o.string(6) : "";
  if (shared.empty()) c.unsupported("a VAR_HANDLE without a shared_name (the variable cannot be told apart)");
  if (c.op.outputs.size() != 1 || c.op.outputs[0] < 0) c.invalid("has no output handle");
  c.tr.resources()[c.op.outputs[0]] = container + "/" + shared;
}

namespace {
const std::string& handle_key(OpContext& c) {
  if (!c.has_input(0)) c.invalid("has no variable handle input");
  auto it = c.tr.resources().find(c.op.inputs[0]);
  if (it == c.tr.resources().end())
    c.unsupported("the variable handle '" + c.in_tensor(0).name + "' does not come from a VAR_HANDLE of the same subgraph");
  return it->second;
}
}  // namespace

void read_variable(OpContext& c) {
  const std::string& key = handle_key(c);
  auto it = c.tr.state().variables.find(key);
  if (it == c.tr.state().variables.end())
    c.unsupported("variable '" + key + "' is read before anything (CALL_ONCE init or ASSIGN_VARIABLE) assigns it");
  c.set_out(0, c.node("Identity", {it->second}));
}

void assign_variable(OpContext& c) {
  // Inside a body the assignment would have to be a loop-carried value; not modelled.
  if (c.tr.in_body()) c.unsupported("ASSIGN_VARIABLE inside an IF/WHILE body");
  const std::string& key = handle_key(c);
  c.tr.state().variables[key] = c.in(1);
}

}  // namespace irforge::tflite
