// Structural checks of the IR, run after every pass in tests and debug pipelines:
// topological order, consistent use lists, no dangling values, outputs defined, unique names.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace irforge {

// Returns the problems found (empty when the model is well-formed).
std::vector<std::string> verify(const Model& model);
// Throws Error(kInternal) listing the first problems.
void verify_or_throw(const Model& model, const std::string& context);

}  // namespace irforge
