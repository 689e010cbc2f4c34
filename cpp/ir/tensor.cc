#include "ir/tensor.h"

#include <cstring>

#include "support/fp16.h"

namespace irforge {

uint64_t Tensor::element_count() const {
  uint64_t n = 1;
  for (int64_t d : dims_) n *= static_cast<uint64_t>(d);
  return n;
}

namespace {
template <typename T>
void append_as(std::vector<double>& out, const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    out.push_back(static_cast<double>(v));
  }
}
}  // namespace

std::optional<std::vector<double>> tensor_as_doubles(const Tensor& t) {
  std::vector<double> out;
  uint64_t n = t.element_count();
  const uint8_t* p = t.data();
  if (n > 0 && !p) return std::nullopt;
  switch (t.dtype()) {
    case DataType::kFloat: append_as<float>(out, p, n); break;
    case DataType::kDouble: append_as<double>(out, p, n); break;
    case DataType::kInt64: append_as<int64_t>(out, p, n); break;
    case DataType::kInt32: append_as<int32_t>(out, p, n); break;
    case DataType::kInt16: append_as<int16_t>(out, p, n); break;
    case DataType::kInt8: append_as<int8_t>(out, p, n); break;
    case DataType::kUint64: append_as<uint64_t>(out, p, n); break;
    case DataType::kUint32: append_as<uint32_t>(out, p, n); break;
    case DataType::kUint16: append_as<uint16_t>(out, p, n); break;
    case DataType::kUint8:
    case DataType::kBool: append_as<uint8_t>(out, p, n); break;
    case DataType::kFloat16:
      for (uint64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out.push_back(f16_to_f32(h));
      }
      break;
    default: return std::nullopt;
  }
  return out;
}

}  // namespace irforge
