// Helpers shared by the folding kernels (kernels_*.cc only): typed element access over raw
// bytes, type dispatch, numpy broadcasting, strided copies, and the per-family registration
// functions that kernels.cc calls to build its one table.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "passes/fold/kernels.h"
#include "support/fp16.h"

namespace irforge::passes::fold {

using KernelTable = std::map<std::string, Kernel>;
void add_elementwise_kernels(KernelTable& table);
void add_cast_kernels(KernelTable& table);
void add_movement_kernels(KernelTable& table);
void add_reduce_kernels(KernelTable& table);

// ---- element types ----------------------------------------------------------------------------

struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

// Elem<T>: how one element of storage type T is read and written, and the type it is computed
// in (C): float for the 16-bit floats, bool read from any non-zero byte, T otherwise.
// Loads and stores go through memcpy: tensor bytes may sit at any alignment in a mapped file.
template <typename T>
struct Elem {
  using C = T;
  static constexpr size_t kSize = sizeof(T);
  static C load(const uint8_t* base, uint64_t i) {
    T v;
    std::memcpy(&v, base + i * sizeof(T), sizeof(T));
    return v;
  }
  static void store(uint8_t* base, uint64_t i, C v) { std::memcpy(base + i * sizeof(T), &v, sizeof(T)); }
};
template <>
struct Elem<bool> {
  using C = bool;
  static constexpr size_t kSize = 1;
  static C load(const uint8_t* base, uint64_t i) { return base[i] != 0; }
  static void store(uint8_t* base, uint64_t i, C v) { base[i] = v ? 1 : 0; }
};
template <>
struct Elem<Half> {
  using C = float;
  static constexpr size_t kSize = 2;
  static C load(const uint8_t* base, uint64_t i) {
    uint16_t h;
    std::memcpy(&h, base + 2 * i, 2);
    return f16_to_f32(h);
  }
  static void store(uint8_t* base, uint64_t i, C v) {
    uint16_t h = f32_to_f16(v);
    std::memcpy(base + 2 * i, &h, 2);
  }
};
template <>
struct Elem<BFloat16> {
  using C = float;
  static constexpr size_t kSize = 2;
  static C load(const uint8_t* base, uint64_t i) {
    uint16_t h;
    std::memcpy(&h, base + 2 * i, 2);
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  static void store(uint8_t* base, uint64_t i, C v) {
    uint16_t h = f32_to_bf16(v);
    std::memcpy(base + 2 * i, &h, 2);
  }
};

template <typename T>
constexpr DataType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DataType::kFloat;
  else if constexpr (std::is_same_v<T, double>) return DataType::kDouble;
  else if constexpr (std::is_same_v<T, Half>) return DataType::kFloat16;
  else if constexpr (std::is_same_v<T, BFloat16>) return DataType::kBfloat16;
  else if constexpr (std::is_same_v<T, bool>) return DataType::kBool;
  else if constexpr (std::is_same_v<T, int8_t>) return DataType::kInt8;
  else if constexpr (std::is_same_v<T, int16_t>) return DataType::kInt16;
  else if constexpr (std::is_same_v<T, int32_t>) return DataType::kInt32;
  else if constexpr (std::is_same_v<T, int64_t>) return DataType::kInt64;
  else if constexpr (std::is_same_v<T, uint8_t>) return DataType::kUint8;
  else if constexpr (std::is_same_v<T, uint16_t>) return DataType::kUint16;
  else if constexpr (std::is_same_v<T, uint32_t>) return DataType::kUint32;
  else return DataType::kUint64;
}

template <typename T>
constexpr bool is_floating_v = std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <typename T>
struct Tag {
  using type = T;
};

inline bool is_float_family(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kFloat16 || t == DataType::kBfloat16;
}

// Type dispatch: calls f(Tag<T>{}) for the storage type T of `t` and returns its result;
// false when `t` is not in the family. The lambda is instantiated for every member, so its
// body must compile for each (use `if constexpr` on the traits above).
template <typename F>
bool visit_float(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat: return f(Tag<float>{});
    case DataType::kDouble: return f(Tag<double>{});
    case DataType::kFloat16: return f(Tag<Half>{});
    case DataType::kBfloat16: return f(Tag<BFloat16>{});
    default: return false;
  }
}
template <typename F>
bool visit_int(DataType t, F&& f) {
  switch (t) {
    case DataType::kInt8: return f(Tag<int8_t>{});
    case DataType::kInt16: return f(Tag<int16_t>{});
    case DataType::kInt32: return f(Tag<int32_t>{});
    case DataType::kInt64: return f(Tag<int64_t>{});
    case DataType::kUint8: return f(Tag<uint8_t>{});
    case DataType::kUint16: return f(Tag<uint16_t>{});
    case DataType::kUint32: return f(Tag<uint32_t>{});
    case DataType::kUint64: return f(Tag<uint64_t>{});
    default: return false;
  }
}
template <typename F>
bool visit_numeric(DataType t, F&& f) {
  return is_float_family(t) ? visit_float(t, f) : visit_int(t, f);
}
template <typename F>
bool visit_numeric_or_bool(DataType t, F&& f) {
  if (t == DataType::kBool) return f(Tag<bool>{});
  return visit_numeric(t, f);
}

// Bytes per element for byte-copying kernels; 0 for strings, sub-byte and undefined types.
inline size_t elem_bytes(DataType t) {
  if (t == DataType::kString) return 0;
  int bits = bits_per_element(t);
  return bits > 0 && bits % 8 == 0 ? static_cast<size_t>(bits / 8) : 0;
}

// ---- integer helpers ----------------------------------------------------------------------------

// Wrapping arithmetic (numpy semantics) without signed-overflow UB: compute in uint64, narrow.
template <typename C>
C wrap_add(C a, C b) { return static_cast<C>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b)); }
template <typename C>
C wrap_sub(C a, C b) { return static_cast<C>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b)); }
template <typename C>
C wrap_mul(C a, C b) { return static_cast<C>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b)); }

// Float → integer with C semantics (truncation); false when NaN or out of D's range, which is
// undefined behaviour in C++ and unspecified in ONNX, so such values are never folded.
template <typename D>
bool float_to_int(double x, D& out) {
  if (std::isnan(x)) return false;
  double t = std::trunc(x);
  constexpr int digits = std::numeric_limits<D>::digits;  // value bits, sign excluded
  double hi = std::ldexp(1.0, digits);
  double lo = std::is_signed_v<D> ? -hi : 0.0;
  if (!(t >= lo && t < hi)) return false;
  out = static_cast<D>(t);
  return true;
}

// Values of an int32/int64 tensor (shapes, axes, indices); nullopt for other types.
std::optional<std::vector<int64_t>> tensor_ints(const Tensor* t);
// Number of elements of `dims` (validated by the caller).
uint64_t numel(const std::vector<int64_t>& dims);
// Row-major strides in elements.
std::vector<int64_t> strides_of(const std::vector<int64_t>& dims);
// `axis` normalized into [0, rank) (negative counts from the end); nullopt when out of range.
std::optional<int64_t> normalize_axis(int64_t axis, int64_t rank);
// Attribute "name" as ints if present, else nullopt.
std::optional<std::vector<int64_t>> attr_ints_opt(const Node& n, const std::string& name);

// ---- broadcasting -------------------------------------------------------------------------------

// numpy broadcast of several shapes; nullopt when incompatible.
std::optional<std::vector<int64_t>> broadcast_shapes(const std::vector<const std::vector<int64_t>*>& shapes);

// Walks the elements of a broadcast result in row-major order, tracking for each input the
// index of the element that lands there. (Out of line: GCC 12 misreports the inlined vectors.)
class BroadcastCursor {
 public:
  BroadcastCursor(const std::vector<int64_t>& out, const std::vector<const std::vector<int64_t>*>& ins);
  ~BroadcastCursor();
  const uint64_t* offsets() const { return off_.data(); }
  void next();

 private:
  std::vector<int64_t> out_;
  bool same_ = true;
  std::vector<uint64_t> off_;
  std::vector<std::vector<int64_t>> strides_;  // [input][dim], 0 where broadcast
  std::vector<int64_t> idx_;
};

// Calls f(out_index, offsets) for every element of `out` in row-major order, where offsets[k]
// is the element index in input k (shape ins[k], broadcast to `out`).
template <typename F>
void for_each_broadcast(const std::vector<int64_t>& out, const std::vector<const std::vector<int64_t>*>& ins, F&& f) {
  const uint64_t count = numel(out);
  if (count == 0) return;
  BroadcastCursor cursor(out, ins);
  for (uint64_t i = 0; i < count; ++i, cursor.next()) f(i, cursor.offsets());
}

// Copies elements of `es` bytes: for each index of `out_dims` (row-major), the source element
// is base + Σ idx[d] * src_strides[d] (in elements; strides may be 0 or negative).
void strided_copy(const uint8_t* src, uint8_t* dst, size_t es, const std::vector<int64_t>& out_dims,
                  const std::vector<int64_t>& src_strides, int64_t base);

}  // namespace irforge::passes::fold
