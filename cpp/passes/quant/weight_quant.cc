#include "passes/quant/weight_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "support/error.h"
#include "support/fp16.h"
#include "support/parallel.h"

namespace irforge::quant {

namespace {

constexpr float kEps = std::numeric_limits<float>::epsilon();  // NNCF: np.finfo(np.float32).eps
constexpr int64_t kColumnBlock = 512;  // columns a stats unit covers when B > 1
constexpr int64_t kQuantGrain = int64_t{1} << 16;  // elements per quantization task (even)

// Round half to even for |x| < 2^22 (the values are clamped to the integer range first): adding
// and removing 1.5 * 2^23 rounds to an integer in the default rounding mode (vectorizes, unlike
// nearbyint without SSE4.1; valid IEEE arithmetic the compiler may not simplify).
inline float round_even(float x) {
  constexpr float kMagic = 12582912.0f;
  return (x + kMagic) - kMagic;
}

// Source elements [off, off + n) as float32: a view for f32, converted into `buf` otherwise.
const float* load(const uint8_t* src, Source type, int64_t off, int64_t n, std::vector<float>& buf) {
  if (type == Source::kF32) {
    const uint8_t* p = src + off * 4;
    if (reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) return reinterpret_cast<const float*>(p);
    buf.resize(static_cast<size_t>(n));  // raw_data inside a protobuf may sit at any offset
    std::memcpy(buf.data(), p, static_cast<size_t>(n) * 4);
    return buf.data();
  }
  buf.resize(static_cast<size_t>(n));
  const uint8_t* h = src + off * 2;
  int64_t i = 0;
  if (type == Source::kBf16) {
    // bf16 is f32's upper half. SSE2 by hand: at -O2 the scalar loop stayed scalar and was a
    // quarter of an int4 conversion of a bf16 LLM (perf, 1.1B).
#ifdef __SSE2__
    const __m128i zero = _mm_setzero_si128();
    for (; i + 8 <= n; i += 8) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 2 * i));
      _mm_storeu_ps(&buf[i], _mm_castsi128_ps(_mm_unpacklo_epi16(zero, v)));
      _mm_storeu_ps(&buf[i + 4], _mm_castsi128_ps(_mm_unpackhi_epi16(zero, v)));
    }
#endif
  }
  for (; i < n; ++i) {
    uint16_t v;
    std::memcpy(&v, h + 2 * i, 2);
    if (type == Source::kF16) {
      buf[i] = f16_to_f32(v);
    } else {
      uint32_t bits = static_cast<uint32_t>(v) << 16;
      std::memcpy(&buf[i], &bits, 4);
    }
  }
  return buf.data();
}

struct Range {
  float lo, hi;
};
Range int_range(Scheme s) {
  switch (s) {
    case Scheme::kInt8Asym: return {0.f, 255.f};
    case Scheme::kInt8Sym: return {-128.f, 127.f};
    case Scheme::kInt4Asym: return {0.f, 15.f};
    case Scheme::kInt4Sym: return {-8.f, 7.f};
  }
  return {0.f, 0.f};
}

// A unit of the per-group statistics: group g of channel block bb of outer index a.
struct Unit {
  int64_t a, g, b0, n;
};
struct Units {
  const Layout& l;
  int64_t span;  // groups of R covered per unit (1 for stats, all for error)
  int64_t bw, nbb, per_a;
  Units(const Layout& layout, int64_t groups_per_unit) : l(layout), span(groups_per_unit) {
    bw = std::min<int64_t>(l.B, kColumnBlock);
    nbb = (l.B + bw - 1) / bw;
    per_a = (l.groups() / span) * nbb;
  }
  int64_t count() const { return l.A * per_a; }
  int64_t elements() const { return span * l.group * bw; }
  Unit at(int64_t u) const {
    int64_t a = u / per_a, rem = u % per_a;
    int64_t b0 = (rem % nbb) * bw;
    return Unit{a, (rem / nbb) * span, b0, std::min(bw, l.B - b0)};
  }
  size_t grain() const { return static_cast<size_t>(std::max<int64_t>(1, kQuantGrain / std::max<int64_t>(1, elements()))); }
};

// Min and max over the unit's group for each of its columns; false (and the first bad flat
// index in *bad) when a value is NaN or Inf. Loops are shaped to vectorize: per-column running
// min/max when B > 1, eight lanes over the contiguous group when B == 1; `w * 0` is 0 for finite
// values and NaN otherwise, so summing it per lane flags bad values without branches.
bool min_max(const uint8_t* src, Source type, const Layout& l, const Unit& un, float* mn, float* mx, std::vector<float>& buf, int64_t* bad) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const int64_t r0 = un.g * l.group, r1 = r0 + l.group;
  if (l.B == 1) {
    int64_t off = un.a * l.R + r0;
    float lo[8], hi[8], chk[8];
    for (int k = 0; k < 8; ++k) lo[k] = kInf, hi[k] = -kInf, chk[k] = 0.f;
    int64_t j = 0;
#ifdef __SSE2__
    // The same eight lanes in registers, bf16 widened in place: at -O2 the lane arrays went
    // through the stack every step (~30% of an int4 conversion, perf, 1.1B). minps / maxps pick
    // as `v < lo ? v : lo` / `v > hi ? v : hi` do.
    if (type == Source::kBf16 && l.group >= 8) {
      const uint8_t* h = src + off * 2;
      const __m128i zero = _mm_setzero_si128();
      const __m128 nought = _mm_setzero_ps();
      __m128 lo0 = _mm_set1_ps(kInf), lo1 = lo0, hi0 = _mm_set1_ps(-kInf), hi1 = hi0, c0 = nought, c1 = nought;
      for (; j + 8 <= l.group; j += 8) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 2 * j));
        __m128 a = _mm_castsi128_ps(_mm_unpacklo_epi16(zero, v)), b = _mm_castsi128_ps(_mm_unpackhi_epi16(zero, v));
        lo0 = _mm_min_ps(a, lo0), lo1 = _mm_min_ps(b, lo1);
        hi0 = _mm_max_ps(a, hi0), hi1 = _mm_max_ps(b, hi1);
        c0 = _mm_add_ps(c0, _mm_mul_ps(a, nought)), c1 = _mm_add_ps(c1, _mm_mul_ps(b, nought));
      }
      _mm_storeu_ps(lo, lo0), _mm_storeu_ps(lo + 4, lo1), _mm_storeu_ps(hi, hi0), _mm_storeu_ps(hi + 4, hi1);
      _mm_storeu_ps(chk, c0), _mm_storeu_ps(chk + 4, c1);
    }
#endif
    const int64_t done = j;  // the elements left, [done, group), are w[0..)
    const float* w = load(src, type, off + done, l.group - done, buf);
    for (; j + 8 <= l.group; j += 8)
      for (int k = 0; k < 8; ++k) {
        float v = w[j - done + k];
        lo[k] = v < lo[k] ? v : lo[k];
        hi[k] = v > hi[k] ? v : hi[k];
        chk[k] += v * 0.f;
      }
    for (; j < l.group; ++j) {
      float v = w[j - done];
      lo[0] = v < lo[0] ? v : lo[0];
      hi[0] = v > hi[0] ? v : hi[0];
      chk[0] += v * 0.f;
    }
    float a = lo[0], b = hi[0], c = chk[0];
    for (int k = 1; k < 8; ++k) a = std::min(a, lo[k]), b = std::max(b, hi[k]), c += chk[k];
    mn[0] = a;
    mx[0] = b;
    if (c == 0.f) return true;
    w = load(src, type, off, l.group, buf);
    for (int64_t i = 0; i < l.group; ++i)
      if (!std::isfinite(w[i])) {
        *bad = off + i;
        break;
      }
    return false;
  }
  std::vector<float> chk(static_cast<size_t>(un.n), 0.f);
  for (int64_t j = 0; j < un.n; ++j) mn[j] = kInf, mx[j] = -kInf;
  for (int64_t r = r0; r < r1; ++r) {
    const float* w = load(src, type, (un.a * l.R + r) * l.B + un.b0, un.n, buf);
    for (int64_t j = 0; j < un.n; ++j) {
      float v = w[j];
      mn[j] = v < mn[j] ? v : mn[j];
      mx[j] = v > mx[j] ? v : mx[j];
      chk[j] += v * 0.f;
    }
  }
  for (int64_t j = 0; j < un.n; ++j) {
    if (chk[j] == 0.f) continue;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t off = (un.a * l.R + r) * l.B + un.b0 + j;
      const float* w = load(src, type, off, 1, buf);
      if (!std::isfinite(w[0])) {
        *bad = off;
        return false;
      }
    }
  }
  return true;
}

// Quantizes n values with one scale / zero point (Shared) or one per value, into q.
template <bool Asym, bool Shared>
void quantize_run(const float* w, const float* s, const uint8_t* z, int64_t n, float lo, float hi, int8_t* q) {
  const float s0 = s[0], z0 = Asym ? static_cast<float>(z[0]) : 0.f;
  int64_t j = 0;
#ifdef __SSE2__
  // SSE2 by hand, 16 values a step: the -O2 loop stayed scalar (divss) and was ~40% of an int4
  // conversion (perf, 1.1B). divps, addps, maxps/minps and cvttps2dq give each lane the scalar
  // loop's exact result (no NaN reaches here); packs saturate nothing, the values are in range.
  const __m128 vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi), magic = _mm_set1_ps(12582912.0f);
  const __m128 vs0 = _mm_set1_ps(s0), vz0 = _mm_set1_ps(z0);
  const __m128i zero = _mm_setzero_si128();
  for (; j + 16 <= n; j += 16) {
    __m128i r[4];
    for (int k = 0; k < 4; ++k) {
      __m128 x = _mm_div_ps(_mm_loadu_ps(w + j + 4 * k), Shared ? vs0 : _mm_loadu_ps(s + j + 4 * k));
      if (Asym) {
        __m128 zf = vz0;
        if (!Shared) {
          int32_t zb;
          std::memcpy(&zb, z + j + 4 * k, 4);
          zf = _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(zb), zero), zero));
        }
        x = _mm_add_ps(x, zf);
      }
      x = _mm_min_ps(_mm_max_ps(x, vlo), vhi);
      x = _mm_sub_ps(_mm_add_ps(x, magic), magic);
      r[k] = _mm_cvttps_epi32(x);
    }
    __m128i a = _mm_packs_epi32(r[0], r[1]), b = _mm_packs_epi32(r[2], r[3]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + j), Asym ? _mm_packus_epi16(a, b) : _mm_packs_epi16(a, b));
  }
#endif
  for (; j < n; ++j) {
    float x = w[j] / (Shared ? s0 : s[j]);  // a true division, as NNCF (never w * (1 / s))
    if (Asym) x += Shared ? z0 : static_cast<float>(z[j]);
    x = round_even(std::min(std::max(x, lo), hi));
    q[j] = Asym ? static_cast<int8_t>(static_cast<uint8_t>(static_cast<int32_t>(x))) : static_cast<int8_t>(static_cast<int32_t>(x));
  }
}

}  // namespace

const char* scheme_name(Scheme s) {
  switch (s) {
    case Scheme::kInt8Asym: return "int8_asym";
    case Scheme::kInt8Sym: return "int8_sym";
    case Scheme::kInt4Asym: return "int4_asym";
    case Scheme::kInt4Sym: return "int4_sym";
  }
  return "?";
}

bool parse_scheme(const std::string& text, Scheme* out) {
  for (Scheme s : {Scheme::kInt8Asym, Scheme::kInt8Sym, Scheme::kInt4Asym, Scheme::kInt4Sym})
    if (text == scheme_name(s)) {
      *out = s;
      return true;
    }
  return false;
}

uint64_t quantized_bytes(const Layout& l, Scheme scheme) {
  auto n = static_cast<uint64_t>(l.elements());
  return bits(scheme) == 8 ? n : (n + 1) / 2;
}

Params compute_params(const uint8_t* src, Source type, const Layout& l, Scheme scheme, const std::string& name) {
  Params p;
  p.scale.resize(static_cast<size_t>(l.params()));
  const bool asym = is_asym(scheme);
  if (asym) p.zero.resize(p.scale.size());
  const Range range = int_range(scheme);
  const float levels_minus_1 = range.hi - range.lo;
  const float factor = static_cast<float>(1 << (bits(scheme) - 1));
  Units units(l, 1);
  std::vector<int64_t> bad(chunk_count(static_cast<size_t>(units.count()), units.grain()), -1);
  parallel_for(static_cast<size_t>(units.count()), units.grain(), [&](size_t chunk, size_t u0, size_t u1) {
    std::vector<float> mn(static_cast<size_t>(units.bw)), mx(mn.size()), buf;
    for (size_t u = u0; u < u1; ++u) {
      Unit un = units.at(static_cast<int64_t>(u));
      std::fill(mn.begin(), mn.end(), std::numeric_limits<float>::infinity());
      std::fill(mx.begin(), mx.end(), -std::numeric_limits<float>::infinity());
      if (!min_max(src, type, l, un, mn.data(), mx.data(), buf, &bad[chunk])) return;
      for (int64_t j = 0; j < un.n; ++j) {
        size_t pi = static_cast<size_t>((un.a * l.groups() + un.g) * l.B + un.b0 + j);
        float s;
        if (asym) {
          float lo = std::min(mn[j], 0.f), hi = std::max(mx[j], 0.f);
          s = (hi - lo) / levels_minus_1;
          if (std::fabs(s) < kEps) s = kEps;
          float zp = -round_even(std::max(lo / s, -levels_minus_1 - 1.f));
          p.zero[pi] = static_cast<uint8_t>(std::clamp(zp, 0.f, levels_minus_1));
        } else {
          float amin = std::fabs(mn[j]);
          s = amin >= mx[j] ? amin : -mx[j];
          s /= factor;
          if (std::fabs(s) < kEps) s = kEps;
        }
        p.scale[pi] = s;
      }
    }
  });
  for (int64_t b : bad)
    if (b >= 0) fail(ErrorKind::kInvalidModel, "weight '" + name + "' holds NaN or Inf (element " + std::to_string(b) + "); it cannot be compressed");
  return p;
}

void quantize(const uint8_t* src, Source type, const Layout& l, Scheme scheme, const Params& p, int64_t begin, int64_t end,
              uint8_t* out) {
  const bool four = bits(scheme) == 4, asym = is_asym(scheme);
  const Range range = int_range(scheme);
  const int64_t count = end - begin;
  if (count <= 0) return;
  parallel_for(static_cast<size_t>(count), kQuantGrain, [&](size_t, size_t c0, size_t c1) {
    std::vector<float> buf;
    std::vector<int8_t> q(c1 - c0);
    int64_t e = begin + static_cast<int64_t>(c0), e1 = begin + static_cast<int64_t>(c1);
    int8_t* qp = q.data();
    while (e < e1) {
      // A run of elements whose parameters are consecutive (B > 1: one row) or shared (B == 1).
      int64_t n, pidx;
      bool shared;
      if (l.B == 1) {
        int64_t g = e / l.group;
        n = std::min((g + 1) * l.group, e1) - e;
        pidx = g;
        shared = true;
      } else {
        int64_t row = e / l.B, b = e % l.B;
        n = std::min(l.B - b, e1 - e);
        pidx = ((row / l.R) * l.groups() + (row % l.R) / l.group) * l.B + b;
        shared = false;
      }
      const float* w = load(src, type, e, n, buf);
      const float* s = p.scale.data() + pidx;
      const uint8_t* z = asym ? p.zero.data() + pidx : nullptr;
      if (asym) (shared ? quantize_run<true, true> : quantize_run<true, false>)(w, s, z, n, range.lo, range.hi, qp);
      else (shared ? quantize_run<false, true> : quantize_run<false, false>)(w, s, z, n, range.lo, range.hi, qp);
      qp += n;
      e += n;
    }
    size_t len = c1 - c0;
    if (!four) {
      std::memcpy(out + c0, q.data(), len);
    } else {
      uint8_t* o = out + c0 / 2;
      size_t i = 0;
#ifdef __SSE2__
      // Each 16-bit lane holds a pair (first in the low byte): its low nibble | the second's low
      // nibble << 4, 32 values a step (scalar at -O2, ~10% of an int4 conversion).
      const __m128i lo_nibble = _mm_set1_epi16(0x000F), hi_nibble = _mm_set1_epi16(0x00F0);
      for (; i + 32 <= len; i += 32) {
        __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q.data() + i));
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q.data() + i + 16));
        a = _mm_or_si128(_mm_and_si128(a, lo_nibble), _mm_and_si128(_mm_srli_epi16(a, 4), hi_nibble));
        b = _mm_or_si128(_mm_and_si128(b, lo_nibble), _mm_and_si128(_mm_srli_epi16(b, 4), hi_nibble));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i / 2), _mm_packus_epi16(a, b));
      }
#endif
      for (; i + 1 < len; i += 2) o[i / 2] = static_cast<uint8_t>((q[i] & 0x0F) | ((q[i + 1] & 0x0F) << 4));
      if (len % 2) o[len / 2] = static_cast<uint8_t>(q[len - 1] & 0x0F);
    }
  });
}

ErrorStats measure_error(const uint8_t* src, Source type, const Layout& l, Scheme scheme, const Params& p) {
  const bool asym = is_asym(scheme);
  const Range range = int_range(scheme);
  Units units(l, l.groups());  // a unit covers whole channels (all of R) for a block of columns
  size_t chunks = chunk_count(static_cast<size_t>(units.count()), units.grain());
  std::vector<ErrorStats> partial(chunks);
  parallel_for(static_cast<size_t>(units.count()), units.grain(), [&](size_t chunk, size_t u0, size_t u1) {
    std::vector<float> buf;
    std::vector<double> err(static_cast<size_t>(units.bw));
    ErrorStats& st = partial[chunk];
    for (size_t u = u0; u < u1; ++u) {
      Unit un = units.at(static_cast<int64_t>(u));
      std::fill(err.begin(), err.end(), 0.0);
      for (int64_t r = 0; r < l.R; ++r) {
        int64_t off = (un.a * l.R + r) * l.B + un.b0;
        const float* w = load(src, type, off, un.n, buf);
        int64_t pbase = (un.a * l.groups() + r / l.group) * l.B + un.b0;
        for (int64_t j = 0; j < un.n; ++j) {
          float s = p.scale[static_cast<size_t>(pbase + j)];
          float zf = asym ? static_cast<float>(p.zero[static_cast<size_t>(pbase + j)]) : 0.f;
          float x = std::min(std::max(w[j] / s + zf, range.lo), range.hi);
          float dq = (round_even(x) - zf) * s;
          double d = static_cast<double>(dq) - w[j];
          err[j] += d * d;
          st.sq_norm += static_cast<double>(w[j]) * w[j];
        }
      }
      for (int64_t j = 0; j < un.n; ++j) {
        st.sq_error += err[j];
        st.max_channel_mse = std::max(st.max_channel_mse, err[j] / static_cast<double>(l.R));
      }
    }
  });
  ErrorStats total;
  for (const ErrorStats& s : partial) {
    total.sq_error += s.sq_error;
    total.sq_norm += s.sq_norm;
    total.max_channel_mse = std::max(total.max_channel_mse, s.max_channel_mse);
  }
  return total;
}

}  // namespace irforge::quant
