#include "passes/legalize/expand_util.h"

#include <cstring>

#include "passes/legalize/expand_fused_ops.h"
#include "passes/util.h"
#include "support/error.h"
#include "support/fp16.h"

namespace irforge::passes {

Attribute int_attr(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.kind = AttrKind::kInt;
  a.i = v;
  return a;
}

Attribute float_attr(const std::string& name, float v) {
  Attribute a;
  a.name = name;
  a.kind = AttrKind::kFloat;
  a.f = v;
  return a;
}

Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.kind = AttrKind::kInts;
  a.ints = std::move(v);
  return a;
}

Expansion::Expansion(Graph& g, Node* node, int64_t opset) : g_(g), node_(node), opset_(opset) {
  if (node->num_outputs() == 0 || !node->input(0))
    fail(ErrorKind::kInvalidModel, "cannot expand " + node->describe() + " for ONNX output: it has no input or no output");
  elem_ = node->output(0)->type().elem_type;
  if (elem_ == DataType::kUndefined && node->input(0)) elem_ = node->input(0)->type().elem_type;
  if (elem_ == DataType::kUndefined)
    fail(ErrorKind::kUnsupported, "cannot expand " + node->describe() + " for ONNX output: its element type is unknown");
  base_ = node->name().empty() ? node->output(0)->name() : node->name();
}

std::string Expansion::name(const std::string& suffix) { return expansion_name(base_ + "/" + suffix); }

Value* Expansion::op(const std::string& op_type, const std::vector<Value*>& inputs, std::vector<Attribute> attrs, DataType out_type) {
  Node* n = g_.insert_node_before(node_, op_type);
  n->set_name(name(op_type));
  for (Value* v : inputs) n->add_input(v);
  n->attributes() = std::move(attrs);
  Value* out = n->add_output(name(op_type + "_output"));
  out->set_type(Type::tensor(out_type == DataType::kUndefined ? elem_ : out_type));
  return out;
}

Value* Expansion::scalar(double v, DataType t) {
  if (t == DataType::kUndefined) t = elem_;
  auto tensor = std::make_shared<Tensor>(name("const"), t, std::vector<int64_t>{});
  std::vector<uint8_t> bytes;
  if (t == DataType::kFloat) {
    float f = static_cast<float>(v);
    bytes.resize(4);
    std::memcpy(bytes.data(), &f, 4);
  } else if (t == DataType::kDouble) {
    bytes.resize(8);
    std::memcpy(bytes.data(), &v, 8);
  } else if (t == DataType::kFloat16 || t == DataType::kBfloat16) {
    uint16_t h = t == DataType::kFloat16 ? f32_to_f16(static_cast<float>(v)) : f32_to_bf16(static_cast<float>(v));
    bytes.resize(2);
    std::memcpy(bytes.data(), &h, 2);
  } else {
    fail(ErrorKind::kUnsupported, "cannot expand " + node_->describe() + " for ONNX output: unsupported element type");
  }
  tensor->set_owned(std::move(bytes));
  return g_.add_initializer(std::move(tensor));
}

Value* Expansion::ints(const std::vector<int64_t>& v) {
  auto tensor = std::make_shared<Tensor>(name("axes"), DataType::kInt64, std::vector<int64_t>{static_cast<int64_t>(v.size())});
  std::vector<uint8_t> bytes(v.size() * 8);
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  tensor->set_owned(std::move(bytes));
  return g_.add_initializer(std::move(tensor));
}

Value* Expansion::reduce_mean(Value* x, const std::vector<int64_t>& axes) {
  DataType t = x->type().elem_type;
  if (opset_ >= 18) return op("ReduceMean", {x, ints(axes)}, {}, t);
  std::vector<Attribute> attrs;
  attrs.push_back(ints_attr("axes", axes));
  return op("ReduceMean", {x}, std::move(attrs), t);
}

Value* Expansion::cast(Value* x, DataType from, DataType to) {
  if (from == to) return x;
  // Cast-1..5 name the type as a string; written with an int `to` it does not read back.
  if (opset_ < 6)
    fail(ErrorKind::kUnsupported, "cannot expand " + node_->describe() + " for ONNX output at opset " + std::to_string(opset_) +
                                      ": its expansion casts, and Cast takes an integer type from opset 6; write OpenVINO IR (.xml) instead");
  std::vector<Attribute> attrs;
  attrs.push_back(int_attr("to", static_cast<int64_t>(to)));
  return op("Cast", {x}, std::move(attrs), to);
}

std::vector<int64_t> Expansion::trailing_axes(const Value* x, int64_t axis) const {
  // One axis per step from a negative axis up to 0: bounded by the rank (or, unknown, by the
  // largest rank a tensor may have), or a malformed axis (-1e12, found by fuzz_pipeline) loops.
  const auto& known = x->type().shape;
  int64_t rank = known ? static_cast<int64_t>(known->size()) : 64;
  if (axis < -rank || (known && axis >= rank))
    fail(ErrorKind::kInvalidModel, node_->describe() + ": axis " + std::to_string(axis) + " is outside the input's rank " +
                                       (known ? std::to_string(rank) : std::string("(at most 64)")));
  if (axis >= 0) {
    const auto& shape = x->type().shape;
    if (!shape)
      fail(ErrorKind::kUnsupported, "cannot expand " + node_->describe() + " for ONNX output: axis " + std::to_string(axis) +
                                        " needs the input's rank, which is unknown");
    axis -= static_cast<int64_t>(shape->size());
  }
  std::vector<int64_t> axes;
  for (int64_t a = axis; a < 0; ++a) axes.push_back(a);
  return axes;
}

void Expansion::finish(Value* result) {
  for (size_t k = 1; k < node_->num_outputs(); ++k)
    if (node_->output(k)->has_uses() || node_->output(k)->is_graph_output())
      fail(ErrorKind::kUnsupported, "cannot expand " + node_->describe() + " for ONNX output: its output " + std::to_string(k) + " is used");
  Value* old = node_->output(0);
  result->set_type(old->type());
  if (!replace_value(g_, old, result))
    fail(ErrorKind::kInternal, "cannot expand " + node_->describe() + ": its output could not be replaced");
  g_.remove_node(node_);
}

}  // namespace irforge::passes
