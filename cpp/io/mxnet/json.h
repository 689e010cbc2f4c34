// A small strict JSON parser for MXNet symbol files: a value tree with objects kept in file
// order. Depth and size are bounded; errors name the source, line and what was expected.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace irforge::json {

struct Value {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool b = false;
  double number = 0;
  std::string text;  // string value, or a number's source text
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;

  const Value* get(std::string_view key) const;  // object member or nullptr
  bool is_array() const { return kind == Kind::kArray; }
  bool is_object() const { return kind == Kind::kObject; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kNumber; }
};

// Throws Error(kInvalidModel) "<source>:<line>: JSON syntax error: ..."; kResourceLimit when
// nested deeper than 128 levels.
Value parse(std::string_view text, const std::string& source);

}  // namespace irforge::json
