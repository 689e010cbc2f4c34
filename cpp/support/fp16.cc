#include "support/fp16.h"

#include <cmath>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define IRFORGE_X86 1
#endif

namespace irforge {

namespace {
constexpr float kF16Max = 65504.0f;
constexpr float kF16MinSubnormal = 5.9604645e-08f;  // 2^-24

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
}  // namespace

uint16_t f32_to_f16(float f) {
  uint32_t x = bits_of(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {  // subnormal or zero in half precision
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half of the smallest subnormal
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    int shift = 126 - static_cast<int>(abs >> 23);  // 14..24
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);
  uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t out;
  if (exp == 0) {
    if (mant == 0) {
      out = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      out = sign | ((112u - static_cast<uint32_t>(e)) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    out = sign | 0x7f800000u | (mant << 13);
  } else {
    out = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &out, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t x = bits_of(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

namespace {

size_t convert_scalar(const float* src, uint16_t* dst, size_t n) {
  size_t out_of_range = 0;
  // `src` may be unaligned (raw_data inside a protobuf message): load through memcpy.
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, bytes + i * sizeof(float), sizeof(float));
    float a = std::fabs(v);
    if (a > kF16Max) {
      if (std::isfinite(v)) {
        v = v > 0 ? kF16Max : -kF16Max;
        ++out_of_range;
      }
    } else if (a != 0.f && a < kF16MinSubnormal) {
      ++out_of_range;
    }
    dst[i] = f32_to_f16(v);
  }
  return out_of_range;
}

#ifdef IRFORGE_X86
__attribute__((target("avx,f16c"))) size_t convert_f16c(const float* src, uint16_t* dst, size_t n) {
  size_t out_of_range = 0;
  const __m256 max = _mm256_set1_ps(kF16Max);
  const __m256 min = _mm256_set1_ps(-kF16Max);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 tiny = _mm256_set1_ps(kF16MinSubnormal);
  const __m256 zero = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(src + i);
    __m256 a = _mm256_and_ps(v, abs_mask);
    // Out of range: finite and |v| > max, or non-zero and |v| < smallest subnormal.
    __m256 big = _mm256_and_ps(_mm256_cmp_ps(a, max, _CMP_GT_OQ), _mm256_cmp_ps(a, _mm256_set1_ps(INFINITY), _CMP_LT_OQ));
    __m256 small = _mm256_and_ps(_mm256_cmp_ps(a, tiny, _CMP_LT_OQ), _mm256_cmp_ps(a, zero, _CMP_NEQ_OQ));
    out_of_range += static_cast<size_t>(__builtin_popcount(_mm256_movemask_ps(_mm256_or_ps(big, small))));
    // Clamp finite values (NaN passes through min/max because of operand order, inf is kept).
    __m256 clamped = _mm256_blendv_ps(v, _mm256_max_ps(_mm256_min_ps(v, max), min), big);
    __m128i h = _mm256_cvtps_ph(clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  return out_of_range + convert_scalar(src + i, dst + i, n - i);
}
#endif

}  // namespace

size_t convert_f32_to_f16_clamped(const float* src, uint16_t* dst, size_t n) {
#ifdef IRFORGE_X86
  // cpuid leaf 1, ecx: bit 29 F16C, bit 28 AVX (read directly: clang's __builtin_cpu_supports
  // does not know "f16c").
  static const bool has_f16c = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    return (c & (1u << 29)) != 0 && (c & (1u << 28)) != 0;
  }();
  if (has_f16c) return convert_f16c(src, dst, n);
#endif
  return convert_scalar(src, dst, n);
}

}  // namespace irforge
