// Shape and data-movement kernels: Constant, ConstantOfShape, Identity, Shape, Size, Reshape,
// Flatten, Squeeze, Unsqueeze, Transpose, Concat, Gather, Slice, Split, Expand, Tile, Range,
// Trilu, NonZero.
//
// They copy whole elements as bytes, so they work for every type of whole bytes per element.
// Ops that only change the shape (Identity, Reshape, Flatten, Squeeze, Unsqueeze) share the
// input's bytes instead of copying them. Attribute-or-input forms that changed between opsets
// (Squeeze/Unsqueeze/Reduce axes, Slice, Split) are recognized by which form is present.
#include <algorithm>
#include <cmath>

#include "passes/fold/kernels_util.h"

namespace irforge::passes::fold {

namespace {

bool reshape_view(Evaluation& ev, const Tensor& src, std::vector<int64_t> dims) {
  for (int64_t d : dims)
    if (d < 0) return false;
  if (numel(dims) != src.element_count() || !ev.reserve(src.dtype(), dims)) return false;
  ev.emit_view(src, std::move(dims));
  return true;
}

// Ints from input `i`, or from attribute `name` when the node has it (older opsets).
std::optional<std::vector<int64_t>> ints_from(const Evaluation& ev, size_t i, const char* name) {
  if (auto a = attr_ints_opt(ev.node(), name)) return a;
  if (ev.input(i)) return tensor_ints(ev.input(i));
  return std::nullopt;
}

// ---- constants -----------------------------------------------------------------------------------

bool k_constant(Evaluation& ev) {
  if (ev.num_inputs() != 0 || ev.num_outputs() != 1) return false;
  const Node& n = ev.node();
  auto t = std::make_shared<Tensor>();
  for (const Attribute& a : n.attributes()) {
    if (a.name == "value" && a.kind == AttrKind::kTensor && a.t) {
      const Tensor& v = *a.t;
      if (v.dtype() != DataType::kString) {
        auto expected = raw_bytes_for(v.dtype(), v.element_count());
        if (!expected || *expected != v.nbytes() || (v.nbytes() && !v.data())) return false;
      } else if (v.strings().size() != v.element_count()) {
        return false;
      }
      *t = Tensor("", v.dtype(), v.dims());
      if (v.storage()) t->set_view(v.storage(), v.storage_offset(), v.nbytes());
      t->strings() = v.strings();
    } else if (a.name == "value_float" && a.kind == AttrKind::kFloat) {
      *t = Tensor("", DataType::kFloat, {});
      std::vector<uint8_t> b(4);
      std::memcpy(b.data(), &a.f, 4);
      t->set_owned(std::move(b));
    } else if (a.name == "value_floats" && a.kind == AttrKind::kFloats) {
      *t = Tensor("", DataType::kFloat, {static_cast<int64_t>(a.floats.size())});
      std::vector<uint8_t> b(a.floats.size() * 4);
      if (!b.empty()) std::memcpy(b.data(), a.floats.data(), b.size());
      t->set_owned(std::move(b));
    } else if (a.name == "value_int" && a.kind == AttrKind::kInt) {
      *t = Tensor("", DataType::kInt64, {});
      std::vector<uint8_t> b(8);
      std::memcpy(b.data(), &a.i, 8);
      t->set_owned(std::move(b));
    } else if (a.name == "value_ints" && a.kind == AttrKind::kInts) {
      *t = Tensor("", DataType::kInt64, {static_cast<int64_t>(a.ints.size())});
      std::vector<uint8_t> b(a.ints.size() * 8);
      if (!b.empty()) std::memcpy(b.data(), a.ints.data(), b.size());
      t->set_owned(std::move(b));
    } else if (a.name == "value_string" && a.kind == AttrKind::kString) {
      *t = Tensor("", DataType::kString, {});
      t->strings() = {a.s};
    } else if (a.name == "value_strings" && a.kind == AttrKind::kStrings) {
      *t = Tensor("", DataType::kString, {static_cast<int64_t>(a.strings.size())});
      t->strings() = a.strings;
    } else {
      return false;  // sparse_value, or an attribute Constant does not have
    }
  }
  if (t->dtype() == DataType::kUndefined) return false;
  ev.emit_tensor(std::move(t));
  return true;
}

bool k_constant_of_shape(Evaluation& ev) {
  auto shape = tensor_ints(ev.input(0));
  if (!shape || ev.input(0)->dims().size() != 1 || ev.num_outputs() != 1) return false;
  DataType dtype = DataType::kFloat;
  std::vector<uint8_t> value(4, 0);
  if (const Attribute* a = ev.node().attr("value")) {
    if (a->kind != AttrKind::kTensor || !a->t || a->t->element_count() != 1) return false;
    dtype = a->t->dtype();
    size_t es = elem_bytes(dtype);
    if (es == 0 || a->t->nbytes() != es || !a->t->data()) return false;
    value.assign(a->t->data(), a->t->data() + es);
  }
  if (!ev.reserve(dtype, *shape)) return false;  // also rejects negative dims
  const uint64_t n = numel(*shape);
  const size_t es = value.size();
  std::vector<uint8_t> bytes(n * es);
  for (uint64_t i = 0; i < n; ++i) std::memcpy(bytes.data() + i * es, value.data(), es);
  ev.emit(dtype, *shape, std::move(bytes));
  return true;
}

// Range(start, limit, delta): max(ceil((limit - start) / delta), 0) elements start + i * delta,
// the elements computed in the element's compute type (float for float16/bfloat16).
bool k_range(Evaluation& ev) {
  const Tensor* s = ev.input(0);
  const Tensor* l = ev.input(1);
  const Tensor* d = ev.input(2);
  if (!s || !l || !d || s->element_count() != 1 || l->element_count() != 1 || d->element_count() != 1) return false;
  if (s->dtype() != l->dtype() || s->dtype() != d->dtype() || ev.num_outputs() != 1) return false;
  return visit_numeric(s->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = typename Elem<T>::C;
    const C start = Elem<T>::load(s->data(), 0), limit = Elem<T>::load(l->data(), 0), delta = Elem<T>::load(d->data(), 0);
    int64_t count = 0;
    if constexpr (std::is_integral_v<C>) {
      if (delta == 0) return false;
      // In 128-bit arithmetic: no overflow for any 64-bit operands.
      __int128 diff = static_cast<__int128>(limit) - static_cast<__int128>(start);
      __int128 step = static_cast<__int128>(delta);
      __int128 c = 0;
      if (step > 0 && diff > 0) c = (diff + step - 1) / step;
      if (step < 0 && diff < 0) c = (-diff + (-step) - 1) / (-step);
      if (c > (static_cast<__int128>(1) << 60)) return false;
      count = static_cast<int64_t>(c);
    } else {
      // The difference in the compute type, the division in double: what onnxruntime does, and
      // it decides the length (0.3f / 0.1f is 3 in float but just above 3 in double: 4 elements).
      const double c = std::ceil(static_cast<double>(limit - start) / static_cast<double>(delta));
      if (std::isnan(c)) return false;
      if (c > 0) {
        if (c > std::ldexp(1.0, 60)) return false;
        count = static_cast<int64_t>(c);
      }
    }
    std::vector<int64_t> dims{count};
    if (!ev.reserve(dtype_of<T>(), dims)) return false;
    std::vector<uint8_t> bytes(static_cast<uint64_t>(count) * Elem<T>::kSize);
    for (int64_t i = 0; i < count; ++i) {
      C v;
      if constexpr (std::is_integral_v<C>) v = wrap_add<C>(start, wrap_mul<C>(static_cast<C>(i), delta));
      else v = start + static_cast<C>(i) * delta;
      Elem<T>::store(bytes.data(), static_cast<uint64_t>(i), v);
    }
    ev.emit(dtype_of<T>(), dims, std::move(bytes));
    return true;
  });
}

// ---- shape-only ops (share the input's bytes) ----------------------------------------------------

bool k_identity(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  return reshape_view(ev, *x, x->dims());
}

// Shape reads only the input's dims: the pass also calls it for non-constant inputs with dims
// from the IR type, -1 where a dim is not static (refused when it is among those returned).
bool k_shape(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  const int64_t rank = static_cast<int64_t>(x->dims().size());
  auto clamp = [rank](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  int64_t start = clamp(ev.node().attr_int("start", 0));
  int64_t end = ev.node().attr("end") ? clamp(ev.node().attr_int("end", rank)) : rank;
  std::vector<int64_t> dims{std::max<int64_t>(end - start, 0)};
  for (int64_t i = 0; i < dims[0]; ++i)
    if (x->dims()[start + i] < 0) return false;
  if (!ev.reserve(DataType::kInt64, dims)) return false;
  std::vector<uint8_t> bytes(static_cast<uint64_t>(dims[0]) * 8);
  for (int64_t i = 0; i < dims[0]; ++i) Elem<int64_t>::store(bytes.data(), static_cast<uint64_t>(i), x->dims()[start + i]);
  ev.emit(DataType::kInt64, dims, std::move(bytes));
  return true;
}

bool k_size(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1 || !ev.reserve(DataType::kInt64, {})) return false;
  std::vector<uint8_t> bytes(8);
  Elem<int64_t>::store(bytes.data(), 0, static_cast<int64_t>(x->element_count()));
  ev.emit(DataType::kInt64, {}, std::move(bytes));
  return true;
}

bool k_reshape(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  auto shape = ev.input(1) ? tensor_ints(ev.input(1)) : attr_ints_opt(ev.node(), "shape");  // attr: opset 1-4
  if (!shape) return false;
  const bool allowzero = ev.node().attr_int("allowzero", 0) != 0;
  std::vector<int64_t> dims = *shape;
  int infer = -1;
  uint64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 0 && !allowzero) {
      if (i >= x->dims().size()) return false;
      dims[i] = x->dims()[i];
    }
    if (dims[i] == -1) {
      if (infer >= 0) return false;
      infer = static_cast<int>(i);
    } else if (dims[i] < 0) {
      return false;
    } else {
      known *= static_cast<uint64_t>(dims[i]);
    }
  }
  if (infer >= 0) {
    if (known == 0 || x->element_count() % known != 0) return false;
    dims[infer] = static_cast<int64_t>(x->element_count() / known);
  }
  return reshape_view(ev, *x, std::move(dims));
}

bool k_flatten(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  const int64_t rank = static_cast<int64_t>(x->dims().size());
  int64_t axis = ev.node().attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) return false;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= x->dims()[d];
  return reshape_view(ev, *x, {outer, inner});
}

bool k_squeeze(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  const auto& in = x->dims();
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> drop(in.size(), false);
  auto axes = ints_from(ev, 1, "axes");
  if (!axes && (ev.input(1) || ev.node().attr("axes"))) return false;
  if (axes) {
    for (int64_t a : *axes) {
      auto ax = normalize_axis(a, rank);
      if (!ax || in[*ax] != 1 || drop[*ax]) return false;
      drop[*ax] = true;
    }
  } else {
    for (size_t d = 0; d < in.size(); ++d) drop[d] = in[d] == 1;
  }
  std::vector<int64_t> dims;
  for (size_t d = 0; d < in.size(); ++d)
    if (!drop[d]) dims.push_back(in[d]);
  return reshape_view(ev, *x, std::move(dims));
}

bool k_unsqueeze(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  auto axes = ints_from(ev, 1, "axes");
  if (!x || !axes || ev.num_outputs() != 1) return false;
  const int64_t out_rank = static_cast<int64_t>(x->dims().size() + axes->size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : *axes) {
    auto ax = normalize_axis(a, out_rank);
    if (!ax || inserted[*ax]) return false;
    inserted[*ax] = true;
  }
  std::vector<int64_t> dims;
  size_t next = 0;
  for (int64_t d = 0; d < out_rank; ++d) dims.push_back(inserted[d] ? 1 : x->dims()[next++]);
  return reshape_view(ev, *x, std::move(dims));
}

// ---- copying ops ---------------------------------------------------------------------------------

bool k_transpose(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  const size_t es = elem_bytes(x->dtype());
  const auto& in = x->dims();
  const size_t rank = in.size();
  std::vector<int64_t> perm = ev.node().attr_ints("perm");
  if (perm.empty() && !ev.node().attr("perm"))
    for (size_t d = 0; d < rank; ++d) perm.push_back(static_cast<int64_t>(rank - 1 - d));
  if (es == 0 || perm.size() != rank) return false;
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    auto ax = normalize_axis(p, static_cast<int64_t>(rank));
    if (!ax || seen[*ax]) return false;
    seen[*ax] = true;
    p = *ax;
  }
  std::vector<int64_t> dims(rank), strides(rank);
  const auto in_strides = strides_of(in);
  for (size_t d = 0; d < rank; ++d) {
    dims[d] = in[perm[d]];
    strides[d] = in_strides[perm[d]];
  }
  if (!ev.reserve(x->dtype(), dims)) return false;
  std::vector<uint8_t> bytes(numel(dims) * es);
  strided_copy(x->data(), bytes.data(), es, dims, strides, 0);
  ev.emit(x->dtype(), dims, std::move(bytes));
  return true;
}

bool k_concat(Evaluation& ev) {
  const Attribute* axis_attr = ev.node().attr("axis");
  if (ev.num_inputs() == 0 || !ev.input(0) || !axis_attr || axis_attr->kind != AttrKind::kInt || ev.num_outputs() != 1) return false;
  const Tensor& first = *ev.input(0);
  const DataType dtype = first.dtype();
  const size_t es = elem_bytes(dtype);
  const int64_t rank = static_cast<int64_t>(first.dims().size());
  auto axis = normalize_axis(axis_attr->i, rank);
  if (es == 0 || !axis) return false;
  std::vector<int64_t> dims = first.dims();
  dims[*axis] = 0;
  for (size_t k = 0; k < ev.num_inputs(); ++k) {
    const Tensor* t = ev.input(k);
    if (!t || t->dtype() != dtype || static_cast<int64_t>(t->dims().size()) != rank) return false;
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis && t->dims()[d] != dims[d]) return false;
    dims[*axis] += t->dims()[*axis];
  }
  if (!ev.reserve(dtype, dims)) return false;
  uint64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < *axis) outer *= static_cast<uint64_t>(dims[d]);
    if (d > *axis) inner *= static_cast<uint64_t>(dims[d]);
  }
  std::vector<uint8_t> bytes(numel(dims) * es);
  uint8_t* dst = bytes.data();
  for (uint64_t o = 0; o < outer; ++o)
    for (size_t k = 0; k < ev.num_inputs(); ++k) {
      const Tensor* t = ev.input(k);
      uint64_t block = static_cast<uint64_t>(t->dims()[*axis]) * inner * es;
      if (block) std::memcpy(dst, t->data() + o * block, block);
      dst += block;
    }
  ev.emit(dtype, dims, std::move(bytes));
  return true;
}

bool k_gather(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  auto indices = tensor_ints(ev.input(1));
  if (!x || !indices || ev.num_outputs() != 1) return false;
  const size_t es = elem_bytes(x->dtype());
  const auto& in = x->dims();
  auto axis = normalize_axis(ev.node().attr_int("axis", 0), static_cast<int64_t>(in.size()));
  if (es == 0 || !axis) return false;
  const int64_t n = in[*axis];
  std::vector<int64_t> dims(in.begin(), in.begin() + *axis);
  for (int64_t d : ev.input(1)->dims()) dims.push_back(d);
  dims.insert(dims.end(), in.begin() + *axis + 1, in.end());
  for (int64_t& i : *indices) {
    if (i < -n || i >= n) return false;
    if (i < 0) i += n;
  }
  if (!ev.reserve(x->dtype(), dims)) return false;
  uint64_t outer = 1, inner = 1;
  for (size_t d = 0; d < in.size(); ++d) {
    if (static_cast<int64_t>(d) < *axis) outer *= static_cast<uint64_t>(in[d]);
    if (static_cast<int64_t>(d) > *axis) inner *= static_cast<uint64_t>(in[d]);
  }
  const uint64_t block = inner * es;
  std::vector<uint8_t> bytes(numel(dims) * es);
  uint8_t* dst = bytes.data();
  for (uint64_t o = 0; o < outer; ++o)
    for (int64_t i : *indices) {
      if (block) std::memcpy(dst, x->data() + (o * static_cast<uint64_t>(n) + static_cast<uint64_t>(i)) * block, block);
      dst += block;
    }
  ev.emit(x->dtype(), dims, std::move(bytes));
  return true;
}

bool k_slice(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  const size_t es = elem_bytes(x->dtype());
  const auto& in = x->dims();
  const int64_t rank = static_cast<int64_t>(in.size());
  std::optional<std::vector<int64_t>> starts, ends, axes, steps;
  if (ev.node().attr("starts")) {  // opset 1-9: attributes
    starts = attr_ints_opt(ev.node(), "starts");
    ends = attr_ints_opt(ev.node(), "ends");
    axes = attr_ints_opt(ev.node(), "axes");
  } else {
    starts = tensor_ints(ev.input(1));
    ends = tensor_ints(ev.input(2));
    if (ev.input(3) && !(axes = tensor_ints(ev.input(3)))) return false;
    if (ev.input(4) && !(steps = tensor_ints(ev.input(4)))) return false;
  }
  if (es == 0 || !starts || !ends || starts->size() != ends->size()) return false;
  const size_t n = starts->size();
  if (!axes) {
    axes.emplace();
    for (size_t i = 0; i < n; ++i) axes->push_back(static_cast<int64_t>(i));
  }
  if (!steps) steps.emplace(n, 1);
  if (axes->size() != n || steps->size() != n) return false;
  std::vector<int64_t> dims = in, start(in.size(), 0), step(in.size(), 1);
  std::vector<bool> seen(in.size(), false);
  for (size_t i = 0; i < n; ++i) {
    auto ax = normalize_axis((*axes)[i], rank);
    if (!ax || seen[*ax] || (*steps)[i] == 0) return false;
    seen[*ax] = true;
    const int64_t dim = in[*ax], st = (*steps)[i];
    int64_t b = (*starts)[i], e = (*ends)[i];
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    // Clamping as the spec says; counts in 128 bits since steps may be as large as int64 allows.
    int64_t count = 0;
    if (dim == 0) {
      count = 0;
    } else if (st > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      if (e > b) count = static_cast<int64_t>((static_cast<__int128>(e) - b - 1) / st + 1);
    } else {
      b = std::clamp<int64_t>(b, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      if (b > e) count = static_cast<int64_t>((static_cast<__int128>(b) - e - 1) / -static_cast<__int128>(st) + 1);
    }
    dims[*ax] = count;
    start[*ax] = count ? b : 0;
    step[*ax] = count > 1 ? st : 1;  // a stride is only followed when more than one element is taken
  }
  if (!ev.reserve(x->dtype(), dims)) return false;
  const auto in_strides = strides_of(in);
  std::vector<int64_t> strides(in.size());
  int64_t base = 0;
  for (size_t d = 0; d < in.size(); ++d) {
    strides[d] = in_strides[d] * step[d];
    base += start[d] * in_strides[d];
  }
  std::vector<uint8_t> bytes(numel(dims) * es);
  strided_copy(x->data(), bytes.data(), es, dims, strides, base);
  ev.emit(x->dtype(), dims, std::move(bytes));
  return true;
}

bool k_split(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  const size_t outs = ev.num_outputs();
  if (!x || outs == 0) return false;
  const size_t es = elem_bytes(x->dtype());
  const auto& in = x->dims();
  auto axis = normalize_axis(ev.node().attr_int("axis", 0), static_cast<int64_t>(in.size()));
  if (es == 0 || !axis) return false;
  const int64_t dim = in[*axis];
  std::vector<int64_t> split;
  if (ev.input(1)) {  // opset 13+
    auto s = tensor_ints(ev.input(1));
    if (!s) return false;
    split = *s;
  } else if (auto s = attr_ints_opt(ev.node(), "split")) {  // opset 1-12
    split = *s;
  } else {  // equal parts; with num_outputs (18+) the last part may be smaller
    const int64_t parts = static_cast<int64_t>(outs);
    const int64_t chunk = ev.node().attr("num_outputs") ? (dim + parts - 1) / parts : dim / parts;
    if (!ev.node().attr("num_outputs") && dim % parts != 0) return false;
    for (int64_t k = 0, left = dim; k < parts; ++k, left -= chunk) split.push_back(std::clamp<int64_t>(left, 0, chunk));
  }
  int64_t total = 0;
  for (int64_t s : split) {
    if (s < 0 || s > dim) return false;  // also keeps the sum from overflowing
    total += s;
  }
  if (split.size() != outs || total != dim) return false;
  for (int64_t s : split) {
    std::vector<int64_t> dims = in;
    dims[*axis] = s;
    if (!ev.reserve(x->dtype(), dims)) return false;
  }
  uint64_t outer = 1, inner = 1;
  for (size_t d = 0; d < in.size(); ++d) {
    if (static_cast<int64_t>(d) < *axis) outer *= static_cast<uint64_t>(in[d]);
    if (static_cast<int64_t>(d) > *axis) inner *= static_cast<uint64_t>(in[d]);
  }
  int64_t offset = 0;
  for (int64_t s : split) {
    std::vector<int64_t> dims = in;
    dims[*axis] = s;
    std::vector<uint8_t> bytes(numel(dims) * es);
    const uint64_t block = static_cast<uint64_t>(s) * inner * es;
    for (uint64_t o = 0; o < outer && block; ++o)
      std::memcpy(bytes.data() + o * block, x->data() + (o * static_cast<uint64_t>(dim) + static_cast<uint64_t>(offset)) * inner * es, block);
    offset += s;
    ev.emit(x->dtype(), std::move(dims), std::move(bytes));
  }
  return true;
}

// Copies `x` broadcast to `dims` (numpy rules; `dims` already checked to be a broadcast).
void broadcast_copy(const Tensor& x, size_t es, const std::vector<int64_t>& dims, uint8_t* dst) {
  const auto& in = x.dims();
  const auto in_strides = strides_of(in);
  std::vector<int64_t> strides(dims.size(), 0);
  for (size_t j = 0; j < in.size(); ++j) {
    size_t d = dims.size() - in.size() + j;
    strides[d] = in[j] == 1 ? 0 : in_strides[j];
  }
  strided_copy(x.data(), dst, es, dims, strides, 0);
}

bool k_expand(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  auto shape = tensor_ints(ev.input(1));
  if (!x || !shape || ev.num_outputs() != 1) return false;
  const size_t es = elem_bytes(x->dtype());
  for (int64_t d : *shape)
    if (d < 0) return false;
  auto dims = broadcast_shapes({&x->dims(), &*shape});
  if (es == 0 || !dims || !ev.reserve(x->dtype(), *dims)) return false;
  std::vector<uint8_t> bytes(numel(*dims) * es);
  broadcast_copy(*x, es, *dims, bytes.data());
  ev.emit(x->dtype(), *dims, std::move(bytes));
  return true;
}

// Tile as a strided copy over (repeat, dim) pairs: the repeat axes have stride 0.
bool k_tile(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  auto repeats = tensor_ints(ev.input(1));
  if (!x || !repeats || ev.num_outputs() != 1) return false;
  const size_t es = elem_bytes(x->dtype());
  const auto& in = x->dims();
  if (es == 0 || repeats->size() != in.size()) return false;
  std::vector<int64_t> dims(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    if ((*repeats)[d] < 0) return false;
    if (in[d] != 0 && (*repeats)[d] > (int64_t{1} << 60) / in[d]) return false;
    dims[d] = in[d] * (*repeats)[d];
  }
  if (!ev.reserve(x->dtype(), dims)) return false;
  const auto in_strides = strides_of(in);
  std::vector<int64_t> pair_dims, pair_strides;
  for (size_t d = 0; d < in.size(); ++d) {
    pair_dims.insert(pair_dims.end(), {(*repeats)[d], in[d]});
    pair_strides.insert(pair_strides.end(), {0, in_strides[d]});
  }
  std::vector<uint8_t> bytes(numel(dims) * es);
  strided_copy(x->data(), bytes.data(), es, pair_dims, pair_strides, 0);
  ev.emit(x->dtype(), dims, std::move(bytes));
  return true;
}

// Trilu: keeps element (i, j) of the last two dims when j - i >= k (upper) or <= k (lower).
bool k_trilu(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || ev.num_outputs() != 1) return false;
  const size_t es = elem_bytes(x->dtype());
  const auto& in = x->dims();
  if (es == 0 || in.size() < 2) return false;
  int64_t k = 0;
  if (ev.input(1)) {
    auto kv = tensor_ints(ev.input(1));
    if (!kv || kv->size() != 1) return false;
    k = (*kv)[0];
  }
  const bool upper = ev.node().attr_int("upper", 1) != 0;
  if (!ev.reserve(x->dtype(), in)) return false;
  const int64_t rows = in[in.size() - 2], cols = in[in.size() - 1];
  std::vector<uint8_t> bytes(x->data(), x->data() + x->nbytes());
  const uint64_t mats = rows != 0 && cols != 0 ? numel(in) / static_cast<uint64_t>(rows * cols) : 0;
  for (uint64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        // j - i computed without overflow: |k| may be huge.
        const bool keep = upper ? static_cast<__int128>(j) - i >= k : static_cast<__int128>(j) - i <= k;
        if (!keep) std::memset(bytes.data() + ((m * static_cast<uint64_t>(rows) + static_cast<uint64_t>(i)) * static_cast<uint64_t>(cols) + static_cast<uint64_t>(j)) * es, 0, es);
      }
  ev.emit(x->dtype(), in, std::move(bytes));
  return true;
}

bool k_nonzero(Evaluation& ev) {
  const Tensor* x = ev.input(0);
  if (!x || x->dims().empty() || ev.num_outputs() != 1) return false;  // numpy deprecates 0-d
  return visit_numeric_or_bool(x->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = typename Elem<T>::C;
    const uint64_t n = x->element_count();
    std::vector<uint64_t> hits;
    for (uint64_t i = 0; i < n; ++i)
      if (Elem<T>::load(x->data(), i) != C(0)) hits.push_back(i);
    const auto& in = x->dims();
    const size_t rank = in.size();
    std::vector<int64_t> dims{static_cast<int64_t>(rank), static_cast<int64_t>(hits.size())};
    if (!ev.reserve(DataType::kInt64, dims)) return false;
    const auto strides = strides_of(in);
    std::vector<uint8_t> bytes(rank * hits.size() * 8);
    for (size_t h = 0; h < hits.size(); ++h)
      for (size_t d = 0; d < rank; ++d) {
        int64_t coord = static_cast<int64_t>(hits[h]) / strides[d] % in[d];
        Elem<int64_t>::store(bytes.data(), d * hits.size() + h, coord);
      }
    ev.emit(DataType::kInt64, dims, std::move(bytes));
    return true;
  });
}

}  // namespace

void add_movement_kernels(KernelTable& t) {
  t["Concat"] = k_concat;
  t["Constant"] = k_constant;
  t["ConstantOfShape"] = k_constant_of_shape;
  t["Expand"] = k_expand;
  t["Flatten"] = k_flatten;
  t["Gather"] = k_gather;
  t["Identity"] = k_identity;
  t["NonZero"] = k_nonzero;
  t["Range"] = k_range;
  t["Reshape"] = k_reshape;
  t["Shape"] = k_shape;
  t["Size"] = k_size;
  t["Slice"] = k_slice;
  t["Split"] = k_split;
  t["Squeeze"] = k_squeeze;
  t["Tile"] = k_tile;
  t["Transpose"] = k_transpose;
  t["Trilu"] = k_trilu;
  t["Unsqueeze"] = k_unsqueeze;
}

}  // namespace irforge::passes::fold
