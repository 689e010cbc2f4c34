// Data-free weight quantization kernels (INT8/INT4, symmetric/asymmetric, per channel or grouped)
// with NNCF's formulas, so a weight compressed here has the same integers, scales and zero points
// as nncf.compress_weights gives it.
//
// A weight is viewed as a row-major [A, R, B] array: R is the reduction axis (the consumer's
// input channels), each (a, b) pair is one output channel. R is cut into groups of G consecutive
// elements (G = R: per channel); every (a, g, b) has its own scale (and zero point), stored
// row-major as [A, R/G, B]. For MatMul's B [K, N]: A = 1, R = K, B = N; for a Gather table or a
// transposed Gemm weight [N, K]: A = N, R = K, B = 1; for a Conv [O, I, kh, kw]: A = O, R = I*kh*kw.
//
// With lo..hi the integer range (asym: 0..2^b-1, sym: -2^(b-1)..2^(b-1)-1) and min/max taken
// over a group, in float32 as NNCF computes them:
//   asym: mn = min(min, 0), mx = max(max, 0); s = (mx - mn) / (2^b - 1); s = eps if |s| < eps;
//         zp = clip(-round(mn / s), 0, 2^b - 1);  q = clip(round(w / s + zp), 0, 2^b - 1)
//   sym:  s = (|min| >= max ? |min| : -max) / 2^(b-1); s = eps if |s| < eps;
//         q = clip(round(w / s), -2^(b-1), 2^(b-1) - 1)
// (eps = float32 epsilon; round = half to even; the symmetric scale is negative when the maximum
// dominates, which maps it to the -2^(b-1) end.) Decompression is (q - zp) * s. All-zero groups
// get s = eps, zp = 0 and q = 0. NaN or Inf anywhere is an error naming the weight.
//
// Every kernel is a pure function of its inputs and splits its work with parallel_for into
// chunks that depend only on the shape, so results never depend on the thread count.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace irforge::quant {

enum class Scheme : uint8_t { kInt8Asym, kInt8Sym, kInt4Asym, kInt4Sym };

inline bool is_asym(Scheme s) { return s == Scheme::kInt8Asym || s == Scheme::kInt4Asym; }
inline int bits(Scheme s) { return s == Scheme::kInt8Asym || s == Scheme::kInt8Sym ? 8 : 4; }
const char* scheme_name(Scheme s);  // "int8_asym", ...
// Parses "int8_asym" etc.; false for other text.
bool parse_scheme(const std::string& text, Scheme* out);

// Element type of the weight's source bytes.
enum class Source : uint8_t { kF32, kF16, kBf16 };

struct Layout {
  int64_t A = 1, R = 1, B = 1;
  int64_t group = 1;  // divides R
  int64_t groups() const { return R / group; }
  int64_t params() const { return A * groups() * B; }  // scales per weight
  int64_t elements() const { return A * R * B; }
};

struct Params {
  std::vector<float> scale;   // [A, R/G, B]
  std::vector<uint8_t> zero;  // same shape, asymmetric schemes only (values 0..2^b-1)
};

// Computes scales and zero points. Throws Error(kInvalidModel) naming `name` (and the first bad
// element's flat index) when the weight holds NaN or Inf.
Params compute_params(const uint8_t* src, Source type, const Layout& l, Scheme scheme, const std::string& name);

// Quantized elements [begin, end) written packed (4-bit: two per byte, first in the low nibble;
// `begin` must be even for 4-bit) to out. Elements are stored in the source's order.
void quantize(const uint8_t* src, Source type, const Layout& l, Scheme scheme, const Params& p, int64_t begin, int64_t end,
              uint8_t* out);

// Bytes the quantized elements of `l` take.
uint64_t quantized_bytes(const Layout& l, Scheme scheme);

// Reconstruction error of the quantized weight: sum over all elements of (dq - w)^2 and of w^2
// (dq = (q - zp) * s), and NNCF's mixed-precision measure max over channels of mean((dq - w)^2).
struct ErrorStats {
  double sq_error = 0, sq_norm = 0, max_channel_mse = 0;
  double relative() const { return sq_norm > 0 ? std::sqrt(sq_error / sq_norm) : (sq_error > 0 ? 1.0 : 0.0); }
};
ErrorStats measure_error(const uint8_t* src, Source type, const Layout& l, Scheme scheme, const Params& p);

}  // namespace irforge::quant
