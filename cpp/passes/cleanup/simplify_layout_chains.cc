#include "passes/cleanup/simplify_layout_chains.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "passes/fusion/weight_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

using fusion::is_op;
using fusion::known_rank;
using Ints = std::vector<int64_t>;

// The permutation a Transpose applies (its default reverses the dims), nullopt when unknown.
std::optional<Ints> perm_of(const Node* t) {
  if (t->attr("perm")) {
    Ints p = t->attr_ints("perm");
    Ints sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i)
      if (sorted[i] != static_cast<int64_t>(i)) return std::nullopt;  // malformed: leave it
    return p;
  }
  int64_t r = known_rank(t->input(0));
  if (r < 0) return std::nullopt;
  Ints p(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i) p[i] = r - 1 - i;
  return p;
}

bool is_identity(const Ints& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// Squeeze/Unsqueeze axes (input 1 from opset 13, attribute before), sorted and made
// non-negative for a tensor of rank `rank` (-1 = unknown: only non-negative axes then work).
std::optional<Ints> normalized_axes(const Node* n, int64_t rank) {
  std::optional<Ints> axes;
  if (n->input(1)) axes = constant_ints(n->input(1));
  else if (n->attr("axes")) axes = n->attr_ints("axes");
  if (!axes || axes->empty()) return std::nullopt;
  for (int64_t& a : *axes) {
    if (a < 0) {
      if (rank < 0) return std::nullopt;
      a += rank;
    }
    if (a < 0 || (rank >= 0 && a >= rank)) return std::nullopt;
  }
  std::sort(axes->begin(), axes->end());
  if (std::adjacent_find(axes->begin(), axes->end()) != axes->end()) return std::nullopt;
  return axes;
}

class Simplifier {
 public:
  explicit Simplifier(Model& m) : names_(m) {}

  int64_t node(Graph& g, Node* n) {
    if (is_op(n, "Transpose")) return transpose(g, n);
    if (is_op(n, "Reshape")) return reshape(g, n);
    if (is_op(n, "Squeeze") || is_op(n, "Unsqueeze")) return squeeze_pair(g, n);
    return 0;
  }

 private:
  // `n` forwards `x` unchanged: its users read `x` instead and `n` goes.
  bool bypass(Graph& g, Node* n, Value* x) {
    if (!replace_value(g, n->output(0), x)) return false;
    g.remove_node(n);
    return true;
  }

  // The producer of a chain's inner op, removed once nothing reads it any more.
  void drop_if_dead(Graph& g, Node* n) {
    for (size_t k = 0; k < n->num_outputs(); ++k)
      if (n->output(k)->has_uses() || n->output(k)->is_graph_output()) return;
    g.remove_node(n);
  }

  int64_t transpose(Graph& g, Node* n) {
    if (!n->input(0) || n->num_outputs() != 1) return 0;
    auto p2 = perm_of(n);
    if (!p2) return 0;
    Node* first = fusion::local_producer(n->input(0), n);
    if (is_op(first, "Transpose") && first->input(0) && first->num_outputs() == 1) {
      auto p1 = perm_of(first);
      if (!p1 || p1->size() != p2->size()) return 0;
      Ints q(p2->size());
      for (size_t i = 0; i < q.size(); ++i) q[i] = (*p1)[static_cast<size_t>((*p2)[i])];
      Value* x = first->input(0);
      if (is_identity(q) && bypass(g, n, x)) {
        drop_if_dead(g, first);
        return 1;
      }
      n->set_input(0, x);
      set_ints_attr(n, "perm", q);
      drop_if_dead(g, first);
      return 1;
    }
    if (is_op(first, "Reshape") && first->num_outputs() == 1) return reshape_then_transpose(g, n, first, *p2);
    if (is_identity(*p2) && bypass(g, n, n->input(0))) return 1;
    return 0;
  }

  // Transpose(p) ∘ Reshape(s) → Reshape(s permuted by p) when p moves only dims s spells as 1:
  // the other dims keep their order, so no element moves (Keras' squeeze-excite reshapes
  // [N, C] to [N, 1, 1, C] right before the NHWC→NCHW Transpose of its 1x1 conv).
  int64_t reshape_then_transpose(Graph& g, Node* n, Node* first, const Ints& p) {
    Value* mid = first->output(0);
    if (mid->is_graph_output() || mid->uses().size() != 1 || !first->input(0) || !first->input(1)) return 0;
    auto s = constant_ints(first->input(1));
    if (!s || s->size() != p.size()) return 0;
    Ints moved(p.size());
    int64_t last = -1;
    for (size_t i = 0; i < p.size(); ++i) {
      const int64_t k = p[i];
      moved[i] = (*s)[static_cast<size_t>(k)];
      if (moved[i] == 1) continue;
      if (moved[i] == 0 && k != static_cast<int64_t>(i)) return 0;  // a 0 copies the input dim at its own position
      if (k < last) return 0;
      last = k;
    }
    first->set_input(1, shape_initializer(g, first->input(1)->name() + "_transposed", moved));
    mid->set_type(n->output(0)->type());
    return bypass(g, n, mid) ? 1 : 0;  // cannot fail: `mid` has a producer and is no graph output
  }

  Value* shape_initializer(Graph& g, const std::string& base, const Ints& shape) {
    auto t = std::make_shared<Tensor>(names_.fresh(base), DataType::kInt64, Ints{static_cast<int64_t>(shape.size())});
    std::vector<uint8_t> bytes(shape.size() * 8);
    if (!bytes.empty()) std::memcpy(bytes.data(), shape.data(), bytes.size());
    t->set_owned(std::move(bytes));
    Value* v = g.add_initializer(std::move(t));
    v->set_type(Type::tensor(DataType::kInt64, {Dim::of(static_cast<int64_t>(shape.size()))}));
    return v;
  }

  int64_t reshape(Graph& g, Node* n) {
    Node* first = fusion::local_producer(n->input(0), n);
    if (!is_op(first, "Reshape") || !first->input(0) || n->num_outputs() != 1) return 0;
    auto shape = n->input(1) ? constant_ints(n->input(1)) : std::nullopt;
    if (!shape) return 0;
    bool substituted = false;
    if (n->attr_int("allowzero", 0) == 0) {
      const Type& mid = n->input(0)->type();
      for (size_t i = 0; i < shape->size(); ++i) {
        if ((*shape)[i] != 0) continue;
        if (!mid.is_tensor() || !mid.shape || i >= mid.shape->size()) return 0;
        const Dim& d = (*mid.shape)[i];
        if (!d.is_static() || d.value <= 0) return 0;  // a copied 0 cannot be spelled without allowzero
        (*shape)[i] = d.value;
        substituted = true;
      }
    }
    if (substituted) {
      auto t = std::make_shared<Tensor>(names_.fresh(n->input(1)->name() + "_merged"), DataType::kInt64, Ints{static_cast<int64_t>(shape->size())});
      std::vector<uint8_t> bytes(shape->size() * 8);
      if (!bytes.empty()) std::memcpy(bytes.data(), shape->data(), bytes.size());
      t->set_owned(std::move(bytes));
      Value* v = g.add_initializer(std::move(t));
      v->set_type(Type::tensor(DataType::kInt64, {Dim::of(static_cast<int64_t>(shape->size()))}));
      n->set_input(1, v);
    }
    n->set_input(0, first->input(0));
    drop_if_dead(g, first);
    return 1;
  }

  int64_t squeeze_pair(Graph& g, Node* n) {
    Node* first = fusion::local_producer(n->input(0), n);
    const bool n_squeezes = n->op_type() == "Squeeze";
    if (!first || !is_op(first, n_squeezes ? "Unsqueeze" : "Squeeze") || !first->input(0) || n->num_outputs() != 1) return 0;
    // Both axes sets are read against the larger rank: Unsqueeze's output = Squeeze's input.
    Value* x = first->input(0);
    int64_t big = -1;
    if (int64_t r = known_rank(n_squeezes ? n->input(0) : x); r >= 0) big = r;
    auto a1 = normalized_axes(first, big);
    auto a2 = normalized_axes(n, big);
    if (!a1 || !a2 || *a1 != *a2) return 0;
    if (!bypass(g, n, x)) return 0;
    drop_if_dead(g, first);
    return 1;
  }

  NameGen names_;
};

}  // namespace

PassResult SimplifyLayoutChains::run(Model& model, const PassOptions&) {
  if (!model.graph) return {};
  Simplifier s(model);
  return rewrite_model(model, [&](Graph& g, Node* n) { return s.node(g, n); });
}

}  // namespace irforge::passes
