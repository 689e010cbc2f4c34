// ONNX ops of the "nn" family lowered to OpenVINO opsets.
#include "io/openvino/lowering.h"

namespace irforge::ov {

void register_nn_ops(LowerRegistry& r) { (void)r; }

}  // namespace irforge::ov
