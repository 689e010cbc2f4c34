// Embedded preprocessing as Model Optimizer had it (ovc dropped it): per graph input, a layout
// change (Transpose), reversed channels (RGB<->BGR), mean subtraction and scale division, in
// mo's order: the model computes  model((reverse(transpose(x)) - mean) / scale),  with mean and
// scale given per channel in the model's own channel order. Not a pipeline pass (user values);
// convert_model applies it after the input specs (so a u8 input's Cast comes first).
//
// Folding: when the (transposed) input feeds only a Conv (group 1, float32 constant weight and
// bias, no padding) the affine per-channel map is exact inside the Conv, so it is folded:
//   W'[m, j, k] = W[m, r(j), k] / scale[r(j)]       r = channel reversal (or identity)
//   b'[m]       = b[m] - sum_{c,k} W[m, c, k] * mean[c] / scale[c]
// and no layer is added. Zero padding would turn into (0 - mean) / scale at the borders, so a
// padded Conv is not folded (as the issue asks); then Gather (reverse), Sub and Div constants
// are inserted, the form OpenVINO's CPU plugin fuses into the first layer.
//
// Errors (UsageError naming the input): no such input, a mean/scale length that is neither 1
// nor the channel count, scale 0 or non-finite values, reversal without a known channel count,
// a layout permutation of the wrong rank, a non-float input (after its type change) for
// mean/scale.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace irforge::passes {

struct PreprocessSpec {
  std::string input;
  std::vector<double> mean, scale;  // empty, one value, or one per channel
  bool reverse_channels = false;
  int64_t channel_axis = 1;         // in the model's layout
  // Transpose from the new input layout to the model's: model dim i = input dim perm[i]. Empty: none.
  std::vector<int64_t> perm;
};

struct PreprocessResult {
  int64_t folded = 0;    // inputs whose mean/scale/reversal went into a Conv's weights
  int64_t inserted = 0;  // nodes added
};

PreprocessResult preprocess_inputs(Model& model, const std::vector<PreprocessSpec>& specs);

}  // namespace irforge::passes
