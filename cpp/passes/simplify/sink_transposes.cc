#include "passes/simplify/sink_transposes.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <deque>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

using Perm = std::vector<int64_t>;

bool in(const std::unordered_set<std::string>& set, const std::string& op) { return set.count(op) > 0; }

// Elementwise ops of one tensor input (Clip's min/max are scalars, they stay as they are).
const std::unordered_set<std::string> kUnary = {
    "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "ThresholdedRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
    "Softplus", "Softsign", "Mish", "Gelu", "Swish", "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil",
    "Round", "Sign", "Erf", "Sin", "Cos", "Tan", "Not", "Cast", "Identity", "IsNaN", "IsInf", "Clip", "Shrink"};
// Elementwise ops whose inputs broadcast against each other (numpy rules).
const std::unordered_set<std::string> kBroadcast = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater", "LessOrEqual",
    "GreaterOrEqual", "And", "Or", "Xor", "Mod", "PRelu", "Where", "BitShift"};
const std::unordered_set<std::string> kReduce = {
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceSumSquare"};

int64_t rank_of(const Value* v) {
  if (!v || !v->type().is_tensor() || !v->type().shape) return -1;
  return static_cast<int64_t>(v->type().shape->size());
}

// The perm of a Transpose (default: axes reversed) when it is a valid permutation of its input's
// known rank; nullopt otherwise.
std::optional<Perm> perm_of(const Node* t) {
  if (!t || t->op_type() != "Transpose" || !t->domain().empty() || !t->input(0) || t->num_outputs() != 1) return std::nullopt;
  int64_t r = rank_of(t->input(0));
  if (r < 0) return std::nullopt;
  Perm p;
  if (t->attr("perm")) {
    p = t->attr_ints("perm");
  } else {
    for (int64_t i = r - 1; i >= 0; --i) p.push_back(i);
  }
  if (static_cast<int64_t>(p.size()) != r) return std::nullopt;
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (int64_t v : p) {
    if (v < 0 || v >= r || seen[static_cast<size_t>(v)]) return std::nullopt;
    seen[static_cast<size_t>(v)] = true;
  }
  return p;
}

Perm inverse(const Perm& p) {
  Perm q(p.size());
  for (size_t i = 0; i < p.size(); ++i) q[static_cast<size_t>(p[i])] = static_cast<int64_t>(i);
  return q;
}

// The type of x when `type` is the type of Transpose_p(x): dims s'[p[i]] = s[i].
Type untransposed(const Type& type, const Perm& p) {
  Type t = type;
  if (t.shape && t.shape->size() == p.size()) {
    Shape s(p.size());
    for (size_t i = 0; i < p.size(); ++i) s[static_cast<size_t>(p[i])] = (*type.shape)[i];
    t.shape = std::move(s);
  } else {
    t.shape.reset();
  }
  return t;
}

// What sinking a Transpose through one op changes, decided before anything is mutated.
struct Plan {
  std::vector<std::pair<size_t, Value*>> inputs;  // new input values by index
  Perm out_perm;                                  // the perm of the Transpose after the op
  std::function<void(Node*)> edit;                // attribute changes (may be empty)
};

class Sinker {
 public:
  Sinker(Model& m, const PassOptions& o) : names_(m), limit_(o.fold_size_limit), opset_(m.opset_version()) {}

  int64_t graph(Graph& g) {
    int64_t count = 0;
    std::deque<Node*> work;
    for (const auto& n : g.nodes()) {
      for (Graph* sub : n->subgraphs()) count += graph(*sub);
      if (n->op_type() == "Transpose") {
        work.push_back(n.get());
        alive_.insert(n.get());
      }
    }
    // Each rewrite moves a Transpose strictly later in the graph; the cap is a safety net.
    const int64_t cap = 4 * static_cast<int64_t>(g.num_nodes()) + 16;
    int64_t local = 0;
    while (!work.empty() && local < cap) {
      Node* t = work.front();
      work.pop_front();
      if (!alive_.count(t)) continue;
      if (Node* moved = sink(g, t)) {
        ++local;
        work.push_front(moved);
      }
    }
    return count + local;
  }

 private:
  // A constant operand of rank <= r as seen after Transpose_p, with its axes inverse-permuted
  // (unsqueezed to rank r first); the value itself when its elements are all on one dim-1 grid.
  Value* permuted_constant(Graph& g, Value* c, const Perm& p) {
    const Tensor* t = constant_of(c);
    const size_t r = p.size();
    if (!t || t->dims().size() > r) return nullptr;
    bool all_ones = true;
    for (int64_t d : t->dims()) all_ones = all_ones && d == 1;
    if (all_ones) return c;  // one element: any axis order is the same tensor
    int bits = bits_per_element(t->dtype());
    if (bits < 8 || bits % 8 != 0 || t->nbytes() > limit_ || !t->data()) return nullptr;
    const size_t es = static_cast<size_t>(bits / 8);
    std::vector<int64_t> d(r - t->dims().size(), 1);
    d.insert(d.end(), t->dims().begin(), t->dims().end());
    const Perm q = inverse(p);
    std::vector<int64_t> e(r), src_stride(r, 1);
    for (size_t i = r; i-- > 1;) src_stride[i - 1] = src_stride[i] * d[i];
    for (size_t i = 0; i < r; ++i) e[i] = d[static_cast<size_t>(q[i])];
    const uint64_t count = t->element_count();
    if (count * es != t->nbytes()) return nullptr;
    std::vector<uint8_t> bytes(t->nbytes());
    std::vector<int64_t> idx(r, 0);
    const uint8_t* src = t->data();
    for (uint64_t o = 0; o < count; ++o) {
      int64_t off = 0;
      for (size_t i = 0; i < r; ++i) off += idx[i] * src_stride[static_cast<size_t>(q[i])];
      std::memcpy(bytes.data() + o * es, src + static_cast<size_t>(off) * es, es);
      for (size_t i = r; i-- > 0;) {  // next output index, row-major
        if (++idx[i] < e[i]) break;
        idx[i] = 0;
      }
    }
    auto tensor = std::make_shared<Tensor>(names_.fresh(c->name() + "_transposed"), t->dtype(), e);
    tensor->set_owned(std::move(bytes));
    return g.add_initializer(std::move(tensor));
  }

  // Where an operand of the op comes from before Transpose_p: `a` for the sinking Transpose's
  // output, x for another Transpose_p(x) of the same graph, a permuted constant; nullptr if none.
  Value* source(Graph& g, Value* v, Value* t_out, Value* a, const Perm& p) {
    if (v == t_out) return a;
    Node* prod = v->producer();
    if (prod && prod->graph() == &g) {
      auto q = perm_of(prod);
      if (q && *q == p) return prod->input(0);
    }
    return constant_of(v) ? permuted_constant(g, v, p) : nullptr;
  }

  // Normalized axis k of rank r, or -1.
  static int64_t axis(int64_t k, int64_t r) {
    if (k < -r || k >= r) return -1;
    return k < 0 ? k + r : k;
  }

  std::optional<Plan> plan(Graph& g, Node* u, Value* t_out, Value* a, const Perm& p) {
    const std::string& op = u->op_type();
    const int64_t r = static_cast<int64_t>(p.size());
    Plan pl;
    pl.out_perm = p;
    if (in(kUnary, op)) {
      if (u->input(0) != t_out) return std::nullopt;
      for (size_t i = 1; i < u->inputs().size(); ++i)
        if (u->input(i) == t_out) return std::nullopt;
      pl.inputs.push_back({0, a});
      return pl;
    }
    if (in(kBroadcast, op) || op == "Concat") {
      const bool concat = op == "Concat";
      for (size_t i = 0; i < u->inputs().size(); ++i) {
        Value* v = u->input(i);
        if (!v) return std::nullopt;
        int64_t rv = rank_of(v);
        if (rv < 0 || rv > r || (concat && rv != r)) return std::nullopt;
        Value* s = source(g, v, t_out, a, p);
        if (!s) return std::nullopt;
        if (s != v) pl.inputs.push_back({i, s});
      }
      if (concat) {
        int64_t k = axis(u->attr_int("axis", 0), r);
        if (k < 0) return std::nullopt;
        int64_t nk = p[static_cast<size_t>(k)];
        pl.edit = [nk](Node* n) { set_int_attr(n, "axis", nk); };
      }
      return pl;
    }
    if ((op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && opset_ >= 13 && u->inputs().size() == 1) {
      int64_t k = axis(u->attr_int("axis", -1), r);
      if (k < 0) return std::nullopt;
      int64_t nk = p[static_cast<size_t>(k)];
      pl.inputs.push_back({0, a});
      pl.edit = [nk](Node* n) { set_int_attr(n, "axis", nk); };
      return pl;
    }
    if (in(kReduce, op)) return plan_reduce(g, u, t_out, a, p);
    if (op == "Pad" && opset_ >= 11 && u->input(0) == t_out && u->inputs().size() <= 3) {
      auto pads = u->input(1) ? constant_ints(u->input(1)) : std::nullopt;
      if (!pads || static_cast<int64_t>(pads->size()) != 2 * r || u->input(2) == t_out) return std::nullopt;
      std::vector<int64_t> np(pads->size());
      for (int64_t i = 0; i < r; ++i) {
        np[static_cast<size_t>(p[i])] = (*pads)[static_cast<size_t>(i)];
        np[static_cast<size_t>(r + p[i])] = (*pads)[static_cast<size_t>(r + i)];
      }
      pl.inputs.push_back({0, a});
      pl.inputs.push_back({1, int64_initializer(g, u->input(1)->name() + "_transposed", np)});
      return pl;
    }
    return std::nullopt;
  }

  std::optional<Plan> plan_reduce(Graph& g, Node* u, Value* t_out, Value* a, const Perm& p) {
    const int64_t r = static_cast<int64_t>(p.size());
    if (u->input(0) != t_out) return std::nullopt;
    const bool attr_axes = u->attr("axes") != nullptr;
    std::vector<int64_t> axes;
    if (attr_axes) {
      axes = u->attr_ints("axes");
    } else {
      if (u->inputs().size() < 2 || !u->input(1)) return std::nullopt;  // all axes (or none): left alone
      auto c = constant_ints(u->input(1));
      if (!c) return std::nullopt;
      axes = *c;
    }
    if (axes.empty()) return std::nullopt;
    std::vector<bool> reduced(static_cast<size_t>(r), false);  // by axis of the Transpose's output
    for (int64_t k : axes) {
      int64_t n = axis(k, r);
      if (n < 0 || reduced[static_cast<size_t>(n)]) return std::nullopt;
      reduced[static_cast<size_t>(n)] = true;
    }
    std::vector<int64_t> new_axes;
    std::vector<bool> reduced_a(static_cast<size_t>(r), false);  // by axis of a
    for (int64_t i = 0; i < r; ++i)
      if (reduced[static_cast<size_t>(i)]) {
        new_axes.push_back(p[static_cast<size_t>(i)]);
        reduced_a[static_cast<size_t>(p[static_cast<size_t>(i)])] = true;
      }
    std::sort(new_axes.begin(), new_axes.end());
    Plan pl;
    pl.inputs.push_back({0, a});
    if (u->attr_int("keepdims", 1) != 0) {
      pl.out_perm = p;
    } else {
      // Output axis j is the j-th kept axis i of the Transpose's output, which is a's axis p[i];
      // in the reduced tensor that axis sits at its rank among a's kept axes.
      std::vector<int64_t> position(static_cast<size_t>(r), -1);
      int64_t next = 0;
      for (int64_t i = 0; i < r; ++i)
        if (!reduced_a[static_cast<size_t>(i)]) position[static_cast<size_t>(i)] = next++;
      for (int64_t i = 0; i < r; ++i)
        if (!reduced[static_cast<size_t>(i)]) pl.out_perm.push_back(position[static_cast<size_t>(p[static_cast<size_t>(i)])]);
    }
    if (attr_axes) {
      pl.edit = [new_axes](Node* n) { set_ints_attr(n, "axes", new_axes); };
    } else {
      pl.inputs.push_back({1, int64_initializer(g, u->input(1)->name() + "_transposed", new_axes)});
    }
    return pl;
  }

  Value* int64_initializer(Graph& g, const std::string& base, const std::vector<int64_t>& values) {
    auto tensor = std::make_shared<Tensor>(names_.fresh(base), DataType::kInt64, std::vector<int64_t>{static_cast<int64_t>(values.size())});
    std::vector<uint8_t> bytes(values.size() * 8);
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    tensor->set_owned(std::move(bytes));
    return g.add_initializer(std::move(tensor));
  }

  void drop_if_dead(Graph& g, Node* n) {
    if (!n || n->graph() != &g || n->op_type() != "Transpose") return;
    if (n->output(0)->has_uses() || n->output(0)->is_graph_output()) return;
    alive_.erase(n);
    g.remove_node(n);
  }

  // Split_k(Transpose_p(a)) whose every output is read only by Transposes with the inverse perm:
  // Split_{p[k]}(a), and those Transposes go (each restores what the split of a gives). A Split
  // with another reader would need one Transpose per output: left alone.
  bool split_and_cancel(Graph& g, Node* t, Node* u, const Perm& p) {
    if (!u->domain().empty() || u->op_type() != "Split" || u->input(0) != t->output(0)) return false;
    const int64_t r = static_cast<int64_t>(p.size());
    int64_t k = axis(u->attr_int("axis", 0), r);
    if (k < 0) return false;
    const Perm q = inverse(p);
    std::vector<Node*> backs;
    for (size_t i = 0; i < u->num_outputs(); ++i) {
      Value* o = u->output(i);
      if (o->is_graph_output()) return false;
      int named = 0;  // back-Transposes that are graph outputs: o can take one name only
      for (const Use& use : o->uses()) {
        auto perm = perm_of(use.node);
        if (!perm || *perm != q || use.node->graph() != &g) return false;
        named += use.node->output(0)->is_graph_output() ? 1 : 0;
        backs.push_back(use.node);
      }
      if (named > 1) return false;
    }
    u->set_input(0, t->input(0));
    set_int_attr(u, "axis", p[static_cast<size_t>(k)]);
    for (size_t i = 0; i < u->num_outputs(); ++i) u->output(i)->set_type(untransposed(u->output(i)->type(), p));
    for (Node* back : backs) {
      // The back-Transpose's output is the split output itself now; a graph output keeps its name
      // (checked above: at most one per split output, so this cannot fail).
      replace_value(g, back->output(0), back->input(0));
      alive_.erase(back);
      g.remove_node(back);
    }
    alive_.erase(t);
    g.remove_node(t);
    return true;
  }

  // Moves Transpose `t` past its only user; returns the Transpose that now follows that user
  // (nullptr when nothing moved, or when it cancelled away behind a Split).
  Node* sink(Graph& g, Node* t) {
    auto p = perm_of(t);
    if (!p) return nullptr;
    Value* t_out = t->output(0);
    if (t_out->is_graph_output() || t_out->uses().size() != 1) return nullptr;
    Node* u = t_out->uses()[0].node;
    if (u->graph() == &g && split_and_cancel(g, t, u, *p)) {
      ++cancelled_;
      return nullptr;
    }
    if (u->graph() != &g || !u->domain().empty() || u->num_outputs() != 1 || !u->subgraphs().empty()) return nullptr;
    Value* out = u->output(0);
    if (out->is_graph_output()) return nullptr;
    // Constants are permuted into new initializers while planning; unused ones go with dce.
    auto pl = plan(g, u, t_out, t->input(0), *p);
    if (!pl) return nullptr;
    std::vector<Node*> replaced;
    for (auto& [i, v] : pl->inputs) {
      Value* old = u->input(i);
      if (old->producer() && old->producer()->op_type() == "Transpose") replaced.push_back(old->producer());
      u->set_input(i, v);
    }
    if (pl->edit) pl->edit(u);
    const Type after = out->type();
    Node* back = g.insert_node_before(u, "Transpose");
    g.move_before(u, back);
    back->set_name(names_.fresh(t->name().empty() ? out->name() + "/transpose" : t->name()));
    set_ints_attr(back, "perm", pl->out_perm);
    Value* moved = back->add_output(names_.fresh(out->name() + "_transposed"));
    g.replace_all_uses(out, moved);
    back->add_input(out);
    moved->set_type(after);
    out->set_type(untransposed(after, pl->out_perm));
    alive_.insert(back);
    for (Node* n : replaced) drop_if_dead(g, n);
    return back;
  }

  NameGen names_;
  uint64_t limit_;
  int64_t opset_;
  std::unordered_set<Node*> alive_;

 public:
  int64_t cancelled_ = 0;  // Splits the Transposes cancelled behind
};

}  // namespace

PassResult SinkTransposes::run(Model& model, const PassOptions& options) {
  PassResult r;
  if (!model.graph) return r;
  Sinker s(model, options);
  r.rewrites = s.graph(*model.graph);
  r.rewrites += s.cancelled_;
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
