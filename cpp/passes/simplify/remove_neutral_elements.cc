#include "passes/simplify/remove_neutral_elements.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "passes/util.h"
#include "support/fp16.h"

namespace irforge::passes {

namespace {

// Neutral constants are biases and scales: read at most this many elements.
constexpr uint64_t kMaxConstantElements = uint64_t{1} << 20;

// Whether every one of `n` elements of type T at `p` equals `want`, stopping at the first that
// does not: a real bias or scale is refused after a few elements, so its bytes (a mapped file's
// pages) are neither copied nor all touched.
template <typename T, typename Decode>
bool all_equal(const uint8_t* p, uint64_t n, double want, Decode decode) {
  for (uint64_t i = 0; i < n; ++i) {
    T raw;
    std::memcpy(&raw, p + i * sizeof(T), sizeof(T));  // mapped weights need not be aligned
    if (!(static_cast<double>(decode(raw)) == want)) return false;
  }
  return true;
}

// Whether `v` is a constant whose every element equals `want` (and has at least one).
bool constant_all(const Value* v, double want) {
  const Tensor* t = constant_of(v);
  if (!t || t->element_count() == 0 || t->element_count() > kMaxConstantElements) return false;
  const uint64_t n = t->element_count();
  const uint8_t* p = t->data();
  auto same = [](auto x) { return x; };
  std::optional<bool> all;
  switch (t->dtype()) {
    case DataType::kFloat: all = p && all_equal<float>(p, n, want, same); break;
    case DataType::kDouble: all = p && all_equal<double>(p, n, want, same); break;
    case DataType::kFloat16: all = p && all_equal<uint16_t>(p, n, want, [](uint16_t h) { return f16_to_f32(h); }); break;
    case DataType::kInt32: all = p && all_equal<int32_t>(p, n, want, same); break;
    case DataType::kInt64: all = p && all_equal<int64_t>(p, n, want, same); break;
    default: {
      auto d = tensor_as_doubles(*t);  // the rarer types: small tensors in practice
      all = d.has_value();
      for (size_t i = 0; d && i < d->size() && *all; ++i) all = (*d)[i] == want;
    }
  }
  // Every bias of a model read this way would otherwise keep its file folio resident.
  if (p) release_mapped_pages(*t, p, t->nbytes());
  return *all;
}

// Whether `v` is all zeros: a zero constant, a Cast of one, or a DequantizeLinear whose
// quantized constant equals its (uniform) zero point under a finite constant scale — how a QDQ
// or TFLite-quantized export carries a fresh zero bias. (q - zp) * scale is then 0 exactly.
bool all_zero(const Value* v) {
  if (constant_all(v, 0.0)) return true;
  const Node* p = v ? v->producer() : nullptr;
  if (!p || !p->domain().empty() || p->num_outputs() != 1) return false;
  if (p->op_type() == "Cast" && p->inputs().size() == 1) return all_zero(p->input(0));
  if (p->op_type() != "DequantizeLinear" || p->inputs().size() < 2 || p->inputs().size() > 3) return false;
  for (const Value* in : p->inputs())
    if (!in) return false;
  const Tensor* scale = constant_of(p->input(1));
  if (!scale || scale->element_count() == 0 || scale->element_count() > kMaxConstantElements) return false;
  auto sd = tensor_as_doubles(*scale);
  if (!sd) return false;
  for (double x : *sd)
    if (!std::isfinite(x)) return false;
  double zp = 0.0;
  if (p->inputs().size() == 3) {
    const Tensor* z = constant_of(p->input(2));
    if (!z || z->element_count() == 0 || z->element_count() > kMaxConstantElements) return false;
    auto zd = tensor_as_doubles(*z);
    if (!zd) return false;
    zp = zd->front();
    for (double x : *zd)
      if (x != zp) return false;
  }
  return constant_all(p->input(0), zp);
}

bool same_dim(const Dim& a, const Dim& b) {
  if (a.is_static() && b.is_static()) return a.value == b.value;
  return a.kind == Dim::Kind::kParam && b.kind == Dim::Kind::kParam && a.param == b.param;
}

const Shape* shape_of(const Value* v) {
  if (!v || !v->type().is_tensor() || !v->type().shape) return nullptr;
  return &*v->type().shape;
}

// Whether a tensor of shape `small` broadcasts into `big` without changing it (numpy rules):
// no more dims, and each (right-aligned) dim is 1 or the same as big's.
bool broadcasts_into(const Shape& small, const Shape& big) {
  if (small.size() > big.size()) return false;
  size_t off = big.size() - small.size();
  for (size_t i = 0; i < small.size(); ++i) {
    const Dim& d = small[i];
    if (d.is_static() && d.value == 1) continue;
    if (!same_dim(d, big[off + i])) return false;
  }
  return true;
}

bool value_broadcasts_into(const Value* small, const Value* big) {
  const Shape* s = shape_of(small);
  const Shape* b = shape_of(big);
  return s && b && broadcasts_into(*s, *b);
}

// Which input the node passes through unchanged, or nullopt.
std::optional<size_t> neutral_input(const Node& n) {
  if (!n.domain().empty() || n.num_outputs() != 1) return std::nullopt;
  const std::string& op = n.op_type();
  const size_t arity = n.inputs().size();
  for (Value* in : n.inputs())
    if (!in) return std::nullopt;
  if ((op == "Add" || op == "Mul") && arity == 2) {
    double unit = op == "Add" ? 0.0 : 1.0;
    for (size_t k = 0; k < 2; ++k)
      if (constant_all(n.input(1 - k), unit) && value_broadcasts_into(n.input(1 - k), n.input(k))) return k;
    return std::nullopt;
  }
  if ((op == "Sub" || op == "Div" || op == "Pow") && arity == 2) {
    double unit = op == "Sub" ? 0.0 : 1.0;
    if (constant_all(n.input(1), unit) && value_broadcasts_into(n.input(1), n.input(0))) return 0;
    return std::nullopt;
  }
  if (op == "Where" && arity == 3) {
    for (size_t k : {size_t{1}, size_t{2}}) {
      bool want = k == 1;
      if (constant_all(n.input(0), want ? 1.0 : 0.0) && value_broadcasts_into(n.input(0), n.input(k)) &&
          value_broadcasts_into(n.input(3 - k), n.input(k)))
        return k;
    }
    return std::nullopt;
  }
  if (op == "Concat" && arity == 1) return 0;
  const Shape* x = shape_of(n.input(0));
  if (!x) return std::nullopt;
  if (op == "Expand" && arity == 2) {
    auto s = constant_ints(n.input(1));
    if (!s || s->size() > x->size()) return std::nullopt;
    Shape target;
    for (int64_t d : *s) target.push_back(Dim::of(d));
    return broadcasts_into(target, *x) ? std::optional<size_t>(0) : std::nullopt;
  }
  if (op == "Tile" && arity == 2) {
    auto r = constant_ints(n.input(1));
    if (!r || r->size() != x->size()) return std::nullopt;
    for (int64_t v : *r)
      if (v != 1) return std::nullopt;
    return 0;
  }
  if (op == "Reshape" && arity == 2) {
    auto s = constant_ints(n.input(1));
    if (!s || s->size() != x->size()) return std::nullopt;
    bool allowzero = n.attr_int("allowzero", 0) != 0;
    int inferred = 0;
    for (size_t i = 0; i < s->size(); ++i) {
      int64_t v = (*s)[i];
      if (v == -1) {
        ++inferred;  // with every other dim kept, -1 can only be x's own dim i
      } else if (v == 0 && !allowzero) {
        continue;  // copies x's dim i
      } else if (!((*x)[i].is_static() && (*x)[i].value == v)) {
        return std::nullopt;
      }
    }
    if (inferred == 1)  // -1 divides by the other dims: with a static 0 among them it is not x's dim
      for (const Dim& d : *x)
        if (d.is_static() && d.value == 0) return std::nullopt;
    return inferred <= 1 ? std::optional<size_t>(0) : std::nullopt;
  }
  if (op == "Slice" && arity >= 3 && arity <= 5) {
    auto starts = constant_ints(n.input(1)), ends = constant_ints(n.input(2));
    if (!starts || !ends || starts->size() != ends->size()) return std::nullopt;
    std::vector<int64_t> axes;
    if (arity >= 4) {
      auto a = constant_ints(n.input(3));
      if (!a) return std::nullopt;
      axes = *a;
    } else {
      for (size_t i = 0; i < starts->size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (axes.size() != starts->size()) return std::nullopt;
    if (arity == 5) {
      auto steps = constant_ints(n.input(4));
      if (!steps || steps->size() != starts->size()) return std::nullopt;
      for (int64_t v : *steps)
        if (v != 1) return std::nullopt;
    }
    const int64_t rank = static_cast<int64_t>(x->size());
    constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max() / 2;  // "to the end" (exporters write INT64_MAX)
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
      if (axis < 0 || axis >= rank) return std::nullopt;
      int64_t start = (*starts)[i], end = (*ends)[i];
      const Dim& d = (*x)[static_cast<size_t>(axis)];
      if (d.is_static()) {
        int64_t len = d.value;
        int64_t s = start < 0 ? std::max<int64_t>(0, start + len) : std::min(start, len);
        int64_t e = end < 0 ? std::max<int64_t>(0, end + len) : std::min(end, len);
        if (s != 0 || e != len) return std::nullopt;
      } else if (start != 0 || end < kUnbounded) {
        return std::nullopt;
      }
    }
    return 0;
  }
  return std::nullopt;
}

// Gemm's C is optional from opset 11, Conv's and ConvTranspose's B always: an all-zero bias
// adds nothing, and the OpenVINO lowering would write it as an Add layer (TFLite convs and
// BatchNorm folded over fresh statistics carry such biases, one per conv).
int64_t drop_zero_bias(Node* n, int64_t opset) {
  if (!n->domain().empty() || n->inputs().size() != 3 || !n->input(2)) return 0;
  const std::string& op = n->op_type();
  bool optional_bias = (op == "Gemm" && opset >= 11) || op == "Conv" || op == "ConvTranspose";
  if (!optional_bias || !all_zero(n->input(2))) return 0;
  n->remove_input(2);
  return 1;
}

int64_t visit(Graph& g, Node* n, int64_t opset) {
  if (int64_t r = drop_zero_bias(n, opset)) return r;
  auto k = neutral_input(*n);
  if (!k) return 0;
  Value* in = n->input(*k);
  Value* out = n->output(0);
  const Type& ti = in->type();
  const Type& to = out->type();
  if (!ti.is_tensor() || ti.elem_type == DataType::kUndefined) return 0;
  if (to.known() && (!to.is_tensor() || to.elem_type != ti.elem_type)) return 0;
  // The output keeps its name when it is a graph output (replace_value renames the producer's
  // value, refusing graph inputs and other outputs).
  if (!replace_value(g, out, in)) return 0;
  g.remove_node(n);
  return 1;
}

}  // namespace

PassResult RemoveNeutralElements::run(Model& model, const PassOptions&) {
  const int64_t opset = model.opset_version();
  return rewrite_model(model, [opset](Graph& g, Node* n) { return visit(g, n, opset); });
}

}  // namespace irforge::passes
