// A small strict JSON parser (RFC 8259) for the readers of JSON-based formats: the safetensors
// header and shard index (model.safetensors.index.json), MXNet symbol files. Headers come from untrusted files and a fuzzer feeds it, so it
// bounds nesting depth, refuses trailing bytes, invalid escapes and lone surrogates, and keeps
// integers exact (offsets beyond 2^53 would be rounded by a double).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace irforge::json {

struct Value {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  // Numbers: the integer when the text is one that fits int64 (is_int), else only `number`.
  bool is_int = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  // Objects: keys[i] names values[i], in file order; duplicate keys are refused. (Two vectors,
  // not pairs: std::pair of an incomplete type does not compile with clang and libstdc++.)
  std::vector<std::string> keys;
  std::vector<Value> values;

  // The member named `key` of an object, or nullptr.
  const Value* find(std::string_view key) const;
  bool is_object() const { return kind == Kind::kObject; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kNumber; }
};

constexpr int kMaxDepth = 64;

// Parses `text` as one JSON value. Throws Error(kInvalidModel)
// "<what>: JSON syntax error: <rule> at byte N (line L)".
Value parse(std::string_view text, const std::string& what);

}  // namespace irforge::json
