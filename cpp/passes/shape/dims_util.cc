#include "passes/shape/dims_util.h"

#include <cstdint>

#include "passes/util.h"

namespace irforge::passes {

namespace {

constexpr int kMaxDepth = 16;  // producer chains of shape arithmetic are short; bounds the walk

bool elem_type_is(const Value* v, DataType t) { return v && v->type().is_tensor() && v->type().elem_type == t; }

bool dims_at_depth(const Value* v, int depth) {
  if (!v || depth > kMaxDepth) return false;
  if (auto k = constant_ints(v)) {
    for (int64_t d : *k)
      if (d < 0 || d > INT32_MAX) return false;
    return elem_type_is(v, DataType::kInt64);
  }
  const Node* p = v->producer();
  if (!p || !p->domain().empty() || p->num_outputs() != 1 || !elem_type_is(v, DataType::kInt64)) return false;
  const std::string& op = p->op_type();
  if (op == "Shape" || op == "Size") return true;
  // Ops that only select or regroup elements of their first input (the others are indices,
  // starts, axes: not part of the result).
  if (op == "Slice" || op == "Gather" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity" || op == "Reshape" ||
      op == "Flatten")
    return p->inputs().size() >= 1 && dims_at_depth(p->input(0), depth + 1);
  if (op == "Concat") {
    for (const Value* in : p->inputs())
      if (!dims_at_depth(in, depth + 1)) return false;
    return !p->inputs().empty();
  }
  return false;
}

}  // namespace

bool holds_dims(const Value* v) { return dims_at_depth(v, 0); }

}  // namespace irforge::passes
