// Raising a model's default-domain ("ai.onnx") opset import, for outputs that need newer
// operators (int4 / blocked DequantizeLinear needs opset 21).
//
// Between opsets 13 and 21 most operator revisions only add types or optional attributes whose
// defaults keep the old meaning. The exceptions are rewritten here:
//   Reduce{Max,Min,Mean,Prod,L1,L2,LogSum,LogSumExp,SumSquare} (18): `axes` attribute → input
//   Split (18): an even split without the `split` input now needs `num_outputs`
//   RoiAlign (16): the default coordinate_transformation_mode became half_pixel; the old
//                  behaviour is spelled out as output_half_pixel
//   GridSample (20): modes bilinear/bicubic were renamed linear/cubic
// and the model is refused (left unchanged) for older opsets (< 13), for GroupNormalization
// before 21 and DFT before 20 (their inputs changed meaning), and for model-local functions
// that import the default domain.
#pragma once

#include <cstdint>
#include <string>

#include "ir/graph.h"

namespace irforge::passes {

// Returns "" when the model's default opset is now >= target (raising ir_version to what the
// opset needs), else the reason it was left unchanged.
std::string upgrade_default_opset(Model& model, int64_t target);

}  // namespace irforge::passes
