// Which values hold dims: what shape passes may treat as non-negative sizes that fit int32.
#pragma once

#include <optional>
#include <vector>

#include "ir/graph.h"

namespace irforge::passes {

// A tensor value of element type `t`.
bool elem_type_is(const Value* v, DataType t);

// A default-domain Cast of one (present) input to `t`.
bool is_cast_to(const Node* n, DataType t);

// True when every element of the int64 value `v` is a dim: the output of Shape or Size, a
// constant in [0, 2^31), or elements selected or regrouped from such values (Slice, Gather,
// Squeeze, Unsqueeze, Identity, Reshape, Flatten of one; Concat of several). A dim of 2^31 or
// more would already make exporters' int32 shape arithmetic wrap, so such models do not occur.
bool holds_dims(const Value* v);

// Legacy Paddle programs cast a Shape to int32 and select from that (Slice, then Squeeze to a
// scalar, Reshape back to [1], ...). An int32 value made so: `dims`, an int64 value holding dims,
// under Cast(int32), then `chain` (innermost first, possibly empty) of ops that only select or
// regroup elements of their first input (Slice, Gather, Squeeze, Unsqueeze, Reshape, Flatten,
// Identity). Replaying the chain on `dims` gives the same elements in int64.
struct Int32Dims {
  Value* dims = nullptr;
  std::vector<const Node*> chain;
};
std::optional<Int32Dims> int32_selection_of_dims(const Value* v);

}  // namespace irforge::passes
