#include "ir/type.h"

namespace irforge {

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

std::string shape_to_string(const std::optional<Shape>& shape) {
  if (!shape) return "[...]";
  std::string out = "[";
  for (size_t i = 0; i < shape->size(); ++i) {
    if (i) out += ",";
    const Dim& d = (*shape)[i];
    if (d.kind == Dim::Kind::kValue) out += std::to_string(d.value);
    else if (d.kind == Dim::Kind::kParam) out += "\"" + d.param + "\"";
    else out += "?";
  }
  return out + "]";
}
}  // namespace

std::string type_to_string(const Type& t) {
  switch (t.kind) {
    case Type::Kind::kNone: return "?";
    case Type::Kind::kTensor: return lower(dtype_name(t.elem_type)) + shape_to_string(t.shape);
    case Type::Kind::kSparseTensor:
      return "sparse_tensor(" + lower(dtype_name(t.elem_type)) + shape_to_string(t.shape) + ")";
    case Type::Kind::kSequence: return "seq(" + (t.elem ? type_to_string(*t.elem) : "?") + ")";
    case Type::Kind::kOptional: return "optional(" + (t.elem ? type_to_string(*t.elem) : "?") + ")";
    case Type::Kind::kMap:
      return "map(" + lower(dtype_name(t.key_type)) + "," + (t.elem ? type_to_string(*t.elem) : "?") + ")";
    case Type::Kind::kOpaque: return "opaque(" + t.opaque_domain + "," + t.opaque_name + ")";
  }
  return "?";
}

}  // namespace irforge
