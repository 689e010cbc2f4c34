#include "passes/shape/dims_util.h"

#include <algorithm>
#include <cstdint>

#include "passes/util.h"

namespace irforge::passes {

namespace {

constexpr int kMaxDepth = 16;  // producer chains of shape arithmetic are short; bounds the walk

bool selects_elements(const Node* p) {
  if (!p || !p->domain().empty() || p->num_outputs() != 1 || p->inputs().empty() || !p->input(0)) return false;
  const std::string& op = p->op_type();
  return op == "Slice" || op == "Gather" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity" || op == "Reshape" ||
         op == "Flatten";
}

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
  if (selects_elements(p)) return dims_at_depth(p->input(0), depth + 1);
  if (op == "Concat") {
    for (const Value* in : p->inputs())
      if (!dims_at_depth(in, depth + 1)) return false;
    return !p->inputs().empty();
  }
  return false;
}

}  // namespace

bool elem_type_is(const Value* v, DataType t) { return v && v->type().is_tensor() && v->type().elem_type == t; }

bool is_cast_to(const Node* n, DataType t) {
  return n && n->op_type() == "Cast" && n->domain().empty() && n->inputs().size() == 1 && n->input(0) &&
         n->attr_int("to", -1) == static_cast<int64_t>(t);
}

bool holds_dims(const Value* v) { return dims_at_depth(v, 0); }

std::optional<Int32Dims> int32_selection_of_dims(const Value* v) {
  Int32Dims found;
  for (int depth = 0; depth <= kMaxDepth && elem_type_is(v, DataType::kInt32); ++depth) {
    const Node* p = v->producer();
    if (is_cast_to(p, DataType::kInt32)) {
      if (!holds_dims(p->input(0))) return std::nullopt;
      found.dims = p->input(0);
      std::reverse(found.chain.begin(), found.chain.end());
      return found;
    }
    if (!selects_elements(p)) return std::nullopt;
    found.chain.push_back(p);
    v = p->input(0);
  }
  return std::nullopt;
}

}  // namespace irforge::passes
