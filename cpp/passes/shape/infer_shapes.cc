#include "passes/shape/infer_shapes.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <unordered_map>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

using Dims = std::vector<Dim>;

struct Info {
  DataType type = DataType::kUndefined;
  std::optional<Dims> shape;
};

std::optional<Info> info_of(const Value* v) {
  if (!v) return std::nullopt;
  const Type& t = v->type();
  if (t.kind != Type::Kind::kTensor) return std::nullopt;
  return Info{t.elem_type, t.shape};
}

bool same_dim(const Dim& a, const Dim& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == Dim::Kind::kValue) return a.value == b.value;
  if (a.kind == Dim::Kind::kParam) return a.param == b.param;
  return false;
}

Dim unknown() { return Dim{}; }

// The named dim for min(p, n) — what x[:p] of a static axis of size n >= 1 has (rotary tables
// sliced to the sequence length). Broadcasting it with p always gives p in a valid run: equal
// when p <= n, and otherwise n must be 1.
Dim min_dim(const std::string& p, int64_t n) { return Dim::symbol("min(" + p + "," + std::to_string(n) + ")"); }
bool is_min_of(const Dim& m, const Dim& p) {
  if (m.kind != Dim::Kind::kParam || p.kind != Dim::Kind::kParam) return false;
  const std::string prefix = "min(" + p.param + ",";
  return m.param.compare(0, prefix.size(), prefix) == 0;
}

// numpy broadcasting of two dims; unknown when it cannot be decided statically.
Dim broadcast_dim(const Dim& a, const Dim& b) {
  if (a.is_static() && a.value == 1) return b;
  if (b.is_static() && b.value == 1) return a;
  if (same_dim(a, b)) return a;
  if (is_min_of(b, a)) return a;
  if (is_min_of(a, b)) return b;
  if (a.is_static() && !b.is_static()) return a;
  if (b.is_static() && !a.is_static()) return b;
  return unknown();
}

std::optional<Dims> broadcast(const std::vector<std::optional<Dims>>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) {
    if (!s) return std::nullopt;
    rank = std::max(rank, s->size());
  }
  Dims out(rank, Dim::of(1));
  for (const auto& s : shapes)
    for (size_t i = 0; i < s->size(); ++i) {
      size_t k = rank - s->size() + i;
      out[k] = broadcast_dim(out[k], (*s)[i]);
    }
  return out;
}

int64_t norm(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

// Symbolic contents of small 1-D/scalar int64 tensors that hold shapes (Shape → Gather →
// Concat → Reshape chains): each element a static value, a named symbol or unknown.
using ShapeValues = std::unordered_map<const Value*, Dims>;

struct Ctx {
  const Node& n;
  std::vector<std::optional<Info>> in;
  std::vector<Info> out;
  int64_t opset;
  ShapeValues& values;
  std::optional<Dims> out_value;  // symbolic content of output 0, when it is a shape tensor

  Ctx(const Node& node, int64_t op, ShapeValues& vals) : n(node), out(node.num_outputs()), opset(op), values(vals) {
    for (Value* v : node.inputs()) in.push_back(info_of(v));
  }
  // The content of input i as dims: from a constant, or from the propagated shape values.
  std::optional<Dims> content(size_t i) const {
    if (i >= n.inputs().size() || !n.input(i)) return std::nullopt;
    auto it = values.find(n.input(i));
    if (it != values.end()) return it->second;
    Dims d;
    if (auto k = constant_ints(n.input(i))) {
      for (int64_t v : *k) d.push_back(Dim::of(v));
      return d;
    }
    // Bool and other integer constants (masks and conditions on shape values), when small.
    const Tensor* t = constant_of(n.input(i));
    if (!t || t->element_count() > 64 || (t->dtype() != DataType::kBool && t->dtype() != DataType::kInt8 &&
                                          t->dtype() != DataType::kUint8 && t->dtype() != DataType::kInt16 &&
                                          t->dtype() != DataType::kUint16 && t->dtype() != DataType::kUint32))
      return std::nullopt;
    auto k = tensor_as_doubles(*t);
    if (!k) return std::nullopt;
    for (double v : *k) d.push_back(Dim::of(static_cast<int64_t>(v)));
    return d;
  }
  bool has(size_t i) const { return i < in.size() && in[i].has_value(); }
  const std::optional<Dims>& shape(size_t i) const {
    static const std::optional<Dims> none;
    return has(i) ? in[i]->shape : none;
  }
  DataType type(size_t i) const { return has(i) ? in[i]->type : DataType::kUndefined; }
  std::optional<std::vector<int64_t>> ints(size_t i) const { return i < n.inputs().size() ? constant_ints(n.input(i)) : std::nullopt; }
  void set(size_t k, DataType t, std::optional<Dims> s) {
    if (k < out.size()) out[k] = Info{t, std::move(s)};
  }
};

using Rule = std::function<void(Ctx&)>;

void same_as_input(Ctx& c) {
  if (c.has(0)) c.set(0, c.type(0), c.shape(0));
}

void elementwise(Ctx& c, DataType out_type) {
  std::vector<std::optional<Dims>> shapes;
  for (size_t i = 0; i < c.in.size(); ++i) shapes.push_back(c.shape(i));
  c.set(0, out_type, broadcast(shapes));
}

void matmul(Ctx& c) {
  auto a = c.shape(0), b = c.shape(1);
  if (!a || !b || a->empty() || b->empty()) {
    c.set(0, c.type(0), std::nullopt);
    return;
  }
  Dims A = *a, B = *b;
  bool a1 = A.size() == 1, b1 = B.size() == 1;
  if (a1) A.insert(A.begin(), Dim::of(1));
  if (b1) B.push_back(Dim::of(1));
  Dims batch_a(A.begin(), A.end() - 2), batch_b(B.begin(), B.end() - 2);
  auto batch = broadcast({batch_a, batch_b});
  Dims out = *batch;
  if (!a1) out.push_back(A[A.size() - 2]);
  if (!b1) out.push_back(B.back());
  c.set(0, c.type(0), out);
}

void gemm(Ctx& c) {
  auto a = c.shape(0), b = c.shape(1);
  if (!a || !b || a->size() != 2 || b->size() != 2) return c.set(0, c.type(0), std::nullopt);
  Dim m = c.n.attr_int("transA", 0) ? (*a)[1] : (*a)[0];
  Dim n = c.n.attr_int("transB", 0) ? (*b)[0] : (*b)[1];
  c.set(0, c.type(0), Dims{m, n});
}

void transpose(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), std::nullopt);
  std::vector<int64_t> perm = c.n.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = static_cast<int64_t>(s->size()) - 1; i >= 0; --i) perm.push_back(i);
  if (perm.size() != s->size()) return;
  Dims out;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(s->size())) return;
    out.push_back((*s)[p]);
  }
  c.set(0, c.type(0), out);
}

void reshape(Ctx& c) {
  auto target = c.content(1);
  if (!target) {
    auto ts = c.shape(1);  // rank is known from the target's length
    if (ts && ts->size() == 1 && (*ts)[0].is_static()) return c.set(0, c.type(0), Dims((*ts)[0].value, unknown()));
    return c.set(0, c.type(0), std::nullopt);
  }
  auto s = c.shape(0);
  bool allowzero = c.n.attr_int("allowzero", 0) != 0;
  Dims out;
  int infer = -1;
  for (size_t i = 0; i < target->size(); ++i) {
    const Dim& t = (*target)[i];
    if (t.is_static() && t.value == 0 && !allowzero) {
      out.push_back(s && i < s->size() ? (*s)[i] : unknown());
    } else if (t.is_static() && t.value == -1) {
      infer = static_cast<int>(i);
      out.push_back(unknown());
    } else {
      out.push_back(t);
    }
  }
  if (infer >= 0 && s) {
    // The -1 dim is static when every other dim and the input are static, or symbolic when the
    // input's only non-static dim reappears as is (e.g. [batch, 12, 64] -> [batch, -1]).
    int64_t in_static = 1, out_static = 1;
    std::vector<Dim> in_sym, out_sym;
    for (const Dim& d : *s) {
      if (d.is_static()) in_static *= d.value;
      else in_sym.push_back(d);
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (static_cast<int>(i) == infer) continue;
      if (out[i].is_static()) out_static *= out[i].value;
      else out_sym.push_back(out[i]);
    }
    bool all_known = true;
    for (const Dim& d : in_sym) all_known &= d.kind == Dim::Kind::kParam;
    for (const Dim& d : out_sym) all_known &= d.kind == Dim::Kind::kParam;
    if (all_known && out_static != 0 && in_static % out_static == 0) {
      // Cancel symbols present on both sides.
      std::vector<Dim> rest = in_sym;
      bool ok = true;
      for (const Dim& d : out_sym) {
        auto it = std::find_if(rest.begin(), rest.end(), [&](const Dim& x) { return same_dim(x, d); });
        if (it == rest.end()) { ok = false; break; }
        rest.erase(it);
      }
      if (ok && rest.empty()) out[infer] = Dim::of(in_static / out_static);
      else if (ok && rest.size() == 1 && in_static == out_static) out[infer] = rest[0];
    }
  }
  c.set(0, c.type(0), out);
}

void flatten(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), Dims{unknown(), unknown()});
  int64_t axis = norm(c.n.attr_int("axis", 1), static_cast<int64_t>(s->size()));
  auto product = [&](size_t b, size_t e) {
    if (e - b == 1) return (*s)[b];
    int64_t p = 1;
    for (size_t i = b; i < e; ++i) {
      if (!(*s)[i].is_static()) return unknown();
      p *= (*s)[i].value;
    }
    return Dim::of(p);
  };
  c.set(0, c.type(0), Dims{product(0, axis), product(axis, s->size())});
}

std::optional<std::vector<int64_t>> axes_of(Ctx& c, size_t input, int64_t attr_until_opset) {
  if (c.opset < attr_until_opset) {
    if (!c.n.attr("axes")) return std::vector<int64_t>{};
    return c.n.attr_ints("axes");
  }
  if (input >= c.n.inputs().size() || !c.n.input(input)) return std::vector<int64_t>{};
  return c.ints(input);
}

void unsqueeze(Ctx& c) {
  auto s = c.shape(0);
  auto axes = axes_of(c, 1, 13);
  if (!s || !axes) return c.set(0, c.type(0), std::nullopt);
  int64_t rank = static_cast<int64_t>(s->size() + axes->size());
  std::vector<bool> is_new(rank, false);
  for (int64_t a : *axes) {
    a = norm(a, rank);
    if (a < 0 || a >= rank) return;
    is_new[a] = true;
  }
  Dims out;
  size_t k = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(is_new[i] ? Dim::of(1) : (*s)[k++]);
  c.set(0, c.type(0), out);
}

void squeeze(Ctx& c) {
  auto s = c.shape(0);
  auto axes = axes_of(c, 1, 13);
  if (!s || !axes) return c.set(0, c.type(0), std::nullopt);
  int64_t rank = static_cast<int64_t>(s->size());
  std::vector<bool> drop(rank, false);
  if (axes->empty()) {
    for (int64_t i = 0; i < rank; ++i) {
      if (!(*s)[i].is_static()) return c.set(0, c.type(0), std::nullopt);
      drop[i] = (*s)[i].value == 1;
    }
  }
  for (int64_t a : *axes) {
    a = norm(a, rank);
    if (a < 0 || a >= rank) return;
    drop[a] = true;
  }
  Dims out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[i]) out.push_back((*s)[i]);
  c.set(0, c.type(0), out);
}

void concat(Ctx& c) {
  std::optional<Dims> out;
  int64_t axis = c.n.attr_int("axis", 0);
  for (size_t i = 0; i < c.in.size(); ++i) {
    auto s = c.shape(i);
    if (!s) return c.set(0, c.type(0), std::nullopt);
    int64_t a = norm(axis, static_cast<int64_t>(s->size()));
    if (a < 0 || a >= static_cast<int64_t>(s->size())) return;
    if (!out) {
      out = *s;
      continue;
    }
    if (out->size() != s->size()) return;
    Dim& d = (*out)[a];
    const Dim& e = (*s)[a];
    d = d.is_static() && e.is_static() ? Dim::of(d.value + e.value) : unknown();
    for (size_t k = 0; k < s->size(); ++k)
      if (static_cast<int64_t>(k) != a && !(*out)[k].is_static() && (*s)[k].is_static()) (*out)[k] = (*s)[k];
  }
  c.set(0, c.type(0), out);
}

void gather(Ctx& c) {
  auto data = c.shape(0), idx = c.shape(1);
  if (!data || !idx) return c.set(0, c.type(0), std::nullopt);
  int64_t axis = norm(c.n.attr_int("axis", 0), static_cast<int64_t>(data->size()));
  if (axis < 0 || axis >= static_cast<int64_t>(data->size())) return;
  Dims out(data->begin(), data->begin() + axis);
  out.insert(out.end(), idx->begin(), idx->end());
  out.insert(out.end(), data->begin() + axis + 1, data->end());
  c.set(0, c.type(0), out);
}

void shape_op(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, DataType::kInt64, Dims{unknown()});
  int64_t rank = static_cast<int64_t>(s->size());
  int64_t start = norm(c.n.attr_int("start", 0), rank), end = norm(c.n.attr_int("end", rank), rank);
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  c.set(0, DataType::kInt64, Dims{Dim::of(std::max<int64_t>(0, end - start))});
}

void reduce(Ctx& c) {
  auto s = c.shape(0);
  bool keep = c.n.attr_int("keepdims", 1) != 0;
  int64_t attr_until = c.n.op_type() == "ReduceSum" ? 13 : 18;
  auto axes = axes_of(c, 1, attr_until);
  if (!s || !axes) return c.set(0, c.type(0), std::nullopt);
  int64_t rank = static_cast<int64_t>(s->size());
  std::vector<bool> red(rank, axes->empty() && !c.n.attr_int("noop_with_empty_axes", 0));
  for (int64_t a : *axes) {
    a = norm(a, rank);
    if (a < 0 || a >= rank) return;
    red[a] = true;
  }
  Dims out;
  for (int64_t i = 0; i < rank; ++i) {
    if (!red[i]) out.push_back((*s)[i]);
    else if (keep) out.push_back(Dim::of(1));
  }
  c.set(0, c.type(0), out);
}

void expand(Ctx& c) {
  auto target = c.content(1);
  if (!target) return c.set(0, c.type(0), std::nullopt);
  c.set(0, c.type(0), broadcast({c.shape(0), *target}));
}

void constant_of_shape(Ctx& c) {
  auto target = c.content(0);
  const Attribute* value = c.n.attr("value");
  DataType t = value && value->t ? value->t->dtype() : DataType::kFloat;
  c.set(0, t, target);
}

// ---- symbolic shape values --------------------------------------------------------------------

// Computes the content of output 0 for ops that move shape values around.
void propagate_value(Ctx& c) {
  const std::string& op = c.n.op_type();
  auto in0 = c.content(0);
  if (op == "Shape") {
    auto s = c.shape(0);
    if (!s) return;
    int64_t rank = static_cast<int64_t>(s->size());
    int64_t b = std::clamp<int64_t>(norm(c.n.attr_int("start", 0), rank), 0, rank);
    int64_t e = std::clamp<int64_t>(norm(c.n.attr_int("end", rank), rank), 0, rank);
    c.out_value = b < e ? Dims(s->begin() + b, s->begin() + e) : Dims{};
  } else if (!in0) {
    return;
  } else if (op == "Cast" || op == "Identity" || op == "Squeeze" || op == "Unsqueeze") {
    // Dims fit int32 and int64 alike (exporters cast shape values to int32 and back).
    int64_t to = c.n.attr_int("to", 0);
    if (op == "Cast" && to != static_cast<int64_t>(DataType::kInt64) && to != static_cast<int64_t>(DataType::kInt32)) return;
    c.out_value = in0;
  } else if (op == "Reshape") {
    // Flattening a shape value to 1-D (or a 1-element one to a scalar) keeps its elements.
    auto target = c.ints(1);
    if (!target || target->size() > 1) return;
    if (target->size() == 1 && (*target)[0] != -1 && (*target)[0] != static_cast<int64_t>(in0->size())) return;
    if (target->empty() && in0->size() != 1) return;
    c.out_value = in0;
  } else if (op == "Equal") {
    // Shape values compared with a constant, as exporters do for expand(-1): a named dim is
    // never negative, so it differs from a negative constant.
    auto in1 = c.content(1);
    if (!in1 || (in0->size() != in1->size() && in0->size() != 1 && in1->size() != 1)) return;
    size_t n = std::max(in0->size(), in1->size());
    Dims out;
    for (size_t i = 0; i < n; ++i) {
      const Dim& a = (*in0)[in0->size() == 1 ? 0 : i];
      const Dim& b = (*in1)[in1->size() == 1 ? 0 : i];
      if (a.is_static() && b.is_static()) out.push_back(Dim::of(a.value == b.value));
      else if (same_dim(a, b)) out.push_back(Dim::of(1));
      else if ((a.kind == Dim::Kind::kParam && b.is_static() && b.value < 0) || (b.kind == Dim::Kind::kParam && a.is_static() && a.value < 0))
        out.push_back(Dim::of(0));
      else out.push_back(unknown());
    }
    c.out_value = out;
  } else if (op == "Where") {
    auto a = c.content(1), b = c.content(2);
    if (!a || !b) return;
    size_t n = std::max({in0->size(), a->size(), b->size()});
    for (const Dims* d : {&*in0, &*a, &*b})
      if (d->size() != n && d->size() != 1) return;
    Dims out;
    for (size_t i = 0; i < n; ++i) {
      const Dim& cond = (*in0)[in0->size() == 1 ? 0 : i];
      if (!cond.is_static()) return;
      const Dims& pick = cond.value ? *a : *b;
      out.push_back(pick[pick.size() == 1 ? 0 : i]);
    }
    c.out_value = out;
  } else if (op == "Gather") {
    auto idx = c.ints(1);
    if (!idx || c.n.attr_int("axis", 0) != 0) return;
    Dims out;
    for (int64_t i : *idx) {
      i = norm(i, static_cast<int64_t>(in0->size()));
      if (i < 0 || i >= static_cast<int64_t>(in0->size())) return;
      out.push_back((*in0)[i]);
    }
    c.out_value = out;
  } else if (op == "Concat") {
    Dims out;
    for (size_t i = 0; i < c.n.inputs().size(); ++i) {
      auto part = c.content(i);
      if (!part) return;
      out.insert(out.end(), part->begin(), part->end());
    }
    c.out_value = out;
  } else if (op == "Slice" && c.opset >= 10) {
    auto b = c.ints(1), e = c.ints(2);
    if (!b || !e || b->size() != 1 || e->size() != 1) return;
    if (c.n.inputs().size() > 4 && c.n.input(4)) {
      auto st = c.ints(4);
      if (!st || st->size() != 1 || (*st)[0] != 1) return;
    }
    int64_t n = static_cast<int64_t>(in0->size());
    int64_t lo = std::clamp<int64_t>(norm((*b)[0], n), 0, n), hi = std::clamp<int64_t>((*e)[0] < 0 ? (*e)[0] + n : (*e)[0], 0, n);
    c.out_value = lo < hi ? Dims(in0->begin() + lo, in0->begin() + hi) : Dims{};
  } else if (op == "Mul" || op == "Add" || op == "Sub" || op == "Div") {
    auto in1 = c.content(1);
    if (!in1 || (in0->size() != in1->size() && in0->size() != 1 && in1->size() != 1)) return;
    size_t n = std::max(in0->size(), in1->size());
    Dims out;
    for (size_t i = 0; i < n; ++i) {
      const Dim& a = (*in0)[in0->size() == 1 ? 0 : i];
      const Dim& b = (*in1)[in1->size() == 1 ? 0 : i];
      if (a.is_static() && b.is_static()) {
        int64_t v = 0;
        bool overflow = op == "Mul"   ? __builtin_mul_overflow(a.value, b.value, &v)
                        : op == "Add" ? __builtin_add_overflow(a.value, b.value, &v)
                        : op == "Sub" ? __builtin_sub_overflow(a.value, b.value, &v)
                                      : (b.value == 0 || (b.value == -1 && a.value == INT64_MIN));
        if (op == "Div" && !overflow) v = a.value / b.value;
        if (overflow) return;  // hostile values: leave the shape content unknown
        out.push_back(Dim::of(v));
      } else if ((op == "Mul" || op == "Div") && b.is_static() && b.value == 1) {
        out.push_back(a);
      } else if (op == "Mul" && a.is_static() && a.value == 1) {
        out.push_back(b);
      } else if ((op == "Add" || op == "Sub") && b.is_static() && b.value == 0) {
        out.push_back(a);
      } else {
        out.push_back(unknown());
      }
    }
    c.out_value = out;
  }
}

void constant(Ctx& c) {
  const Tensor* t = constant_of(c.n.output(0));
  if (!t) return;
  Dims out;
  for (int64_t d : t->dims()) out.push_back(Dim::of(d));
  c.set(0, t->dtype(), out);
}

void cast(Ctx& c) { c.set(0, static_cast<DataType>(c.n.attr_int("to", 0)), c.shape(0)); }

// Spatial output size of convolution/pooling when the input and attributes are static.
void window(Ctx& c, bool is_conv) {
  auto s = c.shape(0);
  if (!s || s->size() < 3) return c.set(0, c.type(0), std::nullopt);
  size_t spatial = s->size() - 2;
  std::vector<int64_t> kernel = c.n.attr_ints("kernel_shape");
  Dim channels = (*s)[1];
  if (is_conv) {
    auto w = c.shape(1);
    if (!w || w->size() != s->size()) return c.set(0, c.type(0), std::nullopt);
    channels = (*w)[0];
    if (kernel.empty())
      for (size_t i = 2; i < w->size(); ++i) {
        if (!(*w)[i].is_static()) return c.set(0, c.type(0), std::nullopt);
        kernel.push_back((*w)[i].value);
      }
  }
  if (kernel.size() != spatial) return c.set(0, c.type(0), std::nullopt);
  std::vector<int64_t> strides = c.n.attr_ints("strides"), dil = c.n.attr_ints("dilations"), pads = c.n.attr_ints("pads");
  strides.resize(spatial, 1);
  dil.resize(spatial, 1);
  pads.resize(2 * spatial, 0);
  std::string auto_pad = c.n.attr_string("auto_pad", "NOTSET");
  bool ceil = c.n.attr_int("ceil_mode", 0) != 0;
  Dims out{(*s)[0], channels};
  for (size_t i = 0; i < spatial; ++i) {
    const Dim& d = (*s)[i + 2];
    if (!d.is_static()) {
      out.push_back(unknown());
      continue;
    }
    int64_t in = d.value, k = (kernel[i] - 1) * dil[i] + 1, st = strides[i];
    int64_t o;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") o = (in + st - 1) / st;
    else if (auto_pad == "VALID") o = (in - k) / st + 1;
    else {
      int64_t span = in + pads[i] + pads[i + spatial] - k;
      o = (ceil ? (span + st - 1) / st : span / st) + 1;
      if (ceil && (o - 1) * st >= in + pads[i]) --o;  // the last window must start inside the input
    }
    out.push_back(Dim::of(o));
  }
  c.set(0, c.type(0), out);
}

void global_pool(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), std::nullopt);
  Dims out(s->begin(), s->begin() + std::min<size_t>(2, s->size()));
  for (size_t i = 2; i < s->size(); ++i) out.push_back(Dim::of(1));
  c.set(0, c.type(0), out);
}

// Pad: each padded dim grows by its begin + end pads (pads from the attribute before opset 11,
// else input 1, on the axes of input 3 when given); with run-time pads only the rank is kept.
void pad(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), std::nullopt);
  const int64_t rank = static_cast<int64_t>(s->size());
  std::optional<std::vector<int64_t>> pads = c.n.attr("pads") ? std::optional(c.n.attr_ints("pads")) : c.ints(1);
  std::optional<std::vector<int64_t>> axes;
  if (c.n.inputs().size() > 3 && c.n.input(3)) axes = c.ints(3);
  else if (pads) {
    axes = std::vector<int64_t>();
    for (int64_t i = 0; i < rank; ++i) axes->push_back(i);
  }
  Dims out = *s;
  if (!pads || !axes || pads->size() != 2 * axes->size()) {
    for (Dim& d : out) d = unknown();
    return c.set(0, c.type(0), out);
  }
  for (size_t k = 0; k < axes->size(); ++k) {
    int64_t a = norm((*axes)[k], rank);
    if (a < 0 || a >= rank) return;
    int64_t grow = (*pads)[k] + (*pads)[k + axes->size()];
    if (grow == 0) continue;
    const Dim& d = (*s)[a];
    out[a] = d.is_static() && d.value + grow >= 0 ? Dim::of(d.value + grow) : unknown();
  }
  c.set(0, c.type(0), out);
}

void slice(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), std::nullopt);
  std::optional<std::vector<int64_t>> starts, ends, axes, steps;
  if (c.opset < 10) {
    starts = c.n.attr_ints("starts");
    ends = c.n.attr_ints("ends");
    axes = c.n.attr_ints("axes");
  } else {
    starts = c.ints(1);
    ends = c.ints(2);
    axes = c.n.inputs().size() > 3 && c.n.input(3) ? c.ints(3) : std::vector<int64_t>{};
    steps = c.n.inputs().size() > 4 && c.n.input(4) ? c.ints(4) : std::vector<int64_t>{};
  }
  int64_t rank = static_cast<int64_t>(s->size());
  if (c.opset >= 10 && starts && !ends && axes && steps && starts->size() == 1) {
    // x[:p] along one axis, p a named dim (a computed end): min(p, n) for a static size n >= 1.
    auto end = c.content(2);
    int64_t a = axes->empty() ? 0 : norm((*axes)[0], rank);
    bool unit = steps->empty() || (steps->size() == 1 && (*steps)[0] == 1);
    if (end && end->size() == 1 && (*end)[0].kind == Dim::Kind::kParam && (*starts)[0] == 0 && unit && axes->size() <= 1 &&
        a >= 0 && a < rank && (*s)[a].is_static() && (*s)[a].value >= 1) {
      Dims out = *s;
      out[a] = min_dim((*end)[0].param, (*s)[a].value);
      return c.set(0, c.type(0), out);
    }
  }
  if (!starts || !ends || !axes || (steps == std::nullopt && c.opset >= 10)) {
    // Bounds known only at run time: the rank stays, the sliced dims become unknown.
    Dims out = *s;
    for (size_t i = 0; i < out.size(); ++i) {
      bool sliced = !axes || axes->empty() ||
                    std::any_of(axes->begin(), axes->end(), [&](int64_t a) { return norm(a, rank) == static_cast<int64_t>(i); });
      if (sliced) out[i] = unknown();
    }
    return c.set(0, c.type(0), out);
  }
  if (axes->empty())
    for (size_t i = 0; i < starts->size(); ++i) axes->push_back(static_cast<int64_t>(i));
  if (!steps || steps->empty()) steps = std::vector<int64_t>(starts->size(), 1);
  if (axes->size() != starts->size() || ends->size() != starts->size() || steps->size() != starts->size()) return;
  Dims out = *s;
  for (size_t i = 0; i < axes->size(); ++i) {
    int64_t a = norm((*axes)[i], rank);
    if (a < 0 || a >= rank) return;
    const Dim& d = (*s)[a];
    int64_t st = (*steps)[i];
    if (st == 0) return;
    if (!d.is_static()) {
      // Slicing everything of a symbolic dim keeps it.
      if ((*starts)[i] == 0 && st == 1 && (*ends)[i] >= (int64_t{1} << 31)) continue;
      out[a] = unknown();
      continue;
    }
    int64_t n = d.value, b = (*starts)[i], e = (*ends)[i];
    if (b < 0) b += n;
    if (e < 0) e += n;
    if (st > 0) {
      b = std::clamp<int64_t>(b, 0, n);
      e = std::clamp<int64_t>(e, 0, n);
      out[a] = Dim::of(e > b ? (e - b + st - 1) / st : 0);
    } else {
      b = std::clamp<int64_t>(b, -1, n - 1);
      e = std::clamp<int64_t>(e, -1, n - 1);
      out[a] = Dim::of(b > e ? (b - e + (-st) - 1) / (-st) : 0);
    }
  }
  c.set(0, c.type(0), out);
}

void split(Ctx& c) {
  auto s = c.shape(0);
  size_t n = c.n.num_outputs();
  if (!s) {
    for (size_t k = 0; k < n; ++k) c.set(k, c.type(0), std::nullopt);
    return;
  }
  int64_t axis = norm(c.n.attr_int("axis", 0), static_cast<int64_t>(s->size()));
  if (axis < 0 || axis >= static_cast<int64_t>(s->size())) return;
  std::optional<std::vector<int64_t>> sizes;
  bool runtime_sizes = false;  // split sizes given but only known at run time
  if (c.opset < 13 && c.n.attr("split")) sizes = c.n.attr_ints("split");
  else if (c.n.inputs().size() > 1 && c.n.input(1)) {
    sizes = c.ints(1);
    runtime_sizes = !sizes;
  }
  for (size_t k = 0; k < n; ++k) {
    Dims out = *s;
    if (sizes && sizes->size() == n) out[axis] = Dim::of((*sizes)[k]);
    else if ((*s)[axis].is_static() && !sizes && !runtime_sizes) {
      int64_t total = (*s)[axis].value, chunk = (total + static_cast<int64_t>(n) - 1) / static_cast<int64_t>(n);
      out[axis] = Dim::of(std::max<int64_t>(0, std::min(chunk, total - chunk * static_cast<int64_t>(k))));
    } else out[axis] = unknown();
    c.set(k, c.type(0), out);
  }
}

void layer_norm(Ctx& c) {
  same_as_input(c);
  auto s = c.shape(0);
  if (!s) return;
  int64_t axis = norm(c.n.attr_int("axis", -1), static_cast<int64_t>(s->size()));
  Dims stat(s->begin(), s->begin() + std::clamp<int64_t>(axis, 0, s->size()));
  stat.resize(s->size(), Dim::of(1));
  DataType st = static_cast<DataType>(c.n.attr_int("stash_type", 1));
  for (size_t k = 1; k < c.n.num_outputs() && k < 3; ++k) c.set(k, st, stat);
}

const std::map<std::string, Rule>& rules() {
  static const std::map<std::string, Rule> kRules = [] {
    std::map<std::string, Rule> r;
    for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Neg", "Erf", "Floor", "Ceil", "Identity",
                           "Softmax", "LogSoftmax", "Gelu", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "HardSwish", "Clip",
                           "Sin", "Cos", "Tan", "Reciprocal", "Round", "Sign", "Not", "Softplus", "Softsign", "Mish",
                           "BatchNormalization", "InstanceNormalization", "LRN", "PRelu", "Dropout", "CumSum",
                           "MeanVarianceNormalization", "LpNormalization", "Hardmax", "Celu", "ThresholdedRelu",
                           "RMSNormalization", "GroupNormalization", "Trilu", "Swish"})
      r[op] = same_as_input;
    for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "BitShift"})
      r[op] = [](Ctx& c) { elementwise(c, c.type(0)); };
    for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"})
      r[op] = [](Ctx& c) { elementwise(c, DataType::kBool); };
    r["IsNaN"] = r["IsInf"] = [](Ctx& c) { c.set(0, DataType::kBool, c.shape(0)); };
    r["Where"] = [](Ctx& c) { elementwise(c, c.type(1)); };
    r["MatMul"] = matmul;
    r["Gemm"] = gemm;
    r["Transpose"] = transpose;
    r["Reshape"] = reshape;
    r["Flatten"] = flatten;
    r["Unsqueeze"] = unsqueeze;
    r["Squeeze"] = squeeze;
    r["Concat"] = concat;
    r["Gather"] = gather;
    r["Shape"] = shape_op;
    r["Size"] = [](Ctx& c) { c.set(0, DataType::kInt64, Dims{}); };
    for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
      r[op] = reduce;
    r["Expand"] = expand;
    r["ConstantOfShape"] = constant_of_shape;
    r["Constant"] = constant;
    r["Cast"] = cast;
    r["CastLike"] = [](Ctx& c) { c.set(0, c.type(1), c.shape(0)); };
    r["Conv"] = [](Ctx& c) { window(c, true); };
    for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) r[op] = [](Ctx& c) { window(c, false); };
    r["GlobalAveragePool"] = r["GlobalMaxPool"] = r["GlobalLpPool"] = global_pool;
    r["Slice"] = slice;
    r["Pad"] = pad;
    r["Split"] = split;
    r["LayerNormalization"] = layer_norm;
    r["Attention"] = [](Ctx& c) {
      // 4-D: Y [B, Hq, S, Ev] from Q [B, Hq, S, E] and V [B, Hkv, L, Ev].
      auto q = c.shape(0), v = c.shape(2);
      if (q && v && q->size() == 4 && v->size() == 4) c.set(0, c.type(0), Dims{(*q)[0], (*q)[1], (*q)[2], (*v)[3]});
    };
    r["Range"] = [](Ctx& c) {
      // Range(0, n, 1) has n elements (a static or symbolic size); other static ranges are counted.
      auto start = c.content(0), limit = c.content(1), delta = c.content(2);
      Dim len = unknown();
      if (start && limit && delta && start->size() == 1 && limit->size() == 1 && delta->size() == 1) {
        const Dim &s = (*start)[0], &l = (*limit)[0], &d = (*delta)[0];
        if (s.is_static() && l.is_static() && d.is_static() && d.value != 0) {
          // In 128 bits: limit - start overflows int64 for hostile constants.
          __int128 diff = static_cast<__int128>(l.value) - s.value, step = d.value, n = 0;
          if (step > 0 && diff > 0) n = (diff + step - 1) / step;
          if (step < 0 && diff < 0) n = (-diff - step - 1) / -step;
          if (n <= (static_cast<__int128>(1) << 62)) len = Dim::of(static_cast<int64_t>(n));
        } else if (s.is_static() && s.value == 0 && d.is_static() && d.value == 1 && l.kind == Dim::Kind::kParam) {
          len = l;
        }
      }
      c.set(0, c.type(0), Dims{len});
    };
    r["NonZero"] = [](Ctx& c) {
      auto s = c.shape(0);
      c.set(0, DataType::kInt64, s ? std::optional<Dims>(Dims{Dim::of(static_cast<int64_t>(s->size())), unknown()}) : std::nullopt);
    };
    return r;
  }();
  return kRules;
}

// Merges an inferred type into a value: fills what is missing, keeps what is stated.
bool refine(Value* v, const Info& inferred) {
  Type& t = v->type();
  if (t.kind != Type::Kind::kNone && t.kind != Type::Kind::kTensor) return false;
  bool changed = false;
  if (t.kind == Type::Kind::kNone) {
    if (inferred.type == DataType::kUndefined) return false;
    t.kind = Type::Kind::kTensor;
    changed = true;
  }
  if (t.elem_type == DataType::kUndefined && inferred.type != DataType::kUndefined) {
    t.elem_type = inferred.type;
    changed = true;
  }
  if (!inferred.shape) return changed;
  if (!t.shape) {
    t.shape = inferred.shape;
    return true;
  }
  if (t.shape->size() != inferred.shape->size()) return changed;  // conflicting rank: keep stated
  for (size_t i = 0; i < t.shape->size(); ++i) {
    Dim& d = (*t.shape)[i];
    const Dim& e = (*inferred.shape)[i];
    if (d.kind == Dim::Kind::kUnknown && e.kind != Dim::Kind::kUnknown) {
      d = e;
      changed = true;
    } else if (d.kind == Dim::Kind::kParam && e.is_static()) {
      d = e;
      changed = true;
    }
  }
  return changed;
}

int64_t infer(Graph& g, const Model& m, ShapeValues& values) {
  int64_t changed = 0;
  for (const auto& up : g.nodes()) {
    Node& n = *up;
    for (Graph* sub : n.subgraphs()) changed += infer(*sub, m, values);
    if (!n.domain().empty()) continue;
    auto it = rules().find(n.op_type());
    if (it == rules().end()) continue;
    Ctx c(n, m.opset_version(""), values);
    it->second(c);
    propagate_value(c);
    if (c.out_value && n.num_outputs() > 0 && c.out_value->size() <= 64) values[n.output(0)] = *c.out_value;
    for (size_t k = 0; k < n.num_outputs(); ++k) {
      Value* v = n.output(k);
      if (v->name().empty()) continue;
      if (c.out[k].type == DataType::kUndefined && !c.out[k].shape) continue;
      if (refine(v, c.out[k])) ++changed;
    }
  }
  return changed;
}

}  // namespace

std::unordered_map<const Value*, std::vector<Dim>> infer_shape_values(Model& model, int64_t* refined) {
  ShapeValues values;
  int64_t n = infer(*model.graph, model, values);
  if (refined) *refined = n;
  return values;
}

PassResult InferShapes::run(Model& model, const PassOptions&) {
  PassResult r;
  ShapeValues values;
  r.rewrites = infer(*model.graph, model, values);
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
