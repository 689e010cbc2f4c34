#include "passes/shape/infer_shapes.h"

#include "io/onnx/reader.h"
#include "ir/validate_ops.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <unordered_map>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "passes/util.h"
#include "support/error.h"

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

// A dim whose size is known: static and not negative (a stated -1 means "unknown").
bool known(const Dim& d) { return d.is_static() && d.value >= 0; }

std::string dims_text(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s += ",";
    s += d[i].is_static() ? std::to_string(d[i].value) : d[i].kind == Dim::Kind::kParam ? d[i].param : "?";
  }
  return s + "]";
}

std::string ints_text(const std::vector<int64_t>& v) {
  Dims d;
  for (int64_t x : v) d.push_back(Dim::of(x));
  return dims_text(d);
}

struct Ctx {
  const Node& n;
  std::vector<std::optional<Info>> in;
  std::vector<Info> out;
  int64_t opset;
  ShapeValues& values;
  std::optional<Dims> out_value;  // symbolic content of output 0, when it is a shape tensor
  const std::string& source;      // the model's file, for messages
  size_t index;                   // the node's position in its graph, for messages
  bool in_subgraph = false;       // an If branch or loop body: the node may never run
  struct NotInferred {};

  Ctx(const Node& node, int64_t op, ShapeValues& vals, const std::string& src, size_t idx)
      : n(node), out(node.num_outputs()), opset(op), values(vals), source(src), index(idx) {
    for (Value* v : node.inputs()) in.push_back(info_of(v));
  }
  // Refuses the model: what the node asks cannot be computed (shapes are statically known here).
  // Inside a subgraph the node may never run (the other branch of an If whose condition is a
  // run-time shape test, as ONNX's own function expansions do), so there the node's outputs are
  // only left unknown.
  [[noreturn]] void invalid(const std::string& rule) const {
    if (in_subgraph) throw NotInferred{};
    fail_invalid((source.empty() ? std::string("model") : source) + ": node #" + std::to_string(index) + " '" + n.name() +
                 "' (" + n.op_type() + "): " + rule);
  }
  // The dims of input i when its rank is known, for messages.
  std::string shape_text(size_t i) const { return shape(i) ? dims_text(*shape(i)) : "?"; }
  // `axis` of a tensor of `rank` in [0, rank); refuses one outside [-rank, rank).
  int64_t axis(int64_t a, int64_t rank, const char* what = "axis") const {
    if (a < -rank || a >= rank)
      invalid(std::string(what) + " " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    return a < 0 ? a + rank : a;
  }
  // Normalized, distinct axes; refuses out-of-range and repeated ones.
  std::vector<int64_t> distinct_axes(const std::vector<int64_t>& axes, int64_t rank, const char* what = "axes") const {
    std::vector<int64_t> out;
    for (int64_t a : axes) {
      int64_t k = axis(a, rank, what);
      if (std::find(out.begin(), out.end(), k) != out.end()) invalid(std::string(what) + " " + ints_text(axes) + " repeat axis " + std::to_string(k));
      out.push_back(k);
    }
    return out;
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

// Refuses shapes that cannot broadcast: two known sizes, neither 1, on one aligned axis.
void check_broadcast(const Ctx& c, const std::vector<std::optional<Dims>>& shapes, const std::string& what) {
  size_t rank = 0;
  for (const auto& s : shapes)
    if (s) rank = std::max(rank, s->size());
  for (size_t k = 1; k <= rank; ++k) {
    const Dim* seen = nullptr;
    for (const auto& s : shapes) {
      if (!s || s->size() < k) continue;
      const Dim& d = (*s)[s->size() - k];
      if (!known(d) || d.value == 1) continue;
      if (seen && seen->value != d.value) {
        std::string list;
        for (const auto& t : shapes) list += (list.empty() ? "" : " and ") + (t ? dims_text(*t) : std::string("?"));
        c.invalid(what + " " + list + " do not broadcast (" + std::to_string(seen->value) + " vs " + std::to_string(d.value) + ")");
      }
      seen = &d;
    }
  }
}

void elementwise(Ctx& c, DataType out_type) {
  std::vector<std::optional<Dims>> shapes;
  for (size_t i = 0; i < c.in.size(); ++i) shapes.push_back(c.shape(i));
  check_broadcast(c, shapes, "input shapes");
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
  const Dim &ka = A.back(), &kb = B[B.size() - 2];
  if (known(ka) && known(kb) && ka.value != kb.value)
    c.invalid("inner dimensions differ: " + c.shape_text(0) + " x " + c.shape_text(1) + " (" + std::to_string(ka.value) + " vs " +
              std::to_string(kb.value) + ")");
  Dims batch_a(A.begin(), A.end() - 2), batch_b(B.begin(), B.end() - 2);
  check_broadcast(c, {batch_a, batch_b}, "batch dimensions");
  auto batch = broadcast({batch_a, batch_b});
  Dims out = *batch;
  if (!a1) out.push_back(A[A.size() - 2]);
  if (!b1) out.push_back(B.back());
  c.set(0, c.type(0), out);
}

void gemm(Ctx& c) {
  auto a = c.shape(0), b = c.shape(1);
  for (size_t i = 0; i < 2; ++i)
    if (c.shape(i) && c.shape(i)->size() != 2) c.invalid("input " + std::to_string(i) + " has shape " + c.shape_text(i) + "; Gemm takes 2-D inputs");
  if (!a || !b) return c.set(0, c.type(0), std::nullopt);
  bool ta = c.n.attr_int("transA", 0) != 0, tb = c.n.attr_int("transB", 0) != 0;
  Dim m = ta ? (*a)[1] : (*a)[0], ka = ta ? (*a)[0] : (*a)[1];
  Dim n = tb ? (*b)[0] : (*b)[1], kb = tb ? (*b)[1] : (*b)[0];
  if (known(ka) && known(kb) && ka.value != kb.value)
    c.invalid("inner dimensions differ: A " + c.shape_text(0) + (ta ? " (transposed)" : "") + ", B " + c.shape_text(1) +
              (tb ? " (transposed)" : "") + " (" + std::to_string(ka.value) + " vs " + std::to_string(kb.value) + ")");
  // C broadcasts one way, to [M, N].
  if (auto cs = c.shape(2)) {
    if (cs->size() > 2) c.invalid("C has shape " + dims_text(*cs) + "; it must broadcast to [M, N]");
    Dims mn{m, n};
    for (size_t k = 1; k <= cs->size(); ++k) {
      const Dim &d = (*cs)[cs->size() - k], &t = mn[2 - k];
      if (known(d) && d.value != 1 && known(t) && d.value != t.value)
        c.invalid("C has shape " + dims_text(*cs) + ", which does not broadcast to the output " + dims_text(mn));
    }
  }
  c.set(0, c.type(0), Dims{m, n});
}

void transpose(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), std::nullopt);
  std::vector<int64_t> perm = c.n.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = static_cast<int64_t>(s->size()) - 1; i >= 0; --i) perm.push_back(i);
  if (perm.size() != s->size()) c.invalid("perm " + ints_text(perm) + " has " + std::to_string(perm.size()) + " entries for an input of rank " + std::to_string(s->size()));
  Dims out;
  std::vector<bool> seen(s->size(), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(s->size()) || seen[p])
      c.invalid("perm " + ints_text(perm) + " is not a permutation of 0.." + std::to_string(s->size() - 1));
    seen[p] = true;
    out.push_back((*s)[p]);
  }
  c.set(0, c.type(0), out);
}

void reshape(Ctx& c) {
  auto target = c.content(1);
  if (!target) {
    auto ts = c.shape(1);  // rank is known from the target's length
    if (ts && ts->size() == 1 && (*ts)[0].is_static()) {
      // The reader's rank limit: a target of more elements describes no tensor irforge accepts.
      if ((*ts)[0].value > ReadLimits{}.max_rank)
        c.invalid("the shape input has " + std::to_string((*ts)[0].value) + " elements, more dims than the " +
                  std::to_string(ReadLimits{}.max_rank) + " a tensor may have");
      // A declared negative length (fuzz_pipeline: std::length_error sizing the output dims).
      if ((*ts)[0].value < 0) c.invalid("the shape input is declared with a negative length " + std::to_string((*ts)[0].value));
      return c.set(0, c.type(0), Dims((*ts)[0].value, unknown()));
    }
    return c.set(0, c.type(0), std::nullopt);
  }
  auto s = c.shape(0);
  bool allowzero = c.n.attr_int("allowzero", 0) != 0;
  Dims out;
  int infer = -1;
  const std::string target_text = dims_text(*target);
  for (size_t i = 0; i < target->size(); ++i) {
    const Dim& t = (*target)[i];
    if (t.is_static() && t.value == 0 && !allowzero) {
      // 0 copies the input's dim at the same index, which must exist.
      if (s && i >= s->size())
        c.invalid("shape " + target_text + " copies input dim " + std::to_string(i) + " (a 0) but the input " + c.shape_text(0) + " has rank " + std::to_string(s->size()));
      out.push_back(s && i < s->size() ? (*s)[i] : unknown());
    } else if (t.is_static() && t.value == -1) {
      if (infer >= 0) c.invalid("shape " + target_text + " has more than one -1");
      infer = static_cast<int>(i);
      out.push_back(unknown());
    } else {
      if (t.is_static() && t.value < -1) c.invalid("shape " + target_text + " has the negative dim " + std::to_string(t.value));
      out.push_back(t);
    }
  }
  if (allowzero && infer >= 0)
    for (const Dim& t : *target)
      if (t.is_static() && t.value == 0) c.invalid("shape " + target_text + " has both 0 and -1 with allowzero=1");
  // With every size known, the element counts must agree (and -1 must come out whole).
  if (s) {
    uint64_t in_count = 1, out_count = 1;
    bool in_known = true, out_known = true, overflow = false;
    for (const Dim& d : *s) {
      if (!known(d)) in_known = false;
      else overflow |= __builtin_mul_overflow(in_count, static_cast<uint64_t>(d.value), &in_count);
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (static_cast<int>(i) == infer) continue;
      if (!known(out[i])) out_known = false;
      else overflow |= __builtin_mul_overflow(out_count, static_cast<uint64_t>(out[i].value), &out_count);
    }
    if (in_known && out_known && !overflow) {
      if (infer < 0 && in_count != out_count)
        c.invalid("cannot reshape " + c.shape_text(0) + " (" + std::to_string(in_count) + " elements) to " + target_text + " (" +
                  std::to_string(out_count) + " elements)");
      if (infer >= 0 && (out_count == 0 ? in_count != 0 : in_count % out_count != 0))
        c.invalid("cannot reshape " + c.shape_text(0) + " (" + std::to_string(in_count) + " elements) to " + target_text +
                  ": the other dims multiply to " + std::to_string(out_count) + ", which does not divide it");
    }
  }
  if (infer >= 0 && s) {
    // The -1 dim is static when every other dim and the input are static, or symbolic when the
    // input's only non-static dim reappears as is (e.g. [batch, 12, 64] -> [batch, -1]).
    int64_t in_static = 1, out_static = 1;
    std::vector<Dim> in_sym, out_sym;
    bool all_known = true;
    for (const Dim& d : *s) {
      if (d.is_static()) all_known &= d.value >= 0 && !__builtin_mul_overflow(in_static, d.value, &in_static);
      else in_sym.push_back(d);
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (static_cast<int>(i) == infer) continue;
      if (out[i].is_static()) all_known &= out[i].value >= 0 && !__builtin_mul_overflow(out_static, out[i].value, &out_static);
      else out_sym.push_back(out[i]);
    }
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
  int64_t rank = static_cast<int64_t>(s->size()), axis = c.n.attr_int("axis", 1);
  if (axis < -rank || axis > rank) c.invalid("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  axis = norm(axis, rank);
  auto product = [&](size_t b, size_t e) {
    if (e - b == 1) return (*s)[b];
    int64_t p = 1;
    for (size_t i = b; i < e; ++i)
      if (!known((*s)[i]) || __builtin_mul_overflow(p, (*s)[i].value, &p)) return unknown();
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
  for (int64_t a : c.distinct_axes(*axes, rank)) is_new[a] = true;
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
  for (int64_t a : c.distinct_axes(*axes, rank)) {
    if (known((*s)[a]) && (*s)[a].value != 1)
      c.invalid("axis " + std::to_string(a) + " of " + c.shape_text(0) + " has size " + std::to_string((*s)[a].value) + ", not 1");
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
    if (!s) continue;  // checked against the others, the output stays unknown
    int64_t a = c.axis(axis, static_cast<int64_t>(s->size()));
    if (!out) {
      out = *s;
      continue;
    }
    if (out->size() != s->size())
      c.invalid("input " + std::to_string(i) + " has shape " + dims_text(*s) + ", of another rank than " + c.shape_text(0));
    Dim& d = (*out)[a];
    const Dim& e = (*s)[a];
    d = known(d) && known(e) ? Dim::of(d.value + e.value) : unknown();
    for (size_t k = 0; k < s->size(); ++k) {
      if (static_cast<int64_t>(k) == a) continue;
      if (known((*out)[k]) && known((*s)[k]) && (*out)[k].value != (*s)[k].value)
        c.invalid("input " + std::to_string(i) + " has shape " + dims_text(*s) + ", which differs from " + dims_text(*out) +
                  " on axis " + std::to_string(k) + " (only the concat axis " + std::to_string(a) + " may differ)");
      if (!(*out)[k].is_static() && (*s)[k].is_static()) (*out)[k] = (*s)[k];
    }
  }
  for (size_t i = 0; i < c.in.size(); ++i)
    if (!c.shape(i)) return c.set(0, c.type(0), std::nullopt);
  c.set(0, c.type(0), out);
}

void gather(Ctx& c) {
  auto data = c.shape(0), idx = c.shape(1);
  if (!data) return c.set(0, c.type(0), std::nullopt);
  int64_t axis = c.axis(c.n.attr_int("axis", 0), static_cast<int64_t>(data->size()));
  if (known((*data)[axis]))
    if (auto idx_values = c.ints(1)) {
      int64_t n = (*data)[axis].value;
      for (int64_t i : *idx_values)
        if (i < -n || i >= n)
          c.invalid("index " + std::to_string(i) + " is out of range for axis " + std::to_string(axis) + " of " + c.shape_text(0));
    }
  if (!idx) return c.set(0, c.type(0), std::nullopt);
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
  for (int64_t a : *axes) red[c.axis(a, rank)] = true;
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
  for (const Dim& d : *target)
    if (d.is_static() && d.value < 0) c.invalid("shape " + dims_text(*target) + " has the negative dim " + std::to_string(d.value));
  check_broadcast(c, {c.shape(0), *target}, "the input and the shape");
  c.set(0, c.type(0), broadcast({c.shape(0), *target}));
}

void constant_of_shape(Ctx& c) {
  auto target = c.content(0);
  if (target)
    for (const Dim& d : *target)
      if (d.is_static() && d.value < 0) c.invalid("shape " + dims_text(*target) + " has the negative dim " + std::to_string(d.value));
  const Attribute* value = c.n.attr("value");
  DataType t = value && value->t ? value->t->dtype() : DataType::kFloat;
  c.set(0, t, target);
}

// ---- symbolic shape values --------------------------------------------------------------------

// Element count of two 1-D shape values broadcast together: an empty one against a
// one-element one is empty (nullopt when they do not broadcast).
std::optional<size_t> broadcast_length(size_t a, size_t b) {
  if (a == b || b == 1) return a;
  if (a == 1) return b;
  return std::nullopt;
}

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
    if (!in1) return;
    auto length = broadcast_length(in0->size(), in1->size());
    if (!length) return;
    size_t n = *length;
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
    if (!in1) return;
    auto length = broadcast_length(in0->size(), in1->size());
    if (!length) return;
    size_t n = *length;
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
  } else if (op == "ReduceProd" && c.type(0) != DataType::kBool) {
    // The element count of some dims (tf2onnx's Dense flattens to [prod(leading dims), K]): one
    // element, static when all are; unknown otherwise, which still lets a Concat around it have
    // content ([?, 32] becomes the Reshape target [-1, 32]). Only a whole 1-D value reduced.
    auto axes = c.opset >= 18 ? c.ints(1) : std::optional<std::vector<int64_t>>(c.n.attr_ints("axes"));
    if (axes && !(axes->empty() || (axes->size() == 1 && ((*axes)[0] == 0 || (*axes)[0] == -1)))) return;
    if (c.opset >= 18 && !axes && c.n.inputs().size() > 1 && c.n.input(1)) return;
    if ((!axes || axes->empty()) && c.n.attr_int("noop_with_empty_axes", 0) != 0) return;
    Dim product = Dim::of(1);
    for (const Dim& d : *in0) {
      int64_t v = 0;
      if (!product.is_static() || !d.is_static() || __builtin_mul_overflow(product.value, d.value, &v)) {
        product = unknown();
        break;
      }
      product = Dim::of(v);
    }
    c.out_value = Dims{product};
  }
}

void constant(Ctx& c) {
  const Tensor* t = constant_of(c.n.output(0));
  if (!t) return;
  Dims out;
  for (int64_t d : t->dims()) out.push_back(Dim::of(d));
  c.set(0, t->dtype(), out);
}

void cast(Ctx& c) {
  int64_t to = c.n.attr_int("to", 0);
  if (to <= 0 || to > kMaxDataType || !is_known_dtype(static_cast<int32_t>(to)))
    c.invalid("'to' = " + std::to_string(to) + " is not an ONNX element type");
  c.set(0, static_cast<DataType>(to), c.shape(0));
}

// The output size of a window (conv/pool) on a symbolic input size p, named by its arithmetic so
// that equal sizes compare equal: two convolutions with the same kernel, stride, dilation and
// padding on the same dim give the same name (a Shape of either then is a Shape of both), and
// a size-keeping window (stride 1, pads = kernel - 1) keeps p. Ceil mode with a stride is left
// unknown (its last-window correction depends on the value). Attributes are checked by the caller.
Dim window_dim(const std::string& p, int64_t kernel, int64_t stride, int64_t dil, int64_t pads, const std::string& auto_pad, bool ceil) {
  if (kernel < 1 || stride < 1 || dil < 1 || pads < 0 || kernel > (1 << 20) || dil > (1 << 20) || pads > (1 << 20)) return unknown();
  // Each window nests the name once: past this length (hundreds of unpadded convs on a dynamic
  // size) the dim stays unknown rather than the names growing with the depth.
  if (p.size() > 256) return unknown();
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")
    return stride == 1 ? Dim::symbol(p) : Dim::symbol("ceil(" + p + "/" + std::to_string(stride) + ")");
  // o = floor((p + off) / stride) + 1, off = pads - window span
  const int64_t off = (auto_pad == "VALID" ? 0 : pads) - ((kernel - 1) * dil + 1);
  if (stride == 1) {
    if (off + 1 == 0) return Dim::symbol(p);
    return Dim::symbol("(" + p + (off + 1 > 0 ? "+" : "") + std::to_string(off + 1) + ")");
  }
  if (ceil) return unknown();
  std::string sum = off == 0 ? p : p + (off > 0 ? "+" : "") + std::to_string(off);
  return Dim::symbol("floor((" + sum + ")/" + std::to_string(stride) + ")+1");
}

// Spatial output size of convolution/pooling when the input and attributes are static. Refuses
// attributes that cannot describe a window (zero strides, dilations or kernels, lists of the wrong
// length), weights that do not match the input's channels and groups, and windows larger than the
// padded input.
void window(Ctx& c, bool is_conv) {
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), std::nullopt);
  if (s->size() < 3) c.invalid("input has shape " + c.shape_text(0) + "; it needs a batch, a channel and at least one spatial axis");
  size_t spatial = s->size() - 2;
  const std::string rank_text = std::to_string(spatial) + " spatial axes";
  std::vector<int64_t> kernel = c.n.attr_ints("kernel_shape");
  Dim channels = (*s)[1];
  if (is_conv) {
    int64_t group = c.n.attr_int("group", 1);
    if (group < 1) c.invalid("group " + std::to_string(group) + " must be at least 1");
    auto w = c.shape(1);
    if (w && w->size() != s->size()) c.invalid("weights have shape " + c.shape_text(1) + ", of another rank than the input " + c.shape_text(0));
    if (w) {
      const Dim &m = (*w)[0], &wc = (*w)[1], &xc = (*s)[1];
      if (known(m) && m.value % group != 0)
        c.invalid("group " + std::to_string(group) + " does not divide the " + std::to_string(m.value) + " output channels of weights " + c.shape_text(1));
      if (known(xc) && xc.value % group != 0)
        c.invalid("group " + std::to_string(group) + " does not divide the " + std::to_string(xc.value) + " input channels of " + c.shape_text(0));
      if (known(xc) && known(wc) && wc.value * group != xc.value)
        c.invalid("weights " + c.shape_text(1) + " take " + std::to_string(wc.value) + " x group " + std::to_string(group) +
                  " input channels, the input " + c.shape_text(0) + " has " + std::to_string(xc.value));
      if (!kernel.empty() && kernel.size() == spatial)
        for (size_t i = 0; i < spatial; ++i)
          if (known((*w)[i + 2]) && (*w)[i + 2].value != kernel[i])
            c.invalid("kernel_shape " + ints_text(kernel) + " differs from the weights' spatial dims " + c.shape_text(1));
      if (auto b = c.shape(2); b && known(m) && (b->size() != 1 || (known((*b)[0]) && (*b)[0].value != m.value)))
        c.invalid("bias has shape " + dims_text(*b) + "; it must be [" + std::to_string(m.value) + "], one per output channel");
    }
    if (!w) return c.set(0, c.type(0), std::nullopt);
    channels = (*w)[0];
    if (kernel.empty())
      for (size_t i = 2; i < w->size(); ++i) {
        if (!(*w)[i].is_static()) return c.set(0, c.type(0), std::nullopt);
        kernel.push_back((*w)[i].value);
      }
  }
  if (kernel.size() != spatial) c.invalid("kernel_shape " + ints_text(kernel) + " does not have " + rank_text);
  std::vector<int64_t> strides = c.n.attr_ints("strides"), dil = c.n.attr_ints("dilations"), pads = c.n.attr_ints("pads");
  auto check = [&](const std::vector<int64_t>& v, size_t count, const char* what, int64_t min) {
    if (!v.empty() && v.size() != count) c.invalid(std::string(what) + " " + ints_text(v) + " does not have " + std::to_string(count) + " values for " + rank_text);
    for (int64_t x : v)
      if (x < min) c.invalid(std::string(what) + " " + ints_text(v) + " has " + std::to_string(x) + "; each must be at least " + std::to_string(min));
  };
  check(kernel, spatial, "kernel_shape", 1);
  check(strides, spatial, "strides", 1);
  check(dil, spatial, "dilations", 1);
  check(pads, 2 * spatial, "pads", 0);
  strides.resize(spatial, 1);
  dil.resize(spatial, 1);
  pads.resize(2 * spatial, 0);
  std::string auto_pad = c.n.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" && auto_pad != "VALID")
    c.invalid("auto_pad '" + auto_pad + "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  if (!is_conv && auto_pad == "NOTSET" && c.n.op_type() != "LpPool")
    for (size_t i = 0; i < spatial; ++i)
      if (pads[i] >= kernel[i] || pads[i + spatial] >= kernel[i])
        c.invalid("pads " + ints_text(pads) + " must be smaller than kernel_shape " + ints_text(kernel));
  bool ceil = c.n.attr_int("ceil_mode", 0) != 0;
  Dims out{(*s)[0], channels};
  for (size_t i = 0; i < spatial; ++i) {
    const Dim& d = (*s)[i + 2];
    if (!known(d)) {
      out.push_back(d.kind == Dim::Kind::kParam ? window_dim(d.param, kernel[i], strides[i], dil[i], pads[i] + pads[i + spatial], auto_pad, ceil)
                                                : unknown());
      continue;
    }
    // In 128 bits: hostile kernels, dilations and pads overflow int64.
    __int128 in = d.value, k = static_cast<__int128>(kernel[i] - 1) * dil[i] + 1, st = strides[i];
    __int128 o;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") o = (in + st - 1) / st;
    else {
      __int128 span = in - k;
      if (auto_pad != "VALID") span += static_cast<__int128>(pads[i]) + pads[i + spatial];
      if (span < 0)
        c.invalid("the window (kernel " + std::to_string(kernel[i]) + ", dilation " + std::to_string(dil[i]) + ") is larger than the " +
                  (auto_pad == "VALID" ? "" : "padded ") + "input on spatial axis " + std::to_string(i) + " of " + c.shape_text(0));
      o = (ceil ? (span + st - 1) / st : span / st) + 1;
      if (ceil && auto_pad != "VALID" && (o - 1) * st >= in + pads[i]) --o;  // the last window must start inside the input
    }
    if (o > (static_cast<__int128>(1) << 62)) return c.set(0, c.type(0), std::nullopt);
    out.push_back(Dim::of(static_cast<int64_t>(o)));
  }
  c.set(0, c.type(0), out);
}

void global_pool(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), std::nullopt);
  if (s->size() < 3) c.invalid("input has shape " + c.shape_text(0) + "; it needs a batch, a channel and at least one spatial axis");
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
  if (axes) c.distinct_axes(*axes, rank);
  if (pads && axes && pads->size() != 2 * axes->size())
    c.invalid("pads " + ints_text(*pads) + " has " + std::to_string(pads->size()) + " values; it needs 2 x " + std::to_string(axes->size()) +
              " (begin and end per padded axis)");
  if (!pads || !axes) {
    for (Dim& d : out) d = unknown();
    return c.set(0, c.type(0), out);
  }
  for (size_t k = 0; k < axes->size(); ++k) {
    int64_t a = norm((*axes)[k], rank);
    __int128 grow = static_cast<__int128>((*pads)[k]) + (*pads)[k + axes->size()];
    if (grow == 0) continue;
    const Dim& d = (*s)[a];
    if (known(d) && d.value + grow < 0)
      c.invalid("pads " + ints_text(*pads) + " remove more than the " + std::to_string(d.value) + " elements of axis " + std::to_string(a) + " of " + c.shape_text(0));
    out[a] = known(d) && d.value + grow <= (static_cast<__int128>(1) << 62) ? Dim::of(static_cast<int64_t>(d.value + grow)) : unknown();
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
  if (axes->size() != starts->size() || ends->size() != starts->size() || steps->size() != starts->size())
    c.invalid("starts " + ints_text(*starts) + ", ends " + ints_text(*ends) + ", axes " + ints_text(*axes) + " and steps " + ints_text(*steps) +
              " differ in length");
  c.distinct_axes(*axes, rank);
  Dims out = *s;
  for (size_t i = 0; i < axes->size(); ++i) {
    int64_t a = norm((*axes)[i], rank);
    const Dim& d = (*s)[a];
    int64_t st = (*steps)[i];
    if (st == 0) c.invalid("steps " + ints_text(*steps) + " has a 0 step");
    if (st == INT64_MIN) c.invalid("step " + std::to_string(st) + " cannot be negated");
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
  int64_t axis = c.axis(c.n.attr_int("axis", 0), static_cast<int64_t>(s->size()));
  std::optional<std::vector<int64_t>> sizes;
  bool runtime_sizes = false;  // split sizes given but only known at run time
  if (c.opset < 13 && c.n.attr("split")) sizes = c.n.attr_ints("split");
  else if (c.n.inputs().size() > 1 && c.n.input(1)) {
    sizes = c.ints(1);
    runtime_sizes = !sizes;
  }
  if (c.n.attr("num_outputs") && c.opset >= 18 && c.n.attr_int("num_outputs", 0) != static_cast<int64_t>(n))
    c.invalid("num_outputs " + std::to_string(c.n.attr_int("num_outputs", 0)) + " differs from the node's " + std::to_string(n) + " outputs");
  const Dim& whole = (*s)[axis];
  if (sizes) {
    if (sizes->size() != n)
      c.invalid("split " + ints_text(*sizes) + " has " + std::to_string(sizes->size()) + " sizes for " + std::to_string(n) + " outputs");
    __int128 sum = 0;
    for (int64_t v : *sizes) {
      if (v < 0) c.invalid("split " + ints_text(*sizes) + " has the negative size " + std::to_string(v));
      sum += v;
    }
    if (known(whole) && sum != whole.value)
      c.invalid("split " + ints_text(*sizes) + " does not add up to the " + std::to_string(whole.value) + " elements of axis " + std::to_string(axis) +
                " of " + c.shape_text(0));
  } else if (!runtime_sizes && known(whole) && static_cast<int64_t>(n) > whole.value && whole.value > 0) {
    c.invalid(std::to_string(n) + " outputs cannot split the " + std::to_string(whole.value) + " elements of axis " + std::to_string(axis) + " of " +
              c.shape_text(0));
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
  int64_t axis = c.axis(c.n.attr_int("axis", -1), static_cast<int64_t>(s->size()));
  Dims stat(s->begin(), s->begin() + std::clamp<int64_t>(axis, 0, s->size()));
  stat.resize(s->size(), Dim::of(1));
  DataType st = static_cast<DataType>(c.n.attr_int("stash_type", 1));
  for (size_t k = 1; k < c.n.num_outputs() && k < 3; ++k) c.set(k, st, stat);
}

// Integer division by zero is undefined in ONNX and traps (SIGFPE) in the runtimes' kernels:
// refused when the divisor is a constant holding a 0.
void check_integer_divisor(const Ctx& c) {
  DataType t = c.type(0);
  if (t == DataType::kUndefined || is_float_dtype(t)) return;
  auto d = c.ints(1);
  if (!d) return;
  for (int64_t v : *d)
    if (v == 0) c.invalid("the integer divisor holds a 0 (integer division by zero is undefined)");
}

// ---- checks of ops whose output is their input's shape ------------------------------------------

// Per-channel parameters (inputs first..last) must be 1-D with one value per channel (or per
// `groups` when given).
void check_channel_params(const Ctx& c, size_t first, size_t last, int64_t per = 0) {
  auto s = c.shape(0);
  if (!s || s->size() < 2) {
    if (s) c.invalid("input has shape " + c.shape_text(0) + "; it needs a channel axis (axis 1)");
    return;
  }
  const Dim& ch = (*s)[1];
  int64_t want = per ? per : (known(ch) ? ch.value : -1);
  if (want < 0) return;
  for (size_t i = first; i <= last; ++i) {
    auto p = c.shape(i);
    if (!p) continue;
    if (p->size() != 1 || (known((*p)[0]) && (*p)[0].value != want))
      c.invalid("input " + std::to_string(i) + " has shape " + dims_text(*p) + "; it must be [" + std::to_string(want) + "] for the input " + c.shape_text(0));
  }
}

void check_axis_attr(const Ctx& c, const char* name, int64_t dflt) {
  if (auto s = c.shape(0)) c.axis(c.n.attr_int(name, dflt), static_cast<int64_t>(s->size()));
}

void batch_norm(Ctx& c) {
  check_channel_params(c, 1, 4);
  same_as_input(c);
}

void instance_norm(Ctx& c) {
  check_channel_params(c, 1, 2);
  same_as_input(c);
}

void group_norm(Ctx& c) {
  int64_t groups = c.n.attr_int("num_groups", 0);
  if (groups < 1) c.invalid("num_groups " + std::to_string(groups) + " must be at least 1");
  auto s = c.shape(0);
  if (s && s->size() >= 2 && known((*s)[1]) && (*s)[1].value % groups != 0)
    c.invalid("num_groups " + std::to_string(groups) + " does not divide the " + std::to_string((*s)[1].value) + " channels of " + c.shape_text(0));
  // Scale and bias: one per group before opset 21, one per channel since.
  check_channel_params(c, 1, 2, c.opset < 21 ? groups : 0);
  same_as_input(c);
}

void prelu(Ctx& c) {
  // The slope broadcasts to the input, one way.
  auto s = c.shape(0), slope = c.shape(1);
  if (s && slope) {
    if (slope->size() > s->size()) c.invalid("slope " + dims_text(*slope) + " has a higher rank than the input " + c.shape_text(0));
    for (size_t k = 1; k <= slope->size(); ++k) {
      const Dim &d = (*slope)[slope->size() - k], &t = (*s)[s->size() - k];
      if (known(d) && d.value != 1 && known(t) && d.value != t.value)
        c.invalid("slope " + dims_text(*slope) + " does not broadcast to the input " + c.shape_text(0));
    }
  }
  same_as_input(c);
}

void softmax_like(Ctx& c) {
  check_axis_attr(c, "axis", c.opset < 13 ? 1 : -1);
  same_as_input(c);
}

void cumsum(Ctx& c) {
  auto a = c.ints(1);
  if (a && a->size() == 1) {
    if (auto s = c.shape(0)) c.axis((*a)[0], static_cast<int64_t>(s->size()));
  }
  same_as_input(c);
}

void lrn(Ctx& c) {
  int64_t size = c.n.attr_int("size", 0);
  if (size < 1) c.invalid("size " + std::to_string(size) + " must be at least 1");
  same_as_input(c);
}

void arg_reduce(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return c.set(0, DataType::kInt64, std::nullopt);
  int64_t a = c.axis(c.n.attr_int("axis", 0), static_cast<int64_t>(s->size()));
  Dims out = *s;
  if (c.n.attr_int("keepdims", 1)) out[a] = Dim::of(1);
  else out.erase(out.begin() + a);
  c.set(0, DataType::kInt64, out);
}

void tile(Ctx& c) {
  auto s = c.shape(0);
  auto reps = c.ints(1);
  if (!s || !reps) return c.set(0, c.type(0), s ? std::optional<Dims>(Dims(s->size(), unknown())) : std::nullopt);
  if (reps->size() != s->size())
    c.invalid("repeats " + ints_text(*reps) + " has " + std::to_string(reps->size()) + " values for an input of rank " + std::to_string(s->size()));
  Dims out;
  for (size_t i = 0; i < reps->size(); ++i) {
    int64_t r = (*reps)[i];
    if (r < 0) c.invalid("repeats " + ints_text(*reps) + " has the negative count " + std::to_string(r));
    const Dim& d = (*s)[i];
    int64_t v = 0;
    if (r == 1) out.push_back(d);
    else if (known(d) && !__builtin_mul_overflow(d.value, r, &v) && v <= (int64_t{1} << 62)) out.push_back(Dim::of(v));
    else out.push_back(unknown());
  }
  c.set(0, c.type(0), out);
}

void depth_to_space(Ctx& c, bool to_space) {
  int64_t b = c.n.attr_int("blocksize", 0);
  if (b < 1) c.invalid("blocksize " + std::to_string(b) + " must be at least 1");
  auto s = c.shape(0);
  if (!s) return c.set(0, c.type(0), std::nullopt);
  if (s->size() != 4) c.invalid("input has shape " + c.shape_text(0) + "; it must be 4-D [N, C, H, W]");
  int64_t bb = 0;
  if (__builtin_mul_overflow(b, b, &bb)) c.invalid("blocksize " + std::to_string(b) + " is too large");
  Dims out = *s;
  const Dim &ch = (*s)[1], &h = (*s)[2], &w = (*s)[3];
  if (to_space) {
    if (known(ch) && ch.value % bb != 0)
      c.invalid("blocksize " + std::to_string(b) + " squared does not divide the " + std::to_string(ch.value) + " channels of " + c.shape_text(0));
    out[1] = known(ch) ? Dim::of(ch.value / bb) : unknown();
    int64_t v;
    out[2] = known(h) && !__builtin_mul_overflow(h.value, b, &v) ? Dim::of(v) : unknown();
    out[3] = known(w) && !__builtin_mul_overflow(w.value, b, &v) ? Dim::of(v) : unknown();
  } else {
    for (const Dim* d : {&h, &w})
      if (known(*d) && d->value % b != 0)
        c.invalid("blocksize " + std::to_string(b) + " does not divide the spatial dims of " + c.shape_text(0));
    int64_t v;
    out[1] = known(ch) && !__builtin_mul_overflow(ch.value, bb, &v) ? Dim::of(v) : unknown();
    out[2] = known(h) ? Dim::of(h.value / b) : unknown();
    out[3] = known(w) ? Dim::of(w.value / b) : unknown();
  }
  c.set(0, c.type(0), out);
}

void topk(Ctx& c) {
  auto s = c.shape(0);
  if (!s) return;
  int64_t a = c.axis(c.n.attr_int("axis", -1), static_cast<int64_t>(s->size()));
  std::optional<std::vector<int64_t>> k = c.opset < 10 ? std::optional(std::vector<int64_t>{c.n.attr_int("k", 0)}) : c.ints(1);
  Dims out = *s;
  out[a] = unknown();
  if (k && k->size() == 1) {
    int64_t kv = (*k)[0];
    if (kv < 0) c.invalid("k = " + std::to_string(kv) + " is negative");
    if (known((*s)[a]) && kv > (*s)[a].value)
      c.invalid("k = " + std::to_string(kv) + " is larger than the " + std::to_string((*s)[a].value) + " elements of axis " + std::to_string(a) + " of " + c.shape_text(0));
    out[a] = Dim::of(kv);
  }
  c.set(0, c.type(0), out);
  c.set(1, DataType::kInt64, out);
}

void gather_elements(Ctx& c) {
  auto s = c.shape(0), idx = c.shape(1);
  if (s && idx && s->size() != idx->size())
    c.invalid("indices have shape " + c.shape_text(1) + ", of another rank than the data " + c.shape_text(0));
  if (!s) return c.set(0, c.type(0), idx);
  int64_t a = c.axis(c.n.attr_int("axis", 0), static_cast<int64_t>(s->size()));
  if (auto values = c.ints(1); values && known((*s)[a])) {
    int64_t n = (*s)[a].value;
    for (int64_t i : *values)
      if (i < -n || i >= n) c.invalid("index " + std::to_string(i) + " is out of range for axis " + std::to_string(a) + " of " + c.shape_text(0));
  }
  c.set(0, c.type(0), idx);
}

void resize(Ctx& c) {
  auto s = c.shape(0);
  if (!s || c.opset < 11) return;
  bool has_axes = c.n.attr("axes") != nullptr;
  size_t want = has_axes ? c.n.attr_ints("axes").size() : s->size();
  for (size_t i : {size_t{2}, size_t{3}}) {
    if (i >= c.n.inputs().size() || !c.n.input(i)) continue;
    auto p = c.shape(i);
    if (p && p->size() == 1 && known((*p)[0]) && (*p)[0].value != 0 && static_cast<size_t>((*p)[0].value) != want)
      c.invalid(std::string(i == 2 ? "scales" : "sizes") + " has " + std::to_string((*p)[0].value) + " values for " + std::to_string(want) + " axes of " + c.shape_text(0));
  }
  // The output keeps the input's rank (what later rewrites of the Conv biases and BatchNorms
  // after an FPN's upsampling need). A resized axis takes its `sizes` value when that content is
  // known (from constants or the shape values: sizes rebuilt from ShapeOf of other tensors), its
  // input dim when the scale is exactly 1, else stays unknown; keep_aspect_ratio_policy other
  // than stretch and tf_crop_and_resize change the sizes, so they leave every resized axis unknown.
  auto rank = static_cast<int64_t>(s->size());
  std::vector<int64_t> axes;
  if (has_axes) axes = c.distinct_axes(c.n.attr_ints("axes"), rank);
  else
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  bool plain = c.n.attr_string("keep_aspect_ratio_policy", "stretch") == "stretch" &&
               c.n.attr_string("coordinate_transformation_mode", "half_pixel") != "tf_crop_and_resize";
  auto sizes = c.content(3);
  if (sizes && sizes->empty()) sizes.reset();
  std::optional<std::vector<double>> scales;
  if (!sizes && c.n.inputs().size() > 2 && c.n.input(2))
    if (const Tensor* t = constant_of(c.n.input(2))) scales = tensor_as_doubles(*t);
  Dims out = *s;
  for (size_t j = 0; j < axes.size(); ++j) {
    Dim& d = out[static_cast<size_t>(axes[j])];
    if (plain && sizes && sizes->size() == axes.size()) d = (*sizes)[j];
    else if (plain && !sizes && scales && scales->size() == axes.size() && (*scales)[j] == 1.0) continue;
    else d = unknown();
  }
  c.set(0, c.type(0), out);
}

void conv_transpose(Ctx& c) {
  int64_t group = c.n.attr_int("group", 1);
  if (group < 1) c.invalid("group " + std::to_string(group) + " must be at least 1");
  auto s = c.shape(0), w = c.shape(1);
  if (s && s->size() < 3) c.invalid("input has shape " + c.shape_text(0) + "; it needs a batch, a channel and at least one spatial axis");
  if (!s) return;
  size_t spatial = s->size() - 2;
  if (w && w->size() != s->size()) c.invalid("weights have shape " + c.shape_text(1) + ", of another rank than the input " + c.shape_text(0));
  if (w && known((*w)[0]) && known((*s)[1]) && (*w)[0].value != (*s)[1].value)
    c.invalid("weights " + c.shape_text(1) + " take " + std::to_string((*w)[0].value) + " input channels, the input " + c.shape_text(0) + " has " +
              std::to_string((*s)[1].value));
  if (w && known((*w)[0]) && (*w)[0].value % group != 0)
    c.invalid("group " + std::to_string(group) + " does not divide the " + std::to_string((*w)[0].value) + " input channels of weights " + c.shape_text(1));
  for (const char* name : {"strides", "dilations", "kernel_shape"}) {
    std::vector<int64_t> v = c.n.attr_ints(name);
    if (!v.empty() && v.size() != spatial) c.invalid(std::string(name) + " " + ints_text(v) + " does not have " + std::to_string(spatial) + " values");
    for (int64_t x : v)
      if (x < 1) c.invalid(std::string(name) + " " + ints_text(v) + " has " + std::to_string(x) + "; each must be at least 1");
  }
  // The output: the batch, weights' dim 1 x group channels, and spatial dims where they are
  // static and the attributes plain (explicit or no pads, no output_shape):
  //   out = stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pad_begin - pad_end
  Dims out{(*s)[0], w && known((*w)[1]) ? Dim::of((*w)[1].value * group) : unknown()};
  std::vector<int64_t> strides = c.n.attr_ints("strides"), dil = c.n.attr_ints("dilations"), kernel = c.n.attr_ints("kernel_shape"),
                       pads = c.n.attr_ints("pads"), outpad = c.n.attr_ints("output_padding");
  bool plain = c.n.attr("output_shape") == nullptr && c.n.attr_string("auto_pad", "NOTSET") == "NOTSET" &&
               (pads.empty() || pads.size() == 2 * spatial) && (outpad.empty() || outpad.size() == spatial);
  for (size_t i = 0; i < spatial; ++i) {
    const Dim& d = (*s)[i + 2];
    int64_t k = i < kernel.size() ? kernel[i] : (w && known((*w)[i + 2]) ? (*w)[i + 2].value : -1);
    if (!plain || !known(d) || k < 1 || d.value > (int64_t{1} << 40) || k > (int64_t{1} << 20)) {
      out.push_back(unknown());
      continue;
    }
    __int128 st = strides.empty() ? 1 : strides[i], dl = dil.empty() ? 1 : dil[i];
    __int128 o = st * (d.value - 1) + (outpad.empty() ? 0 : outpad[i]) + (k - 1) * dl + 1 - (pads.empty() ? 0 : static_cast<__int128>(pads[i]) + pads[i + spatial]);
    out.push_back(o >= 1 && o < (static_cast<__int128>(1) << 40) ? Dim::of(static_cast<int64_t>(o)) : unknown());
  }
  c.set(0, c.type(0), out);
}

// Convolutions without a shape rule here: their group counts are still divided by downstream.
void group_counts(Ctx& c) {
  for (const char* name : {"group", "offset_group"})
    if (c.n.attr(name) && c.n.attr_int(name, 1) < 1) c.invalid(std::string(name) + " " + std::to_string(c.n.attr_int(name, 1)) + " must be at least 1");
}

void range(Ctx& c) {
  // Range(0, n, 1) has n elements (a static or symbolic size); other static ranges are counted.
  auto start = c.content(0), limit = c.content(1), delta = c.content(2);
  Dim len = unknown();
  if (delta && delta->size() == 1 && (*delta)[0].is_static() && (*delta)[0].value == 0 &&
      (c.type(2) == DataType::kInt64 || c.type(2) == DataType::kInt32))
    c.invalid("delta is 0: the range never reaches its limit");
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
}

void one_hot(Ctx& c) {
  auto depth = c.ints(1);
  if (depth && depth->size() == 1 && (*depth)[0] < 1)
    c.invalid("depth " + std::to_string((*depth)[0]) + " must be at least 1");
  if (auto s = c.shape(0)) c.axis(c.n.attr_int("axis", -1), static_cast<int64_t>(s->size()) + 1);
}

// Einsum: one term per input, one label per axis (an ellipsis covers the rest), output labels
// taken from the inputs, and a label's known sizes equal (or 1) wherever it appears.
void einsum(Ctx& c) {
  std::string eq;
  for (char ch : c.n.attr_string("equation", ""))
    if (ch != ' ') eq += ch;
  size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow), rhs = arrow == std::string::npos ? "" : eq.substr(arrow + 2);
  std::vector<std::string> terms;
  for (size_t b = 0;;) {
    size_t e = lhs.find(',', b);
    terms.push_back(lhs.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  const std::string quoted = "equation '" + c.n.attr_string("equation", "") + "'";
  if (terms.size() != c.n.inputs().size())
    c.invalid(quoted + " has " + std::to_string(terms.size()) + " input terms for " + std::to_string(c.n.inputs().size()) + " inputs");
  std::map<char, int64_t> size;  // known size per label (1 when only broadcast ones were seen)
  for (size_t i = 0; i < terms.size(); ++i) {
    std::string labels;
    bool ellipsis = false;
    const std::string& t = terms[i];
    for (size_t k = 0; k < t.size(); ++k) {
      if (t.compare(k, 3, "...") == 0 && !ellipsis) {
        ellipsis = true;
        k += 2;
      } else if (std::isalpha(static_cast<unsigned char>(t[k]))) {
        labels += t[k];
      } else {
        c.invalid(quoted + ": '" + std::string(1, t[k]) + "' is not a label");
      }
    }
    auto s = c.shape(i);
    if (!s) continue;
    if (ellipsis ? labels.size() > s->size() : labels.size() != s->size())
      c.invalid(quoted + ": term '" + t + "' has " + std::to_string(labels.size()) + " labels for input " + std::to_string(i) + " of shape " + c.shape_text(i));
    if (ellipsis) continue;  // sizes are compared on plain terms only
    for (size_t k = 0; k < labels.size(); ++k) {
      const Dim& d = (*s)[k];
      if (!known(d)) continue;
      auto [it, fresh] = size.emplace(labels[k], d.value);
      if (fresh || d.value == it->second || d.value == 1) continue;
      if (it->second == 1) it->second = d.value;
      else c.invalid(quoted + ": label '" + std::string(1, labels[k]) + "' has sizes " + std::to_string(it->second) + " and " + std::to_string(d.value));
    }
  }
  for (size_t k = 0; k < rhs.size(); ++k) {
    char ch = rhs[k];
    if (ch == '.') continue;
    if (!std::isalpha(static_cast<unsigned char>(ch)) || lhs.find(ch) == std::string::npos)
      c.invalid(quoted + ": output label '" + std::string(1, ch) + "' appears in no input");
  }
}

// Control flow: each branch / body has the arity the node needs (the lowering and the runtime
// pair their values by position).
void if_op(Ctx& c) {
  size_t outs = c.n.num_outputs();
  for (const char* name : {"then_branch", "else_branch"}) {
    const Attribute* a = c.n.attr(name);
    if (!a || !a->g) continue;
    if (a->g->outputs().size() != outs)
      c.invalid(std::string(name) + " has " + std::to_string(a->g->outputs().size()) + " outputs; the node has " + std::to_string(outs));
  }
  const Attribute *t = c.n.attr("then_branch"), *e = c.n.attr("else_branch");
  if (t && e && t->g && e->g && t->g->outputs().size() == outs && e->g->outputs().size() == outs)
    for (size_t k = 0; k < outs; ++k) {
      const Type &a = t->g->outputs()[k]->type(), &b = e->g->outputs()[k]->type();
      if (a.is_tensor() && b.is_tensor() && a.elem_type != DataType::kUndefined && b.elem_type != DataType::kUndefined && a.elem_type != b.elem_type)
        c.invalid("output " + std::to_string(k) + " is " + dtype_name(a.elem_type) + " in then_branch but " + dtype_name(b.elem_type) + " in else_branch");
    }
}

void loop_op(Ctx& c) {
  const Attribute* a = c.n.attr("body");
  if (!a || !a->g) return;
  size_t carried = c.n.inputs().size() >= 2 ? c.n.inputs().size() - 2 : 0;
  const Graph& body = *a->g;
  if (body.inputs().size() != carried + 2)
    c.invalid("body has " + std::to_string(body.inputs().size()) + " inputs; with " + std::to_string(carried) + " loop-carried values it needs " +
              std::to_string(carried + 2) + " (iteration, condition, values)");
  // Body outputs: the condition, the carried values, then one per scan output of the node.
  if (c.n.num_outputs() < carried || body.outputs().size() != 1 + c.n.num_outputs())
    c.invalid("body has " + std::to_string(body.outputs().size()) + " outputs; the node has " + std::to_string(carried) + " loop-carried values and " +
              std::to_string(c.n.num_outputs()) + " outputs, so it needs 1 + " + std::to_string(c.n.num_outputs()));
}

void scan_op(Ctx& c) {
  const Attribute* a = c.n.attr("body");
  if (!a || !a->g || c.opset < 9) return;
  const Graph& body = *a->g;
  if (body.inputs().size() != c.n.inputs().size())
    c.invalid("body has " + std::to_string(body.inputs().size()) + " inputs; the node has " + std::to_string(c.n.inputs().size()));
  if (body.outputs().size() != c.n.num_outputs())
    c.invalid("body has " + std::to_string(body.outputs().size()) + " outputs; the node has " + std::to_string(c.n.num_outputs()));
}

// Quantization ops, default domain and onnxruntime's com.microsoft: without their rules every
// value after a QuantizeLinear or MatMulInteger loses its shape, and the OpenVINO lowerings
// downstream fall back to run-time ShapeOf chains (QDQ MobileNetV2: 19 of them).
void quantize_linear(Ctx& c) {
  DataType t = c.has(2) ? c.type(2) : static_cast<DataType>(c.n.attr_int("output_dtype", 0));
  c.set(0, t == DataType::kUndefined ? DataType::kUint8 : t, c.shape(0));
}

void dequantize_linear(Ctx& c) {
  DataType t = static_cast<DataType>(c.n.attr_int("output_dtype", 0));
  c.set(0, t == DataType::kUndefined ? c.type(1) : t, c.shape(0));
}

// MatMul of inputs 0 and 1 with output type `t`.
void matmul_as(Ctx& c, DataType t) {
  matmul(c);
  if (!c.out.empty()) c.out[0].type = t;
}

// A convolution whose x, w (and bias) are inputs `x_w_b` of the node (QLinearConv, ConvInteger),
// with output type `t`.
void conv_on(Ctx& c, const std::vector<size_t>& x_w_b, DataType t) {
  group_counts(c);
  Ctx v = c;
  v.in.clear();
  for (size_t i : x_w_b) v.in.push_back(i < c.in.size() ? c.in[i] : std::nullopt);
  window(v, true);
  c.out = v.out;
  if (!c.out.empty() && (c.out[0].shape || c.out[0].type != DataType::kUndefined)) c.out[0].type = t;
}

// X [seq, batch, input] (layout 1: [batch, seq, input]) → Y [seq, dirs, batch, hidden] ([batch,
// seq, dirs, hidden]) and the last states Y_h (, Y_c) [dirs, batch, hidden] ([batch, dirs, hidden]).
void rnn(Ctx& c) {
  auto x = c.shape(0);
  int64_t hidden = c.n.attr_int("hidden_size", 0), layout = c.n.attr_int("layout", 0);
  if (!x || x->size() != 3 || hidden <= 0 || (layout != 0 && layout != 1)) return;
  Dim dirs = Dim::of(c.n.attr_string("direction", "forward") == "bidirectional" ? 2 : 1), h = Dim::of(hidden);
  Dim seq = (*x)[layout == 0 ? 0 : 1], batch = (*x)[layout == 0 ? 1 : 0];
  c.set(0, c.type(0), layout == 0 ? Dims{seq, dirs, batch, h} : Dims{batch, seq, dirs, h});
  for (size_t k = 1; k < c.n.num_outputs(); ++k) c.set(k, c.type(0), layout == 0 ? Dims{dirs, batch, h} : Dims{batch, dirs, h});
}

const std::map<std::string, Rule>& contrib_rules() {
  static const std::map<std::string, Rule> kRules = [] {
    std::map<std::string, Rule> r;
    r["QuantizeLinear"] = quantize_linear;
    r["DequantizeLinear"] = dequantize_linear;
    // A [.., K] x B [K, N] → [.., N] as float (the scale's type).
    r["DynamicQuantizeMatMul"] = r["MatMulIntegerToFloat"] = [](Ctx& c) { matmul_as(c, c.type(2)); };
    // Inputs A, A scale, A zp, B, B scale, B zp, C scale, C zp: C has A's and B's broadcast shape.
    r["QLinearAdd"] = r["QLinearMul"] = [](Ctx& c) {
      check_broadcast(c, {c.shape(0), c.shape(3)}, "input shapes");
      c.set(0, c.type(0), broadcast({c.shape(0), c.shape(3)}));
    };
    r["QLinearSigmoid"] = r["QLinearLeakyRelu"] = same_as_input;
    r["QLinearGlobalAveragePool"] = [](Ctx& c) {
      if (c.n.attr_int("channels_last", 0) == 0) global_pool(c);
    };
    // A [.., K] with B packed as [N, K/block, block/...]: [.., N] in A's type.
    r["MatMulNBits"] = [](Ctx& c) {
      auto a = c.shape(0);
      int64_t n = c.n.attr_int("N", 0);
      if (!a || a->empty() || n <= 0) return c.set(0, c.type(0), std::nullopt);
      Dims out = *a;
      out.back() = Dim::of(n);
      c.set(0, c.type(0), out);
    };
    // onnxruntime's transformers-optimizer ops: output 0 (and the optional sums) shaped like the
    // input, or [batch, sequence, hidden] of the attention family, so that ranks reach the
    // lowerings after them (a mask_index from EmbedLayerNormalization into Attention). Without
    // these every value after the first fused op loses its shape and nothing of the shape
    // arithmetic downstream folds (ORT-optimized GPT-2: 97 layers vs ovc's 63).
    for (const char* op : {"Gelu", "BiasGelu", "FastGelu", "QuickGelu", "BiasAdd", "RotaryEmbedding", "SimplifiedLayerNormalization"})
      r[op] = same_as_input;
    r["SkipLayerNormalization"] = r["SkipSimplifiedLayerNormalization"] = [](Ctx& c) {
      same_as_input(c);
      if (c.has(0) && c.n.num_outputs() > 3) c.set(3, c.type(0), c.shape(0));
    };
    r["EmbedLayerNormalization"] = [](Ctx& c) {
      auto ids = c.shape(0), table = c.shape(2);
      std::optional<Dims> out;
      if (ids && ids->size() == 2 && table && table->size() == 2) out = Dims{(*ids)[0], (*ids)[1], (*table)[1]};
      c.set(0, c.type(2), out);
      if (c.n.num_outputs() > 1) c.set(1, DataType::kInt32, ids && ids->size() == 2 ? std::optional<Dims>(Dims{(*ids)[0]}) : std::nullopt);
      if (c.n.num_outputs() > 2) c.set(2, c.type(2), out);
    };
    // [B, S, ..] queries → [B, S, value hidden]; the hidden size where the inputs state it.
    auto attention_out = [](Ctx& c, std::optional<Dim> hidden) {
      auto q = c.shape(0);
      if (!q || q->size() != 3) return c.set(0, c.type(0), std::nullopt);
      c.set(0, c.type(0), Dims{(*q)[0], (*q)[1], hidden ? *hidden : unknown()});
    };
    r["Attention"] = [attention_out](Ctx& c) {
      auto sizes = c.n.attr_ints("qkv_hidden_sizes");
      auto w = c.shape(1);
      std::optional<Dim> hidden;
      if (sizes.size() == 3) hidden = Dim::of(sizes[2]);
      else if (w && w->size() == 2 && (*w)[1].is_static() && (*w)[1].value % 3 == 0) hidden = Dim::of((*w)[1].value / 3);
      attention_out(c, hidden);
    };
    r["MultiHeadAttention"] = [attention_out](Ctx& c) {
      auto v = c.shape(2);
      attention_out(c, v && v->size() == 3 ? std::optional<Dim>((*v)[2]) : std::nullopt);
    };
    r["GroupQueryAttention"] = [attention_out](Ctx& c) {
      auto q = c.shape(0);
      attention_out(c, c.has(1) && q && q->size() == 3 ? std::optional<Dim>((*q)[2]) : std::nullopt);
    };
    return r;
  }();
  return kRules;
}

const std::map<std::string, Rule>& rules() {
  static const std::map<std::string, Rule> kRules = [] {
    std::map<std::string, Rule> r;
    for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Neg", "Erf", "Floor", "Ceil", "Identity",
                           "Gelu", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "HardSwish", "Clip",
                           "Sin", "Cos", "Tan", "Reciprocal", "Round", "Sign", "Not", "Softplus", "Softsign", "Mish",
                           "Dropout", "MeanVarianceNormalization", "LpNormalization", "Celu", "ThresholdedRelu",
                           "RMSNormalization", "Trilu", "Swish"})
      r[op] = same_as_input;
    for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) r[op] = softmax_like;
    r["BatchNormalization"] = batch_norm;
    r["InstanceNormalization"] = instance_norm;
    r["GroupNormalization"] = group_norm;
    r["PRelu"] = prelu;
    r["CumSum"] = cumsum;
    r["LRN"] = lrn;
    r["ArgMax"] = r["ArgMin"] = arg_reduce;
    r["Tile"] = tile;
    r["DepthToSpace"] = [](Ctx& c) { depth_to_space(c, true); };
    r["SpaceToDepth"] = [](Ctx& c) { depth_to_space(c, false); };
    r["TopK"] = topk;
    r["GatherElements"] = gather_elements;
    r["Resize"] = resize;
    r["ConvTranspose"] = conv_transpose;
    r["DeformConv"] = group_counts;
    r["QLinearConv"] = [](Ctx& c) { conv_on(c, {0, 3, 8}, c.has(7) ? c.type(7) : DataType::kUint8); };
    // a (0) x b (3) in y's zero-point type (7): a chain of QLinearMatMul keeps its ranks.
    r["QLinearMatMul"] = [](Ctx& c) {
      Ctx v = c;
      v.in = {c.in.size() > 0 ? c.in[0] : std::nullopt, c.in.size() > 3 ? c.in[3] : std::nullopt};
      matmul_as(v, c.has(7) ? c.type(7) : DataType::kUint8);
      c.out[0] = v.out[0];
    };
    r["ConvInteger"] = [](Ctx& c) { conv_on(c, {0, 1}, DataType::kInt32); };
    r["OneHot"] = one_hot;
    r["Einsum"] = einsum;
    r["If"] = if_op;
    r["Loop"] = loop_op;
    r["Scan"] = scan_op;
    for (const char* op : {"Add", "Sub", "Mul", "Pow", "Max", "Min", "Sum", "Mean", "BitShift"})
      r[op] = [](Ctx& c) { elementwise(c, c.type(0)); };
    r["Div"] = r["Mod"] = [](Ctx& c) {
      check_integer_divisor(c);
      elementwise(c, c.type(0));
    };
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
    r["Range"] = range;
    r["QuantizeLinear"] = quantize_linear;
    r["DequantizeLinear"] = dequantize_linear;
    r["DynamicQuantizeLinear"] = [](Ctx& c) {
      c.set(0, DataType::kUint8, c.shape(0));
      c.set(1, DataType::kFloat, Dims{});
      c.set(2, DataType::kUint8, Dims{});
    };
    r["MatMulInteger"] = [](Ctx& c) { matmul_as(c, DataType::kInt32); };
    // LSTM/GRU/RNN: without a rule the Shape → Gather → Concat targets after a recurrent layer
    // (tf2onnx's Dense on an LSTM's sequence) stay run-time arithmetic.
    for (const char* op : {"LSTM", "GRU", "RNN"}) r[op] = rnn;
    r["NonZero"] = [](Ctx& c) {
      auto s = c.shape(0);
      c.set(0, DataType::kInt64, s ? std::optional<Dims>(Dims{Dim::of(static_cast<int64_t>(s->size())), unknown()}) : std::nullopt);
    };
    return r;
  }();
  return kRules;
}

// A computed output of more elements than any tensor the readers accept (2^40) cannot be run:
// refused here rather than left for the runtime to try to allocate.
// `shape` is the inferred one, or the type an output ends up with once merged with what the model
// stated (stated dims are kept: [2^40, ?] stated and [3, 4] inferred become [2^40, 4]).
void check_size(const Ctx& c, size_t k, const std::optional<Dims>& shape) {
  if (!shape || c.in_subgraph) return;
  constexpr uint64_t kMaxElements = uint64_t{1} << 40;
  uint64_t count = 1;
  for (const Dim& d : *shape) {
    if (!known(d)) return;
    if (d.value == 0) return;
  }
  for (const Dim& d : *shape)
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(d.value), &count) || count > kMaxElements)
      fail(ErrorKind::kResourceLimit, (c.source.empty() ? std::string("model") : c.source) + ": node #" + std::to_string(c.index) + " '" +
                                          c.n.name() + "' (" + c.n.op_type() + "): output " + std::to_string(k) + " would have shape " +
                                          dims_text(*shape) + ", more than 2^40 elements");
}

// A dim name onnx's shape inference makes up for a dim it cannot name ("unk__7"; onnxruntime's
// quantization tools save those in value_info): it says no more than "unknown", while an inferred
// name relates the dim to the graph inputs (what shape folding needs), so the inferred one wins.
bool onnx_made_up_dim(const Dim& d) {
  const std::string& p = d.param;
  return d.kind == Dim::Kind::kParam && p.size() > 5 && p.compare(0, 5, "unk__") == 0 &&
         std::all_of(p.begin() + 5, p.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
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
    } else if (onnx_made_up_dim(d) && e.kind == Dim::Kind::kParam && !onnx_made_up_dim(e)) {
      d = e;
      changed = true;
    }
  }
  return changed;
}

int64_t infer(Graph& g, const Model& m, ShapeValues& values, bool in_subgraph = false) {
  int64_t changed = 0;
  size_t index = 0;
  for (const auto& up : g.nodes()) {
    Node& n = *up;
    const size_t at = index++;
    for (Graph* sub : n.subgraphs()) changed += infer(*sub, m, values, true);
    const auto& table = n.domain() == "com.microsoft" ? contrib_rules() : rules();
    if (!n.domain().empty() && n.domain() != "com.microsoft") continue;
    auto it = table.find(n.op_type());
    if (it == table.end()) continue;
    Ctx c(n, m.opset_version(""), values, m.source_path, at);
    c.in_subgraph = in_subgraph;
    try {
      it->second(c);
    } catch (const Ctx::NotInferred&) {
      continue;
    }
    propagate_value(c);
    if (c.out_value && n.num_outputs() > 0 && c.out_value->size() <= 64) values[n.output(0)] = *c.out_value;
    for (size_t k = 0; k < n.num_outputs(); ++k) {
      Value* v = n.output(k);
      if (v->name().empty()) continue;
      if (c.out[k].type == DataType::kUndefined && !c.out[k].shape) continue;
      check_size(c, k, c.out[k].shape);
      if (refine(v, c.out[k])) {
        ++changed;
        // The writer writes the merged type, and the reader refuses more than 2^40 elements.
        if (v->type().is_tensor()) check_size(c, k, v->type().shape);
      }
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
  // Ranks and dims the reader did not know are known now: the validator's rules that need them
  // (axes within the rank, Conv rank 3+, ...) apply, so an invalid node is refused here rather
  // than written into a model that no runtime (nor irforge) reads back.
  if (r.changed) validate_op_rules(model);
  return r;
}

}  // namespace irforge::passes
