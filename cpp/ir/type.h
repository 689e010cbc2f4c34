// Value types as ONNX's TypeProto: tensors (elem type + optional shape with static or symbolic
// dims), sparse tensors, sequences, maps, optionals and opaque types.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/dtype.h"

namespace irforge {

struct Dim {
  enum class Kind : uint8_t { kUnknown, kValue, kParam };
  Kind kind = Kind::kUnknown;
  int64_t value = 0;
  std::string param;
  std::string denotation;

  static Dim of(int64_t v) { Dim d; d.kind = Kind::kValue; d.value = v; return d; }
  static Dim symbol(std::string p) { Dim d; d.kind = Kind::kParam; d.param = std::move(p); return d; }
  bool is_static() const { return kind == Kind::kValue; }
  bool operator==(const Dim& o) const {
    return kind == o.kind && value == o.value && param == o.param && denotation == o.denotation;
  }
};

using Shape = std::vector<Dim>;

struct Type {
  enum class Kind : uint8_t { kNone, kTensor, kSparseTensor, kSequence, kMap, kOptional, kOpaque };
  Kind kind = Kind::kNone;
  DataType elem_type = DataType::kUndefined;  // tensor / sparse tensor
  std::optional<Shape> shape;                 // tensor / sparse tensor; nullopt = unknown rank
  std::shared_ptr<Type> elem;                 // sequence / optional element, map value
  DataType key_type = DataType::kUndefined;   // map
  std::string opaque_domain, opaque_name;     // opaque
  std::string denotation;

  static Type tensor(DataType t) { Type ty; ty.kind = Kind::kTensor; ty.elem_type = t; return ty; }
  static Type tensor(DataType t, Shape s) {
    Type ty = tensor(t);
    ty.shape = std::move(s);
    return ty;
  }
  bool known() const { return kind != Kind::kNone; }
  bool is_tensor() const { return kind == Kind::kTensor; }
};

std::string type_to_string(const Type& t);

}  // namespace irforge
