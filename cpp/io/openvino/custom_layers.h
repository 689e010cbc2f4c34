// Pass-through custom layers (irforge.register_custom_op): a node of a registered (domain, op
// type) that irforge does not lower is written to OpenVINO IR as a layer of its own: type = the
// op type, version = the extension opset name the user gave, <data> = the node's attributes as
// text (ints and floats; lists comma-separated), output ports typed from the IR (the user's shape
// inference). OpenVINO reads it when given a matching op (core.add_extension).
// The registry is process-wide and guarded by a mutex (conversions run on several threads).
#pragma once

#include <optional>
#include <string>

#include "io/openvino/lowering.h"

namespace irforge::ov {

void register_custom_layer(const std::string& domain, const std::string& op_type, const std::string& version);
bool unregister_custom_layer(const std::string& domain, const std::string& op_type);
// The lowering of a registered custom layer; nullopt when (domain, op_type) is not registered.
std::optional<LowerFn> custom_layer_lowering(const std::string& domain, const std::string& op_type);

}  // namespace irforge::ov
