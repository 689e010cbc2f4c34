// ONNX ops of the "control" family lowered to OpenVINO opsets.
#include "io/openvino/lowering.h"

namespace irforge::ov {

void register_control_ops(LowerRegistry& r) { (void)r; }

}  // namespace irforge::ov
