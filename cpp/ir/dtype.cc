#include "ir/dtype.h"

namespace irforge {

bool is_known_dtype(int32_t value) { return value >= 0 && value <= kMaxDataType; }

int bits_per_element(DataType t) {
  switch (t) {
    case DataType::kUint2:
    case DataType::kInt2:
      return 2;
    case DataType::kUint4:
    case DataType::kInt4:
    case DataType::kFloat4E2M1:
      return 4;
    case DataType::kFloat6E2M3:
    case DataType::kFloat6E3M2:
      return 6;
    case DataType::kUint8:
    case DataType::kInt8:
    case DataType::kBool:
    case DataType::kFloat8E4M3FN:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat8E8M0:
      return 8;
    case DataType::kUint16:
    case DataType::kInt16:
    case DataType::kFloat16:
    case DataType::kBfloat16:
      return 16;
    case DataType::kFloat:
    case DataType::kInt32:
    case DataType::kUint32:
      return 32;
    case DataType::kInt64:
    case DataType::kUint64:
    case DataType::kDouble:
    case DataType::kComplex64:
      return 64;
    case DataType::kComplex128:
      return 128;
    case DataType::kString:
    case DataType::kUndefined:
      return 0;
  }
  return 0;
}

std::string dtype_name(DataType t) {
  static const char* const kNames[] = {
      "UNDEFINED", "FLOAT",          "UINT8",      "INT8",           "UINT16",     "INT16",
      "INT32",     "INT64",          "STRING",     "BOOL",           "FLOAT16",    "DOUBLE",
      "UINT32",    "UINT64",         "COMPLEX64",  "COMPLEX128",     "BFLOAT16",   "FLOAT8E4M3FN",
      "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4",     "INT4",       "FLOAT4E2M1",
      "FLOAT8E8M0", "UINT2",         "INT2",       "FLOAT6E2M3",     "FLOAT6E3M2"};
  int32_t v = static_cast<int32_t>(t);
  if (is_known_dtype(v)) return kNames[v];
  return "DATATYPE(" + std::to_string(v) + ")";
}

std::optional<uint64_t> raw_bytes_for(DataType t, uint64_t count) {
  uint64_t bits = static_cast<uint64_t>(bits_per_element(t));
  if (bits == 0) return std::nullopt;
  if (count > UINT64_MAX / bits) return std::nullopt;
  return (count * bits + 7) / 8;
}

bool is_float_dtype(DataType t) {
  switch (t) {
    case DataType::kFloat:
    case DataType::kFloat16:
    case DataType::kBfloat16:
    case DataType::kDouble:
      return true;
    default:
      return false;
  }
}

}  // namespace irforge
