// ONNX ops of the "tensor" family lowered to OpenVINO opsets.
#include "io/openvino/lowering.h"

namespace irforge::ov {

void register_tensor_ops(LowerRegistry& r) { (void)r; }

}  // namespace irforge::ov
