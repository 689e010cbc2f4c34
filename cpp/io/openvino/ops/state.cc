// Model state (the KV cache of a stateful LLM): the irforge-domain ops ReadValue and Assign,
// lowered to OpenVINO's ReadValue-6 and Assign-6. ONNX has no state, so these exist only in the
// `irforge` domain (README: "The graph builder"):
//   irforge::ReadValue(init) -> value   attrs variable_id (string), variable_shape (ints, -1 =
//       dynamic; optional), variable_type (ONNX element type; default: init's). The value the
//       variable holds, or `init` on the first inference after a reset.
//   irforge::Assign(value) -> ()        attr variable_id. Stores `value` for the next inference.
// Assign has no outputs; it is a sink of the OpenVINO model (the IR reader collects Assign
// layers as sinks), which is why the OpenVINO graph keeps output-less layers when it prunes.
#include "io/openvino/lowering.h"
#include "support/error.h"

namespace irforge::ov {

namespace {

std::string variable_id(NodeContext& c) {
  std::string id = c.attr_string("variable_id", "");
  if (id.empty()) c.invalid("needs a non-empty variable_id attribute");
  return id;
}

void lower_read_value(NodeContext& c) {
  if (c.num_inputs() != 1 || !c.has_input(0)) c.invalid("takes exactly one input (the initial value)");
  if (c.num_outputs() != 1) c.invalid("has exactly one output");
  PortRef init = c.input_keep_precision(0);
  ElemType t = c.type(init);
  if (auto declared = c.attr_elem_type("variable_type"); declared && *declared != t)
    c.invalid(std::string("variable_type ") + elem_name(*declared) + " differs from the initial value's type " + elem_name(t));
  std::string shape;
  if (c.has_attr("variable_shape")) {
    Ints dims = c.attr_ints("variable_shape");
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] < -1) c.invalid("variable_shape dims must be >= -1");
      shape += (i ? "," : "") + (dims[i] < 0 ? std::string("?") : std::to_string(dims[i]));
    }
  } else {
    shape = "...";
  }
  PortRef v = c.op("ReadValue", "opset6", {init}, {{"variable_id", variable_id(c)}, {"variable_type", elem_name(t)}, {"variable_shape", shape}}, t);
  c.set_output(0, v);
}

void lower_assign(NodeContext& c) {
  if (c.num_inputs() != 1 || !c.has_input(0)) c.invalid("takes exactly one input (the new value)");
  if (c.num_outputs() != 0) c.invalid("has no outputs");
  c.op_multi("Assign", "opset6", {c.input_keep_precision(0)}, {{"variable_id", variable_id(c)}}, {});
}

}  // namespace

void register_state_ops(LowerRegistry& r) {
  r.add("ReadValue", lower_read_value, "irforge");
  r.add("Assign", lower_assign, "irforge");
}

}  // namespace irforge::ov
