// Input specifications as ovc/mo take them (`--input "x[1,3,224,224]"`, `x{i64}->[0]`): fix an
// input's shape, change its element type, or freeze it to a value. Not a pass (it needs the
// user's values); convert_model applies it before the pipeline, whose infer-shapes,
// simplify-shapes, fold and prune-if then make constant what became constant.
//
// Shape: every dim static or dynamic (kUnknown; ranges are accepted by the parser and kept
// dynamic). A static dim that contradicts the model's stated one is allowed (as ovc reshapes),
// and then every inferred intermediate shape is dropped so inference starts afresh.
// Type: the graph input takes the new type and a Cast back to the model's type feeds its users.
// Value: the input stops being an input: an initializer of the same name takes its place
// (followed by a Cast when its type differs from the model's).
// Errors (kInvalidModel) name the input: unknown name, rank or dim mismatch, value size.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace irforge::passes {

struct InputSpec {
  std::string name;
  std::optional<Shape> shape;                  // Dim::kValue or kUnknown entries
  DataType type = DataType::kUndefined;       // kUndefined: keep the model's
  std::shared_ptr<Tensor> value;              // freeze to this tensor (dims and dtype set)
};

void apply_input_specs(Model& model, const std::vector<InputSpec>& specs);

}  // namespace irforge::passes
