// fuse-split-convs — turns "split the channels, convolve each part, concatenate" into one
// grouped convolution (the ResNeXt/Inception-era pattern, and what group convs look like when
// exported by frameworks without them).
//
//   x → Split(axis 1, G equal parts) → Conv_i(W_i, b_i) → Concat(axis 1) → y
//     ⇒  x → Conv(concat_0(W_i), concat(b_i), group = G * g) → y
//
// Exact: group j*g + k of the merged conv reads channels of part j and writes output channels
// j*M + k*(M/g), the same elements Conv_j computed and Concat placed there.
// Must not fire when: the parts or the convs are not all alike (weight dims, kernel_shape,
// strides, pads, dilations, auto_pad, group); Concat does not take the conv outputs in split
// order and nothing else; any intermediate has another user or is a graph output; a weight or
// bias is not a float32 constant read only by its conv; explicit split sizes differ.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseSplitConvs final : public Pass {
 public:
  const char* name() const override { return "fuse-split-convs"; }
  const char* summary() const override { return "merge Split → parallel Convs → Concat into one grouped Conv"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
