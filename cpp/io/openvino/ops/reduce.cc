// ONNX ops of the "reduce" family lowered to OpenVINO opsets.
#include "io/openvino/lowering.h"

namespace irforge::ov {

void register_reduce_ops(LowerRegistry& r) { (void)r; }

}  // namespace irforge::ov
