// Which values hold dims: what shape passes may treat as non-negative sizes that fit int32.
#pragma once

#include "ir/graph.h"

namespace irforge::passes {

// True when every element of the int64 value `v` is a dim: the output of Shape or Size, a
// constant in [0, 2^31), or elements selected or regrouped from such values (Slice, Gather,
// Squeeze, Unsqueeze, Identity, Reshape, Flatten of one; Concat of several). A dim of 2^31 or
// more would already make exporters' int32 shape arithmetic wrap, so such models do not occur.
bool holds_dims(const Value* v);

}  // namespace irforge::passes
