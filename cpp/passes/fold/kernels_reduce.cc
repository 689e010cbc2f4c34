// ReduceSum / ReduceProd / ReduceMax / ReduceMin / ReduceMean.
//
// Axes come from the `axes` attribute (ReduceSum before opset 13, the others before 18) or the
// optional second input; no axes reduces everything unless noop_with_empty_axes=1 (then the
// input is returned). Floats accumulate in double, integers in 64 bits with wrap-around.
// Empty sets give the identities: 0, 1, -inf / lowest, +inf / highest, NaN for a float mean
// (an integer mean of nothing is not folded). Max/Min propagate NaN and also take bool.
#include <cmath>

#include "passes/fold/kernels_util.h"

namespace irforge::passes::fold {

namespace {

enum class Op { kSum, kProd, kMax, kMin, kMean };

template <typename T>
bool reduce_typed(Evaluation& ev, Op op, const Tensor& x, const std::vector<bool>& reduced, bool keepdims) {
  using C = typename Elem<T>::C;
  constexpr bool kFloat = std::is_floating_point_v<C>;
  using Acc = std::conditional_t<kFloat, double, std::conditional_t<std::is_unsigned_v<C>, uint64_t, int64_t>>;
  const auto& in = x.dims();
  std::vector<int64_t> dims, kept_dims;
  uint64_t group = 1;  // elements reduced into each output
  for (size_t d = 0; d < in.size(); ++d) {
    if (reduced[d]) {
      group *= static_cast<uint64_t>(in[d]);
      if (keepdims) dims.push_back(1);
    } else {
      dims.push_back(in[d]);
      kept_dims.push_back(in[d]);
    }
  }
  if (!ev.reserve(dtype_of<T>(), dims)) return false;
  if (op == Op::kMean && !kFloat && group == 0) return false;

  Acc init{};
  switch (op) {
    case Op::kSum: case Op::kMean: init = Acc(0); break;
    case Op::kProd: init = Acc(1); break;
    case Op::kMax:
      if constexpr (kFloat) init = -std::numeric_limits<double>::infinity();
      else init = static_cast<Acc>(std::numeric_limits<C>::lowest());
      break;
    case Op::kMin:
      if constexpr (kFloat) init = std::numeric_limits<double>::infinity();
      else init = static_cast<Acc>(std::numeric_limits<C>::max());
      break;
  }
  std::vector<Acc> acc(numel(dims), init);

  // Output element stride along each input dim (0 on reduced dims).
  const auto kept_strides = strides_of(kept_dims);
  std::vector<int64_t> ostride(in.size(), 0);
  for (size_t d = 0, k = 0; d < in.size(); ++d)
    if (!reduced[d]) ostride[d] = kept_strides[k++];

  const uint64_t n = x.element_count();
  std::vector<int64_t> idx(in.size(), 0);
  int64_t o = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const Acc v = static_cast<Acc>(Elem<T>::load(x.data(), i));
    Acc& a = acc[static_cast<size_t>(o)];
    switch (op) {
      case Op::kSum: case Op::kMean:
        if constexpr (kFloat) a += v;
        else a = wrap_add(a, v);
        break;
      case Op::kProd:
        if constexpr (kFloat) a *= v;
        else a = wrap_mul(a, v);
        break;
      case Op::kMax:
        if constexpr (kFloat) a = std::isnan(a) || std::isnan(v) ? std::nan("") : std::max(a, v);
        else a = std::max(a, v);
        break;
      case Op::kMin:
        if constexpr (kFloat) a = std::isnan(a) || std::isnan(v) ? std::nan("") : std::min(a, v);
        else a = std::min(a, v);
        break;
    }
    for (size_t d = in.size(); d-- > 0;) {
      ++idx[d];
      o += ostride[d];
      if (idx[d] < in[d]) break;
      o -= ostride[d] * in[d];
      idx[d] = 0;
    }
  }
  std::vector<uint8_t> bytes(acc.size() * Elem<T>::kSize);
  for (size_t i = 0; i < acc.size(); ++i) {
    Acc a = acc[i];
    if (op == Op::kMean) {
      if constexpr (kFloat) a = a / static_cast<double>(group);
      else a = a / static_cast<Acc>(group);
    }
    Elem<T>::store(bytes.data(), i, static_cast<C>(a));
  }
  ev.emit(dtype_of<T>(), dims, std::move(bytes));
  return true;
}

bool reduce(Evaluation& ev, Op op) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  const int64_t rank = static_cast<int64_t>(x->dims().size());
  auto axes = attr_ints_opt(ev.node(), "axes");
  if (!axes && ev.input(1) && !(axes = tensor_ints(ev.input(1)))) return false;
  const bool keepdims = ev.node().attr_int("keepdims", 1) != 0;
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (!axes || axes->empty()) {
    if (ev.node().attr_int("noop_with_empty_axes", 0) != 0) {
      if (!ev.reserve(x->dtype(), x->dims())) return false;
      ev.emit_view(*x, x->dims());
      return true;
    }
    reduced.assign(static_cast<size_t>(rank), true);
  } else {
    for (int64_t a : *axes) {
      auto ax = normalize_axis(a, rank);
      if (!ax || reduced[*ax]) return false;
      reduced[*ax] = true;
    }
  }
  auto body = [&](auto tag) { return reduce_typed<typename decltype(tag)::type>(ev, op, *x, reduced, keepdims); };
  if (op == Op::kMax || op == Op::kMin) return visit_numeric_or_bool(x->dtype(), body);
  return visit_numeric(x->dtype(), body);
}

bool k_reduce_sum(Evaluation& ev) { return reduce(ev, Op::kSum); }
bool k_reduce_prod(Evaluation& ev) { return reduce(ev, Op::kProd); }
bool k_reduce_max(Evaluation& ev) { return reduce(ev, Op::kMax); }
bool k_reduce_min(Evaluation& ev) { return reduce(ev, Op::kMin); }
bool k_reduce_mean(Evaluation& ev) { return reduce(ev, Op::kMean); }

}  // namespace

void add_reduce_kernels(KernelTable& t) {
  t["ReduceMax"] = k_reduce_max;
  t["ReduceMean"] = k_reduce_mean;
  t["ReduceMin"] = k_reduce_min;
  t["ReduceProd"] = k_reduce_prod;
  t["ReduceSum"] = k_reduce_sum;
}

}  // namespace irforge::passes::fold
