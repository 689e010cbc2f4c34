#include "passes/fusion/fuse_attention.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "passes/legalize/expand_util.h"
#include "passes/util.h"
#include "support/error.h"
#include "support/fp16.h"

namespace irforge::passes {

namespace {

using Dims = std::vector<Dim>;

// ---- small facts about values -----------------------------------------------------------------

std::optional<Dims> dims_of(const Value* v) {
  if (!v || !v->type().is_tensor() || !v->type().shape) return std::nullopt;
  return *v->type().shape;
}

std::optional<size_t> rank_of(const Value* v) {
  auto d = dims_of(v);
  return d ? std::optional<size_t>(d->size()) : std::nullopt;
}

DataType elem_of(const Value* v) { return v && v->type().is_tensor() ? v->type().elem_type : DataType::kUndefined; }

// Dims that are known to differ. Unknown dims and symbols never count as different (see header).
bool known_different(const Dim& a, const Dim& b) { return a.is_static() && b.is_static() && a.value != b.value; }
bool is_one(const Dim& d) { return d.is_static() && d.value == 1; }

bool is_op(const Node* n, const char* op) { return n && n->op_type() == op && n->domain().empty(); }

Node* producer_op(const Value* v, const char* op) {
  Node* p = v ? v->producer() : nullptr;
  return is_op(p, op) ? p : nullptr;
}

// A scalar constant (one element, any rank <= 4 so it cannot raise the scores' rank).
std::optional<double> scalar_const(const Value* v) {
  const Tensor* t = constant_of(v);
  if (!t || t->element_count() != 1 || t->dims().size() > 4) return std::nullopt;
  auto d = constant_doubles(v);
  if (!d || d->size() != 1) return std::nullopt;
  return (*d)[0];
}

double lowest_of(DataType t) {
  switch (t) {
    case DataType::kFloat16: return -65504.0;
    case DataType::kDouble: return std::numeric_limits<double>::lowest();
    case DataType::kBfloat16: return -3.3895313892515355e38;
    default: return std::numeric_limits<float>::lowest();
  }
}

// A masking value: -inf, or large enough that exp(score + value - max) is exactly 0.
bool is_mask_value(double v, DataType t) { return v == -std::numeric_limits<double>::infinity() || v <= lowest_of(t) / 2; }

std::optional<std::vector<int64_t>> axes_of(const Node* n, size_t input, int64_t opset) {
  if (opset >= 13) return constant_ints(n->input(input));
  if (!n->attr("axes")) return std::nullopt;
  return n->attr_ints("axes");
}

// ---- causal patterns --------------------------------------------------------------------------

// A [rows, cols] pattern over query i (row) and key j (col): `value` where the region holds.
enum class Region { kLower, kStrictUpper };  // j <= i,  j > i
struct Pattern {
  Region region;
  Dim rows, cols;
};

Region flip(Region r) { return r == Region::kLower ? Region::kStrictUpper : Region::kLower; }

// Checks a constant [.., n, m] tensor (leading dims 1): inside(i, j) for elements that hold
// `in`, the rest `out`. Returns the region it matches.
std::optional<Pattern> constant_pattern(const Value* v, const std::function<int(double)>& classify) {
  const Tensor* t = constant_of(v);
  if (!t || t->dims().size() < 2) return std::nullopt;
  const auto& d = t->dims();
  for (size_t k = 0; k + 2 < d.size(); ++k)
    if (d[k] != 1) return std::nullopt;
  int64_t rows = d[d.size() - 2], cols = d[d.size() - 1];
  if (rows <= 0 || cols <= 0 || rows * cols > (int64_t{1} << 24)) return std::nullopt;
  auto vals = tensor_as_doubles(*t);
  if (!vals) return std::nullopt;
  for (Region r : {Region::kLower, Region::kStrictUpper}) {
    bool ok = true;
    for (int64_t i = 0; i < rows && ok; ++i)
      for (int64_t j = 0; j < cols && ok; ++j) {
        bool inside = r == Region::kLower ? j <= i : j > i;
        ok = classify((*vals)[i * cols + j]) == (inside ? 1 : 0);
      }
    if (ok) return Pattern{r, Dim::of(rows), Dim::of(cols)};
  }
  return std::nullopt;
}

// Which index a 1-D Range(0, n, 1) plays after Unsqueeze/Reshape: a row index i ([n, 1]) or a
// column index j ([n] or [1, n]).
struct Index {
  bool row;
  Dim length;
};

std::optional<Index> range_index(const Value* v, int64_t opset) {
  Node* p = v ? v->producer() : nullptr;
  if (is_op(p, "Range")) {
    auto start = scalar_const(p->input(0)), delta = scalar_const(p->input(2));
    if (!start || !delta || *start != 0 || *delta != 1) return std::nullopt;
    auto d = dims_of(v);
    return Index{false, d && d->size() == 1 ? (*d)[0] : Dim{}};
  }
  if (is_op(p, "Unsqueeze")) {
    auto inner = range_index(p->input(0), opset);
    auto axes = axes_of(p, 1, opset);
    if (!inner || inner->row || !axes || axes->size() != 1) return std::nullopt;
    if ((*axes)[0] == 1 || (*axes)[0] == -1) return Index{true, inner->length};
    if ((*axes)[0] == 0 || (*axes)[0] == -2) return inner;
    return std::nullopt;
  }
  if (is_op(p, "Reshape")) {
    auto inner = range_index(p->input(0), opset);
    auto shape = constant_ints(p->input(1));
    if (!inner || inner->row || !shape || shape->size() != 2) return std::nullopt;
    if ((*shape)[1] == 1 && (*shape)[0] != 1) return Index{true, inner->length};
    if ((*shape)[0] == 1 && (*shape)[1] != 1) return inner;
    return std::nullopt;
  }
  if (is_op(p, "Cast")) return range_index(p->input(0), opset);
  return std::nullopt;
}

// The single value a tensor is filled with: ConstantOfShape(value), or Expand of a scalar
// constant (torch.ones/full under dynamo with dynamic shapes).
std::optional<double> fill_value(const Value* v) {
  Node* p = v ? v->producer() : nullptr;
  if (is_op(p, "ConstantOfShape")) {
    const Attribute* value = p->attr("value");
    if (!value || !value->t) return 0.0;  // the default is a float 0
    auto fv = tensor_as_doubles(*value->t);
    if (!fv || fv->size() != 1) return std::nullopt;
    return (*fv)[0];
  }
  if (is_op(p, "Expand")) return scalar_const(p->input(0));
  return std::nullopt;
}

// A boolean (or 0/1) tensor that is true exactly on a causal region.
std::optional<Pattern> bool_pattern(const Value* v, int64_t opset, int depth = 0) {
  if (!v || depth > 8) return std::nullopt;
  if (constant_of(v)) return constant_pattern(v, [](double x) { return x != 0 ? 1 : 0; });
  Node* p = v->producer();
  if (!p || !p->domain().empty()) return std::nullopt;
  const std::string& op = p->op_type();
  if (op == "Not") {
    auto in = bool_pattern(p->input(0), opset, depth + 1);
    if (in) in->region = flip(in->region);
    return in;
  }
  if (op == "Equal") {
    // x == 0: true where x is zero, the complement of x's pattern (torch's tril(ones) == 0).
    for (int side = 0; side < 2; ++side) {
      auto zero = scalar_const(p->input(1 - side));
      if (!zero || *zero != 0) continue;
      auto in = bool_pattern(p->input(side), opset, depth + 1);
      if (in) in->region = flip(in->region);
      return in;
    }
    return std::nullopt;
  }
  if (op == "Cast") {
    DataType to = static_cast<DataType>(p->attr_int("to", 0));
    if (to != DataType::kBool && !is_float_dtype(to) && to != DataType::kInt64 && to != DataType::kInt32) return std::nullopt;
    return bool_pattern(p->input(0), opset, depth + 1);
  }
  if (op == "Trilu") {
    auto fv = fill_value(p->input(0));
    if (!fv || *fv == 0) return std::nullopt;
    int64_t k = 0;
    if (p->input(1)) {
      auto kk = scalar_const(p->input(1));
      if (!kk) return std::nullopt;
      k = static_cast<int64_t>(*kk);
    }
    bool upper = p->attr_int("upper", 1) != 0;
    auto d = dims_of(p->output(0));
    if (!d || d->size() != 2) return std::nullopt;
    if (!upper && k == 0) return Pattern{Region::kLower, (*d)[0], (*d)[1]};
    if (upper && k == 1) return Pattern{Region::kStrictUpper, (*d)[0], (*d)[1]};
    return std::nullopt;
  }
  if (op == "Greater" || op == "Less" || op == "GreaterOrEqual" || op == "LessOrEqual") {
    auto a = range_index(p->input(0), opset), b = range_index(p->input(1), opset);
    if (!a || !b || a->row == b->row) return std::nullopt;
    // Normalise to "i OP j".
    bool swapped = !a->row;
    const Index& i = swapped ? *b : *a;
    const Index& j = swapped ? *a : *b;
    std::string cmp = op;
    if (swapped) cmp = op == "Greater" ? "Less" : op == "Less" ? "Greater" : op == "GreaterOrEqual" ? "LessOrEqual" : "GreaterOrEqual";
    if (cmp == "GreaterOrEqual") return Pattern{Region::kLower, i.length, j.length};      // i >= j
    if (cmp == "Less") return Pattern{Region::kStrictUpper, i.length, j.length};          // i < j
    return std::nullopt;
  }
  return std::nullopt;
}

// An additive float mask that is 0 on j <= i and a masking value on j > i.
std::optional<Pattern> additive_causal(const Value* v, DataType t, int64_t opset) {
  if (constant_of(v)) {
    auto p = constant_pattern(v, [t](double x) { return is_mask_value(x, t) ? 1 : x == 0 ? 0 : -1; });
    if (p && p->region == Region::kStrictUpper) return p;
    return std::nullopt;
  }
  Node* p = v ? v->producer() : nullptr;
  if (is_op(p, "Trilu")) {
    // triu(full(value), 1)
    auto fv = fill_value(p->input(0));
    if (!fv || !is_mask_value(*fv, t) || p->attr_int("upper", 1) == 0 || !p->input(1)) return std::nullopt;
    auto k = scalar_const(p->input(1));
    if (!k || *k != 1) return std::nullopt;
    auto d = dims_of(v);
    if (!d || d->size() != 2) return std::nullopt;
    return Pattern{Region::kStrictUpper, (*d)[0], (*d)[1]};
  }
  if (is_op(p, "Where")) {
    // Where(cond, value, 0) / Where(cond, 0, value)
    auto a = scalar_const(p->input(1)), b = scalar_const(p->input(2));
    if (!a || !b) return std::nullopt;
    auto cond = bool_pattern(p->input(0), opset);
    if (!cond) return std::nullopt;
    if (is_mask_value(*a, t) && *b == 0 && cond->region == Region::kStrictUpper) return cond;
    if (*a == 0 && is_mask_value(*b, t) && cond->region == Region::kLower) return Pattern{Region::kStrictUpper, cond->rows, cond->cols};
  }
  return std::nullopt;
}

// ---- the match --------------------------------------------------------------------------------

struct Gqa {
  Value* source = nullptr;  // the [B, Hkv, L, E] tensor before the repeat
  int64_t repeats = 1;
  std::vector<Node*> nodes;  // Reshape, Expand, Unsqueeze
};

// Reshape(Expand(Unsqueeze(x, [2]), shape), target): x [B, Hkv, L, E] → [B, Hkv·r, L, E] with
// each kv head repeated r times in place.
std::optional<Gqa> head_repeat(Value* v, int64_t opset) {
  Node* reshape = producer_op(v, "Reshape");
  if (!reshape || !used_once(reshape->input(0))) return std::nullopt;
  Node* expand = producer_op(reshape->input(0), "Expand");
  if (!expand || !used_once(expand->input(0))) return std::nullopt;
  Node* unsq = producer_op(expand->input(0), "Unsqueeze");
  if (!unsq) return std::nullopt;
  auto axes = axes_of(unsq, 1, opset);
  if (!axes || axes->size() != 1 || ((*axes)[0] != 2 && (*axes)[0] != -3)) return std::nullopt;
  Value* x = unsq->input(0);
  auto xd = dims_of(x), ed = dims_of(expand->output(0)), rd = dims_of(v);
  if (!xd || !ed || !rd || xd->size() != 4 || ed->size() != 5 || rd->size() != 4) return std::nullopt;
  if (!(*xd)[1].is_static() || !(*ed)[2].is_static() || !(*rd)[1].is_static()) return std::nullopt;
  int64_t kv = (*xd)[1].value, r = (*ed)[2].value;
  if (kv <= 0 || r < 1 || (*rd)[1].value != kv * r) return std::nullopt;
  // Expand repeats only the new axis; the reshape merges it into the heads and keeps the rest.
  const int src[5] = {0, 1, -1, 2, 3};
  for (int k = 0; k < 5; ++k)
    if (k != 2 && known_different((*ed)[k], (*xd)[src[k]])) return std::nullopt;
  if (known_different((*rd)[0], (*xd)[0]) || known_different((*rd)[2], (*xd)[2]) || known_different((*rd)[3], (*xd)[3])) return std::nullopt;
  return Gqa{x, r, {reshape, expand, unsq}};
}

struct Match {
  Node* out = nullptr;       // MatMul(probs, V)
  std::vector<Node*> dead;   // consumer before producer
  Value *q = nullptr, *k = nullptr, *v = nullptr, *mask = nullptr;
  std::vector<int64_t> k_perm;  // K = Transpose(k, k_perm) unless identity
  bool causal = false;
  double scale = 1.0;
  std::string fused_from;
};

// Follows Mul/Div by scalar constants upward from v (each single-use); multiplies `scale`.
Value* strip_scales(Value* v, double& scale, std::vector<Node*>& dead) {
  for (;;) {
    Node* p = v->producer();
    if (!p || !p->domain().empty() || (p->op_type() != "Mul" && p->op_type() != "Div") || p->inputs().size() != 2) return v;
    auto c1 = scalar_const(p->input(1));
    auto c0 = p->op_type() == "Mul" ? scalar_const(p->input(0)) : std::nullopt;
    Value* rest;
    if (c1 && !constant_of(p->input(0))) {
      if (p->op_type() == "Div" && *c1 == 0) return v;
      scale = p->op_type() == "Mul" ? scale * *c1 : scale / *c1;
      rest = p->input(0);
    } else if (c0 && !constant_of(p->input(1))) {
      scale *= *c0;
      rest = p->input(1);
    } else {
      return v;
    }
    if (!used_once(rest)) return v;
    dead.push_back(p);
    v = rest;
  }
}

// A failed match; the reason documents the condition (and is what an --explain would print).
std::optional<Match> reject(const char* reason) {
  (void)reason;
  return std::nullopt;
}

std::optional<Match> match(Node* out, int64_t opset) {
  if (!is_op(out, "MatMul") || out->inputs().size() != 2) return std::nullopt;
  Value* probs = out->input(0);
  Node* softmax = producer_op(probs, "Softmax");
  if (!softmax || !used_once(probs)) return std::nullopt;
  Match m;
  m.out = out;
  m.dead = {out, softmax};
  Value* x = softmax->input(0);
  auto rank = rank_of(x);
  if (!rank || *rank != 4) return reject("scores rank not known to be 4");
  int64_t axis = softmax->attr_int("axis", opset >= 13 ? -1 : 1);
  if (axis != 3 && axis != -1) return reject("softmax is not over the last axis");
  if (!used_once(x)) return reject("scores have other users");
  DataType t = elem_of(x);
  if (!is_float_dtype(t)) return reject("scores type unknown");

  // Mask ops (Add of a mask, Where filling a causal region), then scale ops, down to the MatMul.
  std::optional<Pattern> causal;
  for (int guard = 0; guard < 4; ++guard) {
    Node* p = x->producer();
    if (is_op(p, "Add") && p->inputs().size() == 2) {
      int scores_side = -1;
      for (int s = 0; s < 2; ++s) {
        Value* cand = p->input(s);
        double unused = 1;
        std::vector<Node*> tmp;
        Value* base = strip_scales(cand, unused, tmp);
        Node* bp = base->producer();
        if (used_once(cand) && (is_op(bp, "MatMul") || is_op(bp, "Add") || is_op(bp, "Where")) && p->input(1 - s) != cand) {
          scores_side = s;
          break;
        }
      }
      if (scores_side < 0) return reject("no score operand under the mask Add");
      Value* mask = p->input(1 - scores_side);
      if (auto c = additive_causal(mask, t, opset); c && !causal) {
        causal = c;
      } else {
        if (m.mask) return reject("more than one additive mask");
        auto md = dims_of(mask);
        if (!md || md->size() < 2 || md->size() > 4 || elem_of(mask) != t) return reject("mask rank (2-4 for Attention) or type unknown");
        m.mask = mask;
      }
      m.dead.push_back(p);
      x = p->input(scores_side);
      m.fused_from += "Add,";
      continue;
    }
    if (is_op(p, "Where") && p->inputs().size() == 3) {
      auto fill_a = scalar_const(p->input(1)), fill_b = scalar_const(p->input(2));
      int scores_input;
      Region masked;
      if (fill_a && is_mask_value(*fill_a, t) && !constant_of(p->input(2))) {
        scores_input = 2;
        masked = Region::kStrictUpper;  // condition true = masked
      } else if (fill_b && is_mask_value(*fill_b, t) && !constant_of(p->input(1))) {
        scores_input = 1;
        masked = Region::kLower;  // condition true = kept
      } else {
        return reject("Where is not a masked fill");
      }
      auto c = bool_pattern(p->input(0), opset);
      if (!c || c->region != masked || causal) return reject("Where condition is not a causal pattern");
      causal = Pattern{Region::kStrictUpper, c->rows, c->cols};
      if (!used_once(p->input(scores_input))) return reject("scores have other users");
      m.dead.push_back(p);
      x = p->input(scores_input);
      m.fused_from += "Where,";
      continue;
    }
    break;
  }
  size_t before = m.dead.size();
  x = strip_scales(x, m.scale, m.dead);
  for (size_t k = before; k < m.dead.size(); ++k) m.fused_from += m.dead[k]->op_type() + ",";
  Node* qk = producer_op(x, "MatMul");
  if (!qk || !used_once(x)) return reject("no Q·Kᵀ MatMul under the scores");
  m.dead.push_back(qk);

  // Q: scales only. K: scales and transposes, composed into one permutation of the source.
  m.q = strip_scales(qk->input(0), m.scale, m.dead);
  Value* kt = qk->input(1);
  std::vector<int64_t> acc = {0, 1, 2, 3};  // kt axis i = source axis acc[i]
  for (int guard = 0; guard < 8; ++guard) {
    if (!used_once(kt)) break;
    Value* stripped = strip_scales(kt, m.scale, m.dead);
    if (stripped != kt) {
      kt = stripped;
      continue;
    }
    Node* tr = producer_op(kt, "Transpose");
    if (!tr || !used_once(kt)) break;
    std::vector<int64_t> perm = tr->attr_ints("perm");
    if (perm.empty()) perm = {3, 2, 1, 0};
    if (perm.size() != 4) return reject("K transpose is not 4-D");
    for (auto& a : acc) a = perm[a];
    m.dead.push_back(tr);
    kt = tr->input(0);
  }
  // Kᵀ = transpose(kt, acc)  ⇒  K = transpose(kt, acc ∘ swap-last-two).
  m.k_perm = {acc[0], acc[1], acc[3], acc[2]};
  m.k = kt;
  m.v = out->input(1);
  if (!m.k->producer() && !m.k->is_graph_input() && !constant_of(m.k)) return reject("K source unknown");

  bool identity = m.k_perm == std::vector<int64_t>{0, 1, 2, 3};
  std::optional<Gqa> kg = identity ? head_repeat(m.k, opset) : std::nullopt;
  std::optional<Gqa> vg = used_once(m.v) ? head_repeat(m.v, opset) : std::nullopt;
  bool absorbed = kg && vg && kg->repeats == vg->repeats && used_once(m.k);
  int64_t repeats = absorbed ? kg->repeats : 1;
  if (absorbed) {
    m.k = kg->source;
    m.v = vg->source;
    m.dead.insert(m.dead.end(), kg->nodes.begin(), kg->nodes.end());
    m.dead.insert(m.dead.end(), vg->nodes.begin(), vg->nodes.end());
    m.fused_from += "GQA repeat,";
  }

  // Shapes: Q [B, Hq, S, E], K [B, Hkv, L, E], V [B, Hkv, L, Ev].
  auto qd = dims_of(m.q), kd0 = dims_of(m.k), vd = dims_of(m.v);
  if (!qd || !kd0 || !vd || qd->size() != 4 || kd0->size() != 4 || vd->size() != 4) return reject("Q, K or V rank not known to be 4");
  if (elem_of(m.q) != t || elem_of(m.v) != t) return reject("Q, K, V types differ from the scores");
  Dims kd(4);
  for (int i = 0; i < 4; ++i) kd[i] = (*kd0)[m.k_perm[i]];
  if (known_different((*qd)[0], kd[0]) || known_different((*qd)[0], (*vd)[0])) return reject("batch sizes differ");
  if (known_different(kd[1], (*vd)[1]) || known_different(kd[2], (*vd)[2])) return reject("K and V heads or lengths differ");
  // Heads: equal, or kv heads dividing the query heads (the original broadcast one kv head, or
  // repeated them explicitly).
  const Dim &hq = (*qd)[1], &hkv = kd[1];
  if (absorbed ? known_different(hq, Dim::of(hkv.value * repeats)) : (!is_one(hkv) && known_different(hq, hkv)))
    return reject("head counts differ");
  if ((is_one((*qd)[0]) && !is_one(kd[0])) || (is_one(hq) && !is_one(hkv) && hkv.is_static())) return reject("K would broadcast Q");
  Dims target = {(*qd)[0], hq, (*qd)[2], kd[2]};
  if (m.mask) {
    auto md = *dims_of(m.mask);
    size_t off = 4 - md.size();
    for (size_t i = 0; i < md.size(); ++i)
      if (!is_one(md[i]) && (is_one(target[off + i]) || known_different(md[i], target[off + i]))) return reject("mask does not broadcast to [B, H, S, L]");
  }
  if (causal) {
    if (known_different(causal->rows, target[2]) || known_different(causal->cols, target[3]) || is_one(target[2]) != is_one(causal->rows))
      return reject("causal mask size differs from the scores");
    m.causal = true;
  }
  if (!std::isfinite(m.scale) || m.scale == 0) return reject("scale is not finite");
  m.fused_from = "MatMul," + m.fused_from + "Softmax,MatMul";
  return m;
}

// ---- the rewrite ------------------------------------------------------------------------------

bool rewrite(Graph& g, NameGen& names, const Match& m) {
  Node* out = m.out;
  std::string base = out->name().empty() ? out->output(0)->name() : out->name();
  Value* k = m.k;
  if (m.k_perm != std::vector<int64_t>{0, 1, 2, 3}) {
    Node* tr = g.insert_node_before(out, "Transpose");
    tr->set_name(names.fresh(base + "/attention_key"));
    tr->add_input(m.k);
    tr->attributes().push_back(ints_attr("perm", m.k_perm));
    k = tr->add_output(names.fresh(base + "/attention_key_output"));
    Type kt = m.k->type();
    if (kt.shape) {
      Dims d(4);
      for (int i = 0; i < 4; ++i) d[i] = (*kt.shape)[m.k_perm[i]];
      kt.shape = d;
    }
    k->set_type(kt);
  }
  Node* att = g.insert_node_before(out, "Attention");
  att->set_name(names.fresh(base + "/attention"));
  att->doc_string() = "fused by irforge fuse-attention from " + m.fused_from;
  att->add_input(m.q);
  att->add_input(k);
  att->add_input(m.v);
  if (m.mask) att->add_input(m.mask);
  att->attributes().push_back(float_attr("scale", static_cast<float>(m.scale)));
  if (m.causal) att->attributes().push_back(int_attr("is_causal", 1));
  // The decomposition gives NaN for a row whose mask is all -inf (ONNX Attention gives 0); the
  // OpenVINO lowering may keep NaN instead of adding a guard (3 layers per block).
  if (m.mask) att->metadata_props().push_back({"irforge.fully_masked_rows", "nan"});
  Value* y = att->add_output(names.fresh(out->output(0)->name() + "/attention"));
  y->set_type(out->output(0)->type());
  if (!replace_value(g, out->output(0), y)) return false;
  // The matched nodes are now unused, consumers first.
  for (Node* n : m.dead) {
    for (size_t i = 0; i < n->num_outputs(); ++i)
      if (n->output(i)->has_uses()) fail(ErrorKind::kInternal, "fuse-attention: " + n->describe() + " is still used after fusion");
    g.remove_node(n);
  }
  return true;
}

int64_t fuse(Graph& g, NameGen& names, int64_t opset) {
  int64_t count = 0;
  std::vector<Node*> nodes;
  for (const auto& n : g.nodes()) nodes.push_back(n.get());
  std::unordered_set<Node*> removed;
  for (Node* n : nodes) {
    if (removed.count(n)) continue;
    for (Graph* sub : n->subgraphs()) count += fuse(*sub, names, opset);
    auto m = match(n, opset);
    if (!m) continue;
    std::vector<Node*> dead = m->dead;
    if (rewrite(g, names, *m)) {
      removed.insert(dead.begin(), dead.end());
      ++count;
    }
  }
  return count;
}

// ---- the expander -----------------------------------------------------------------------------

class Builder {
 public:
  Builder(Graph& g, Node* anchor, int64_t opset) : g_(g), anchor_(anchor), opset_(opset) {
    // Names used anywhere in the model (walk up to the root graph, then down).
    const Graph* root = &g;
    while (root->parent()) root = root->parent();
    std::function<void(const Graph&)> collect = [&](const Graph& gr) {
      for (const Value* v : gr.inputs()) used_.insert(v->name());
      for (const Value* v : gr.initializers()) used_.insert(v->name());
      for (const auto& n : gr.nodes()) {
        for (size_t k = 0; k < n->num_outputs(); ++k) used_.insert(n->output(k)->name());
        for (Graph* sub : n->subgraphs()) collect(*sub);
      }
    };
    collect(*root);
    prefix_ = (anchor->name().empty() ? anchor->output(0)->name() : anchor->name()) + "/expanded/";
  }
  std::string fresh(const std::string& what) {
    std::string n = prefix_ + what;
    for (int i = 1; !used_.insert(n).second; ++i) n = prefix_ + what + "_" + std::to_string(i);
    return n;
  }
  Value* op(const char* type, std::vector<Value*> ins, std::optional<Attribute> attr = std::nullopt) {
    Node* n = g_.insert_node_before(anchor_, type);
    n->set_name(fresh(type));
    for (Value* v : ins) n->add_input(v);
    if (attr) n->attributes().push_back(std::move(*attr));
    return n->add_output(fresh(std::string(type) + "_output"));
  }
  Value* ints(std::vector<int64_t> v, bool scalar = false) {
    auto t = std::make_shared<Tensor>(fresh("const"), DataType::kInt64, scalar ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(v.size())});
    std::vector<uint8_t> bytes(v.size() * 8);
    if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
    t->set_owned(std::move(bytes));
    return g_.add_initializer(std::move(t));
  }
  Value* scalar(DataType type, double value) {
    auto t = std::make_shared<Tensor>(fresh("const"), type, std::vector<int64_t>{});
    std::vector<uint8_t> bytes;
    if (type == DataType::kFloat) {
      float f = static_cast<float>(value);
      bytes.resize(4);
      std::memcpy(bytes.data(), &f, 4);
    } else if (type == DataType::kDouble) {
      bytes.resize(8);
      std::memcpy(bytes.data(), &value, 8);
    } else if (type == DataType::kFloat16 || type == DataType::kBfloat16) {
      uint16_t h = type == DataType::kFloat16 ? f32_to_f16(static_cast<float>(value)) : f32_to_bf16(static_cast<float>(value));
      bytes.resize(2);
      std::memcpy(bytes.data(), &h, 2);
    } else {
      fail(ErrorKind::kUnsupported, "Attention expansion: unsupported element type");
    }
    t->set_owned(std::move(bytes));
    return g_.add_initializer(std::move(t));
  }
  Value* unsqueeze(Value* x, int64_t axis) {
    if (opset_ >= 13) return op("Unsqueeze", {x, ints({axis})});
    return op("Unsqueeze", {x}, {ints_attr("axes", {axis})});
  }
  // Dimension `axis` of x as an int64 scalar.
  Value* dim(Value* x, int64_t axis) { return op("Gather", {op("Shape", {x}), ints({axis}, true)}, {int_attr("axis", 0)}); }

 private:
  Graph& g_;
  Node* anchor_;
  int64_t opset_;
  std::string prefix_;
  std::unordered_set<std::string> used_;
};

// Repeats each of the kv heads `r` times in place: [B, Hkv, L, E] → [B, Hkv·r, L, E].
Value* repeat_kv(Builder& b, Value* x, int64_t r) {
  Value* wide = b.op("Expand", {b.unsqueeze(x, 2), b.ints({1, 1, r, 1, 1})});
  Value* shape = b.op("Mul", {b.op("Shape", {x}), b.ints({1, r, 1, 1})});
  return b.op("Reshape", {wide, shape});
}

}  // namespace

void expand_attention(Graph& g, Node* node, int64_t opset) {
  auto unsupported = [&](const std::string& what) {
    fail(ErrorKind::kUnsupported, node->describe() + ": cannot write Attention for ONNX opset " + std::to_string(opset) + " (" + what +
                                      "); raise --target_opset to 23");
  };
  for (size_t i = 4; i < node->inputs().size(); ++i)
    if (node->input(i)) unsupported("past key/value or nonpad_kv_seqlen inputs");
  for (size_t i = 1; i < node->num_outputs(); ++i)
    if (node->output(i)->has_uses() || node->output(i)->is_graph_output()) unsupported("present key/value or qk outputs");
  if (node->attr_float("softcap", 0.f) != 0.f || node->attr("softmax_precision") || node->attr_int("left_window_size", -1) >= 0 ||
      node->attr_int("right_window_size", -1) >= 0 || node->attr_int("qk_matmul_output_mode", 0) != 0)
    unsupported("softcap, softmax precision, windows or qk output mode");
  auto qd = dims_of(node->input(0)), kd = dims_of(node->input(1));
  if (!qd || qd->size() != 4 || !kd || kd->size() != 4) unsupported("inputs not known to be 4-D");
  bool causal = node->attr_int("is_causal", 0) != 0;
  if (causal && opset < 11) unsupported("a causal mask needs Range (opset 11)");
  DataType t = elem_of(node->input(0));
  if (!is_float_dtype(t)) unsupported("query type unknown");

  Builder b(g, node, opset);
  Value *q = node->input(0), *k = node->input(1), *v = node->input(2);
  const Dim &hq = (*qd)[1], &hkv = (*kd)[1];
  // kv heads repeat explicitly; a single kv head (or equal counts) broadcasts in MatMul as is.
  if (hq.is_static() && hkv.is_static() && hq.value != hkv.value && hkv.value != 1) {
    if (hkv.value <= 0 || hq.value % hkv.value != 0) unsupported("q heads not a multiple of kv heads");
    k = repeat_kv(b, k, hq.value / hkv.value);
    v = repeat_kv(b, v, hq.value / hkv.value);
  }
  double scale = node->attr("scale") ? node->attr_float("scale", 1.f) : 0;
  if (!node->attr("scale")) {
    if (!(*qd)[3].is_static()) unsupported("no scale and a dynamic head size");
    scale = 1.0 / std::sqrt(static_cast<double>((*qd)[3].value));
  }
  Value* scores = b.op("MatMul", {q, b.op("Transpose", {k}, {ints_attr("perm", {0, 1, 3, 2})})});
  scores = b.op("Mul", {scores, b.scalar(t, scale)});
  if (node->input(3)) {
    Value* mask = node->input(3);
    if (elem_of(mask) == DataType::kBool) mask = b.op("Where", {mask, b.scalar(t, 0), b.scalar(t, -std::numeric_limits<double>::infinity())});
    scores = b.op("Add", {scores, mask});
  }
  if (causal) {
    Value* i = b.unsqueeze(b.op("Range", {b.ints({0}, true), b.dim(q, 2), b.ints({1}, true)}), 1);
    Value* j = b.op("Range", {b.ints({0}, true), b.dim(k, 2), b.ints({1}, true)});
    scores = b.op("Where", {b.op("Greater", {j, i}), b.scalar(t, lowest_of(t)), scores});
  }
  Value* probs = b.op("Softmax", {scores}, {int_attr("axis", opset >= 13 ? -1 : 3)});
  Value* y = b.op("MatMul", {probs, v});
  y->set_type(node->output(0)->type());
  std::string name = node->output(0)->name();
  g.replace_all_uses(node->output(0), y);
  // Keep the output's name (it may be a graph output).
  node->output(0)->set_name(name + "__expanded");
  y->set_name(name);
  g.remove_node(node);
}

PassResult FuseAttention::run(Model& model, const PassOptions&) {
  NameGen names(model);
  PassResult r;
  r.rewrites = fuse(*model.graph, names, model.opset_version(""));
  r.changed = r.rewrites > 0;
  return r;
}

bool attention_runs_in_onnxruntime(const Node& node) {
  Value* mask = node.input(3);
  // Only the forms fuse-attention creates (no past key/value, one output) can be expanded.
  if (!mask || node.inputs().size() > 4 || node.num_outputs() > 1) return true;
  Value* q = node.input(0);
  const auto& ms = mask->type().shape;
  const auto& qs = q ? q->type().shape : std::nullopt;
  if (!ms || !qs || ms->size() < 2 || qs->size() != 4) return true;  // nothing provably broadcast
  const Dim &m = (*ms)[ms->size() - 2], &l = (*qs)[2];
  if (m.kind == l.kind && m.value == l.value && m.param == l.param) return true;
  return !(m.is_static() && m.value == 1);  // a length-1 query axis broadcast over the queries
}

}  // namespace irforge::passes
