#include "io/openvino/custom_layers.h"

#include <map>
#include <mutex>

namespace irforge::ov {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::map<std::pair<std::string, std::string>, std::string>& registry() {
  static std::map<std::pair<std::string, std::string>, std::string> r;
  return r;
}

// <data> text of an attribute; nullopt for kinds a layer attribute cannot hold (graphs, tensors).
std::optional<std::string> attribute_text(const Attribute& a) {
  auto join = [](const auto& xs, auto fmt) {
    std::string out;
    for (size_t i = 0; i < xs.size(); ++i) out += (i ? "," : "") + fmt(xs[i]);
    return out;
  };
  switch (a.kind) {
    case AttrKind::kInt: return std::to_string(a.i);
    case AttrKind::kFloat: return fmt_float(a.f);
    case AttrKind::kString: return a.s;
    case AttrKind::kInts: return join(a.ints, [](int64_t v) { return std::to_string(v); });
    case AttrKind::kFloats: return join(a.floats, [](float v) { return fmt_float(v); });
    case AttrKind::kStrings: return join(a.strings, [](const std::string& v) { return v; });
    default: return std::nullopt;
  }
}

void lower_custom(NodeContext& c, const std::string& version) {
  std::vector<PortRef> inputs;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    if (!c.has_input(i)) c.unsupported("custom layer input " + std::to_string(i) + " is omitted; OpenVINO layers have no optional inputs");
    inputs.push_back(c.input_keep_precision(i));  // the user's op gets exactly the model's types
  }
  NodeContext::Attrs attrs;
  for (const Attribute& a : c.node().attributes()) {
    auto text = attribute_text(a);
    if (!text) c.unsupported("attribute '" + a.name + "' is a graph or tensor, which a custom layer's <data> cannot hold");
    attrs.emplace_back(a.name, *text);
  }
  std::vector<ElemType> outs;
  for (size_t k = 0; k < c.num_outputs(); ++k) {
    const Type& t = c.node().output(k)->type();
    auto et = t.is_tensor() ? from_onnx(t.elem_type) : std::nullopt;
    if (!et) c.unsupported("output " + std::to_string(k) + " has no known element type; the custom op's shape inference must give one");
    outs.push_back(*et);
  }
  std::vector<PortRef> ports = c.op_multi(c.op_type(), version, inputs, attrs, outs);
  for (size_t k = 0; k < ports.size(); ++k) c.set_output(k, ports[k]);
}

}  // namespace

void register_custom_layer(const std::string& domain, const std::string& op_type, const std::string& version) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[{domain, op_type}] = version;
}

bool unregister_custom_layer(const std::string& domain, const std::string& op_type) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  return registry().erase({domain, op_type}) > 0;
}

std::optional<LowerFn> custom_layer_lowering(const std::string& domain, const std::string& op_type) {
  std::string version;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find({domain, op_type});
    if (it == registry().end()) return std::nullopt;
    version = it->second;
  }
  return LowerFn([version](NodeContext& c) { lower_custom(c, version); });
}

}  // namespace irforge::ov
