// Elementwise kernels with numpy broadcasting: arithmetic, math functions, comparisons, logic,
// Min/Max/Sum/Mean and Where.
//
// Integer arithmetic wraps (numpy); integer Div truncates toward zero (C, onnxruntime); an
// integer division or modulo by zero is not folded. Floats are computed in their own type
// (float16/bfloat16 in float32, then rounded once), transcendental functions in double and
// rounded to the element type. Min/Max propagate NaN (numpy's minimum/maximum).
#include <cmath>
#include <memory>

#include "passes/fold/kernels_util.h"

namespace irforge::passes::fold {

namespace {

// Which element types an op accepts.
enum class Family { kFloat, kNumeric, kSignedOrFloat, kNumericOrBool, kBool };

template <Family kFam, typename F>
bool visit_family(DataType t, F&& fn) {
  if constexpr (kFam == Family::kFloat) return visit_float(t, fn);
  if constexpr (kFam == Family::kNumeric) return visit_numeric(t, fn);
  if constexpr (kFam == Family::kSignedOrFloat) {
    if (t == DataType::kUint8 || t == DataType::kUint16 || t == DataType::kUint32 || t == DataType::kUint64) return false;
    return visit_numeric(t, fn);
  }
  if constexpr (kFam == Family::kNumericOrBool) return visit_numeric_or_bool(t, fn);
  if constexpr (kFam == Family::kBool) return t == DataType::kBool && fn(Tag<bool>{});
}

// Broadcasts all inputs (of storage type T) and stores op(args, result) as storage type R.
// `op(const C* args, RC& r)` returns false to refuse folding (e.g. division by zero).
template <typename T, typename R, typename Op>
bool map_inputs(Evaluation& ev, Op&& op) {
  using C = typename Elem<T>::C;
  using RC = typename Elem<R>::C;
  const size_t n = ev.num_inputs();
  if (n == 0) return false;
  std::vector<const std::vector<int64_t>*> shapes;
  std::vector<const uint8_t*> data;
  for (size_t k = 0; k < n; ++k) {
    const Tensor* t = ev.input(k);
    if (!t || t->dtype() != dtype_of<T>()) return false;
    shapes.push_back(&t->dims());
    data.push_back(t->data());
  }
  auto out = broadcast_shapes(shapes);
  if (!out || !ev.reserve(dtype_of<R>(), *out)) return false;
  std::vector<uint8_t> bytes(numel(*out) * Elem<R>::kSize);
  std::unique_ptr<C[]> args(new C[n]);  // not std::vector: vector<bool> has no data()
  bool ok = true;
  for_each_broadcast(*out, shapes, [&](uint64_t i, const uint64_t* off) {
    if (!ok) return;
    for (size_t k = 0; k < n; ++k) args[k] = Elem<T>::load(data[k], off[k]);
    RC r{};
    if (!op(args.get(), r)) {
      ok = false;
      return;
    }
    Elem<R>::store(bytes.data(), i, r);
  });
  if (!ok) return false;
  ev.emit(dtype_of<R>(), *out, std::move(bytes));
  return true;
}

// An op over `arity` inputs (0 = one or more) of one family, producing the input type, or
// bool when kBoolOut. `op` is a generic lambda (const C* args, RC& r) -> bool.
template <Family kFam, bool kBoolOut, typename Op>
bool elementwise(Evaluation& ev, size_t arity, Op op) {
  if (arity ? ev.num_inputs() != arity : ev.num_inputs() == 0) return false;
  if (!ev.input(0) || ev.num_outputs() != 1) return false;
  return visit_family<kFam>(ev.input(0)->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kBoolOut) return map_inputs<T, bool>(ev, op);
    else return map_inputs<T, T>(ev, op);
  });
}

template <typename C>
constexpr bool is_int_v = std::is_integral_v<C> && !std::is_same_v<C, bool>;

// A float function computed in double and rounded to the element type.
template <typename C, typename F>
C via_double(C x, F f) {
  return static_cast<C>(f(static_cast<double>(x)));
}

// ---- unary ----------------------------------------------------------------------------------------

#define FLOAT_UNARY(NAME, EXPR)                                                              \
  bool NAME(Evaluation& ev) {                                                               \
    return elementwise<Family::kFloat, false>(ev, 1, [](const auto* x, auto& r) {           \
      using C = std::decay_t<decltype(r)>;                                                  \
      r = via_double<C>(x[0], [](double v) { return EXPR; });                               \
      return true;                                                                          \
    });                                                                                     \
  }

FLOAT_UNARY(k_exp, std::exp(v))
FLOAT_UNARY(k_log, std::log(v))
FLOAT_UNARY(k_tanh, std::tanh(v))
FLOAT_UNARY(k_erf, std::erf(v))
FLOAT_UNARY(k_sigmoid, v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v)))
#undef FLOAT_UNARY

// These are exact (or correctly rounded) in the element's own compute type.
bool k_sqrt(Evaluation& ev) {
  return elementwise<Family::kFloat, false>(ev, 1, [](const auto* x, auto& r) { r = std::sqrt(x[0]); return true; });
}
bool k_reciprocal(Evaluation& ev) {
  return elementwise<Family::kFloat, false>(ev, 1, [](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    r = C(1) / x[0];
    return true;
  });
}
bool k_floor(Evaluation& ev) {
  return elementwise<Family::kFloat, false>(ev, 1, [](const auto* x, auto& r) { r = std::floor(x[0]); return true; });
}
bool k_ceil(Evaluation& ev) {
  return elementwise<Family::kFloat, false>(ev, 1, [](const auto* x, auto& r) { r = std::ceil(x[0]); return true; });
}

bool k_neg(Evaluation& ev) {
  return elementwise<Family::kSignedOrFloat, false>(ev, 1, [](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    if constexpr (is_int_v<C>) r = wrap_sub<C>(0, x[0]);
    else r = -x[0];
    return true;
  });
}

bool k_abs(Evaluation& ev) {
  return elementwise<Family::kNumeric, false>(ev, 1, [](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    if constexpr (std::is_unsigned_v<C>) r = x[0];
    else if constexpr (is_int_v<C>) r = x[0] < 0 ? wrap_sub<C>(0, x[0]) : x[0];
    else r = std::fabs(x[0]);
    return true;
  });
}

bool k_relu(Evaluation& ev) {
  return elementwise<Family::kSignedOrFloat, false>(ev, 1, [](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    if constexpr (std::is_unsigned_v<C>) r = x[0];  // not reached: unsigned types are refused
    else r = x[0] < C(0) ? C(0) : x[0];             // NaN stays NaN
    return true;
  });
}

bool k_not(Evaluation& ev) {
  return elementwise<Family::kBool, false>(ev, 1, [](const auto* x, auto& r) { r = !x[0]; return true; });
}

// ---- binary arithmetic -------------------------------------------------------------------------

bool k_add(Evaluation& ev) {
  return elementwise<Family::kNumeric, false>(ev, 2, [](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    if constexpr (is_int_v<C>) r = wrap_add(x[0], x[1]);
    else r = x[0] + x[1];
    return true;
  });
}

bool k_sub(Evaluation& ev) {
  return elementwise<Family::kNumeric, false>(ev, 2, [](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    if constexpr (is_int_v<C>) r = wrap_sub(x[0], x[1]);
    else r = x[0] - x[1];
    return true;
  });
}

bool k_mul(Evaluation& ev) {
  return elementwise<Family::kNumeric, false>(ev, 2, [](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    if constexpr (is_int_v<C>) r = wrap_mul(x[0], x[1]);
    else r = x[0] * x[1];
    return true;
  });
}

bool k_div(Evaluation& ev) {
  return elementwise<Family::kNumeric, false>(ev, 2, [](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    if constexpr (is_int_v<C>) {
      if (x[1] == 0) return false;
      if constexpr (std::is_signed_v<C>) {
        if (x[1] == -1) {  // min / -1 overflows: wrap like the rest
          r = wrap_sub<C>(0, x[0]);
          return true;
        }
      }
      r = static_cast<C>(x[0] / x[1]);
    } else {
      r = x[0] / x[1];
    }
    return true;
  });
}

bool k_mod(Evaluation& ev) {
  const bool fmod = ev.node().attr_int("fmod", 0) != 0;
  return elementwise<Family::kNumeric, false>(ev, 2, [fmod](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    const C a = x[0], b = x[1];
    if constexpr (is_int_v<C>) {
      if (b == 0) return false;
      C m;
      if constexpr (std::is_signed_v<C>) m = b == -1 ? C(0) : static_cast<C>(a % b);
      else m = static_cast<C>(a % b);
      if constexpr (std::is_signed_v<C>) {
        if (!fmod && m != 0 && ((m < 0) != (b < 0))) m = static_cast<C>(m + b);  // sign of the divisor
      }
      r = m;
    } else {
      C m = std::fmod(a, b);
      if (!fmod && !std::isnan(m)) {  // numpy's remainder: sign of the divisor
        if (m != 0) {
          if ((b < 0) != (m < 0)) m += b;
        } else {
          m = std::copysign(C(0), b);
        }
      }
      r = m;
    }
    return true;
  });
}

// Pow: the exponent may have another numeric type; the result has the base's type.
bool k_pow(Evaluation& ev) {
  const Tensor* a = ev.input(0);
  const Tensor* b = ev.input(1);
  if (ev.num_inputs() != 2 || !a || !b || ev.num_outputs() != 1) return false;
  return visit_numeric(a->dtype(), [&](auto ta) {
    using A = typename decltype(ta)::type;
    using CA = typename Elem<A>::C;
    return visit_numeric(b->dtype(), [&](auto tb) {
      using B = typename decltype(tb)::type;
      using CB = typename Elem<B>::C;
      std::vector<const std::vector<int64_t>*> shapes{&a->dims(), &b->dims()};
      auto out = broadcast_shapes(shapes);
      if (!out || !ev.reserve(dtype_of<A>(), *out)) return false;
      std::vector<uint8_t> bytes(numel(*out) * Elem<A>::kSize);
      bool ok = true;
      for_each_broadcast(*out, shapes, [&](uint64_t i, const uint64_t* off) {
        if (!ok) return;
        CA x = Elem<A>::load(a->data(), off[0]);
        CB y = Elem<B>::load(b->data(), off[1]);
        CA r{};
        if constexpr (!is_int_v<CA>) {
          r = static_cast<CA>(std::pow(static_cast<double>(x), static_cast<double>(y)));
        } else if constexpr (is_int_v<CB>) {
          bool negative = false;
          if constexpr (std::is_signed_v<CB>) negative = y < 0;
          if (negative) {  // only ±1 have integer results
            if (x == 1) r = 1;
            else if constexpr (std::is_signed_v<CA>) {
              if (x == -1) r = (static_cast<uint64_t>(y) & 1) ? CA(-1) : CA(1);
              else ok = false;
            } else {
              ok = false;
            }
          } else {
            uint64_t base = static_cast<uint64_t>(x), acc = 1, e = static_cast<uint64_t>(y);
            for (; e; e >>= 1, base *= base)
              if (e & 1) acc *= base;
            r = static_cast<CA>(acc);
          }
        } else {
          ok = float_to_int<CA>(std::pow(static_cast<double>(x), static_cast<double>(y)), r);
        }
        if (ok) Elem<A>::store(bytes.data(), i, r);
      });
      if (!ok) return false;
      ev.emit(dtype_of<A>(), *out, std::move(bytes));
      return true;
    });
  });
}

// ---- variadic ------------------------------------------------------------------------------------

template <typename C>
C nan_min(C a, C b) {
  if constexpr (!is_int_v<C>) {
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
  }
  return b < a ? b : a;
}
template <typename C>
C nan_max(C a, C b) {
  if constexpr (!is_int_v<C>) {
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
  }
  return a < b ? b : a;
}

bool k_min(Evaluation& ev) {
  return elementwise<Family::kNumeric, false>(ev, 0, [&ev](const auto* x, auto& r) {
    r = x[0];
    for (size_t k = 1; k < ev.num_inputs(); ++k) r = nan_min(r, x[k]);
    return true;
  });
}
bool k_max(Evaluation& ev) {
  return elementwise<Family::kNumeric, false>(ev, 0, [&ev](const auto* x, auto& r) {
    r = x[0];
    for (size_t k = 1; k < ev.num_inputs(); ++k) r = nan_max(r, x[k]);
    return true;
  });
}
// Sum and Mean add left to right in the element's compute type, as numpy does for a + b + c.
bool k_sum(Evaluation& ev) {
  return elementwise<Family::kFloat, false>(ev, 0, [&ev](const auto* x, auto& r) {
    r = x[0];
    for (size_t k = 1; k < ev.num_inputs(); ++k) r = r + x[k];
    return true;
  });
}
bool k_mean(Evaluation& ev) {
  return elementwise<Family::kFloat, false>(ev, 0, [&ev](const auto* x, auto& r) {
    using C = std::decay_t<decltype(r)>;
    r = x[0];
    for (size_t k = 1; k < ev.num_inputs(); ++k) r = r + x[k];
    r = r / static_cast<C>(ev.num_inputs());
    return true;
  });
}

// ---- comparisons and logic -----------------------------------------------------------------------

bool k_equal(Evaluation& ev) {
  return elementwise<Family::kNumericOrBool, true>(ev, 2, [](const auto* x, bool& r) { r = x[0] == x[1]; return true; });
}
bool k_less(Evaluation& ev) {
  return elementwise<Family::kNumeric, true>(ev, 2, [](const auto* x, bool& r) { r = x[0] < x[1]; return true; });
}
bool k_greater(Evaluation& ev) {
  return elementwise<Family::kNumeric, true>(ev, 2, [](const auto* x, bool& r) { r = x[0] > x[1]; return true; });
}
bool k_less_or_equal(Evaluation& ev) {
  return elementwise<Family::kNumeric, true>(ev, 2, [](const auto* x, bool& r) { r = x[0] <= x[1]; return true; });
}
bool k_greater_or_equal(Evaluation& ev) {
  return elementwise<Family::kNumeric, true>(ev, 2, [](const auto* x, bool& r) { r = x[0] >= x[1]; return true; });
}
bool k_and(Evaluation& ev) {
  return elementwise<Family::kBool, false>(ev, 2, [](const auto* x, auto& r) { r = x[0] && x[1]; return true; });
}
bool k_or(Evaluation& ev) {
  return elementwise<Family::kBool, false>(ev, 2, [](const auto* x, auto& r) { r = x[0] || x[1]; return true; });
}
bool k_xor(Evaluation& ev) {
  return elementwise<Family::kBool, false>(ev, 2, [](const auto* x, auto& r) { r = x[0] != x[1]; return true; });
}

// Where(cond, X, Y): copies bytes, so X/Y may be any type of whole bytes.
bool k_where(Evaluation& ev) {
  const Tensor* c = ev.input(0);
  const Tensor* x = ev.input(1);
  const Tensor* y = ev.input(2);
  if (ev.num_inputs() != 3 || !c || !x || !y || c->dtype() != DataType::kBool || x->dtype() != y->dtype()) return false;
  size_t es = elem_bytes(x->dtype());
  if (es == 0) return false;
  std::vector<const std::vector<int64_t>*> shapes{&c->dims(), &x->dims(), &y->dims()};
  auto out = broadcast_shapes(shapes);
  if (!out || !ev.reserve(x->dtype(), *out)) return false;
  std::vector<uint8_t> bytes(numel(*out) * es);
  for_each_broadcast(*out, shapes, [&](uint64_t i, const uint64_t* off) {
    const uint8_t* src = c->data()[off[0]] ? x->data() + off[1] * es : y->data() + off[2] * es;
    std::memcpy(bytes.data() + i * es, src, es);
  });
  ev.emit(x->dtype(), *out, std::move(bytes));
  return true;
}

}  // namespace

void add_elementwise_kernels(KernelTable& t) {
  t["Abs"] = k_abs;
  t["Add"] = k_add;
  t["And"] = k_and;
  t["Ceil"] = k_ceil;
  t["Div"] = k_div;
  t["Equal"] = k_equal;
  t["Erf"] = k_erf;
  t["Exp"] = k_exp;
  t["Floor"] = k_floor;
  t["Greater"] = k_greater;
  t["GreaterOrEqual"] = k_greater_or_equal;
  t["Less"] = k_less;
  t["LessOrEqual"] = k_less_or_equal;
  t["Log"] = k_log;
  t["Max"] = k_max;
  t["Mean"] = k_mean;
  t["Min"] = k_min;
  t["Mod"] = k_mod;
  t["Mul"] = k_mul;
  t["Neg"] = k_neg;
  t["Not"] = k_not;
  t["Or"] = k_or;
  t["Pow"] = k_pow;
  t["Reciprocal"] = k_reciprocal;
  t["Relu"] = k_relu;
  t["Sigmoid"] = k_sigmoid;
  t["Sqrt"] = k_sqrt;
  t["Sub"] = k_sub;
  t["Sum"] = k_sum;
  t["Tanh"] = k_tanh;
  t["Where"] = k_where;
  t["Xor"] = k_xor;
}

}  // namespace irforge::passes::fold
