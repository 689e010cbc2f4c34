// Element types, numbered exactly as ONNX's TensorProto.DataType so no mapping is needed on I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace irforge {

enum class DataType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBfloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUint4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
  kFloat8E8M0 = 24,
  kUint2 = 25,
  kInt2 = 26,
  kFloat6E2M3 = 27,
  kFloat6E3M2 = 28,
};

constexpr int32_t kMaxDataType = 28;

// True for every value ONNX defines (kUndefined included).
bool is_known_dtype(int32_t value);
// Bits one element occupies in raw_data: 2, 4, 6, 8, 16, 32, 64 or 128; 0 for string/undefined.
int bits_per_element(DataType t);
// ONNX's upper-case name ("FLOAT16"), or "DATATYPE(n)" for unknown values.
std::string dtype_name(DataType t);
// Bytes raw_data takes for `count` elements (sub-byte types are packed); nullopt on overflow.
std::optional<uint64_t> raw_bytes_for(DataType t, uint64_t count);
bool is_float_dtype(DataType t);

}  // namespace irforge
