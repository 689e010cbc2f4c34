// ONNX ops of the "misc" family lowered to OpenVINO opsets.
#include "io/openvino/lowering.h"

namespace irforge::ov {

void register_misc_ops(LowerRegistry& r) { (void)r; }

}  // namespace irforge::ov
