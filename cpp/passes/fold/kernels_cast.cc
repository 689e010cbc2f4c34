// Cast and CastLike between float32/64, float16, bfloat16, the integer types and bool.
//
// Rules (numpy's astype where ONNX defers to it):
//   float → int      truncation toward zero; NaN or out of the target's range is not folded
//                    (undefined in C++, unspecified in ONNX)
//   int → int        two's-complement wrap-around
//   x → bool         x != 0 (NaN is true);  bool → x: 0 or 1
//   → float16/bf16   rounded once, to nearest even (via float32 with round-to-odd, which makes
//                    the two-step rounding exact)
// Strings, float8 and 4-bit types are not folded.
#include <cmath>

#include "passes/fold/kernels_util.h"

namespace irforge::passes::fold {

namespace {

// double → float rounded toward zero with the last bit set when inexact ("round to odd"): a
// later rounding to a type of at most 11 significant bits then equals a direct rounding.
float round_to_odd_f32(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(d) || static_cast<double>(f) == d || std::isinf(f)) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits |= 1;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename S, typename D>
bool convert_one(typename Elem<S>::C v, typename Elem<D>::C& out) {
  using CS = typename Elem<S>::C;
  using CD = typename Elem<D>::C;
  if constexpr (std::is_same_v<D, bool>) {
    out = v != CS(0);
  } else if constexpr (std::is_integral_v<CD>) {
    if constexpr (std::is_floating_point_v<CS>) return float_to_int<CD>(static_cast<double>(v), out);
    else out = static_cast<CD>(v);
  } else if constexpr (std::is_same_v<D, Half> || std::is_same_v<D, BFloat16>) {
    out = round_to_odd_f32(static_cast<double>(v));  // the store rounds to 16 bits
  } else {
    out = static_cast<CD>(v);
  }
  return true;
}

bool cast_to(Evaluation& ev, const Tensor& src, DataType to) {
  if (src.dtype() == to) {
    if (!ev.reserve(to, src.dims())) return false;
    ev.emit_view(src, src.dims());
    return true;
  }
  return visit_numeric_or_bool(src.dtype(), [&](auto ts) {
    using S = typename decltype(ts)::type;
    return visit_numeric_or_bool(to, [&](auto td) {
      using D = typename decltype(td)::type;
      if (!ev.reserve(to, src.dims())) return false;
      const uint64_t n = src.element_count();
      std::vector<uint8_t> bytes(n * Elem<D>::kSize);
      for (uint64_t i = 0; i < n; ++i) {
        typename Elem<D>::C r{};
        if (!convert_one<S, D>(Elem<S>::load(src.data(), i), r)) return false;
        Elem<D>::store(bytes.data(), i, r);
      }
      ev.emit(to, src.dims(), std::move(bytes));
      return true;
    });
  });
}

bool k_cast(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  const Attribute* to = ev.node().attr("to");
  if (!x || ev.num_outputs() != 1 || !to || to->kind != AttrKind::kInt) return false;
  if (to->i <= 0 || !is_known_dtype(static_cast<int32_t>(to->i))) return false;
  return cast_to(ev, *x, static_cast<DataType>(to->i));
}

bool k_cast_like(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  const Tensor* like = ev.input(1);
  if (!x || !like || ev.num_outputs() != 1) return false;
  return cast_to(ev, *x, like->dtype());
}

}  // namespace

void add_cast_kernels(KernelTable& t) {
  t["Cast"] = k_cast;
  t["CastLike"] = k_cast_like;
}

}  // namespace irforge::passes::fold
