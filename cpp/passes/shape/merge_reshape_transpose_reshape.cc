#include "passes/shape/merge_reshape_transpose_reshape.h"

#include <optional>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

using Dims = std::vector<Dim>;

bool is_op(const Node* n, const char* op) { return n && n->op_type() == op && n->domain().empty(); }

const Dims* dims_of(const Value* v) {
  if (!v) return nullptr;
  const Type& t = v->type();
  return t.is_tensor() && t.shape ? &*t.shape : nullptr;
}

// Known and the same size: equal static values or the same named dim.
bool same_known(const Dim& a, const Dim& b) {
  if (a.is_static() && b.is_static()) return a.value == b.value && a.value >= 0;
  return a.kind == Dim::Kind::kParam && b.kind == Dim::Kind::kParam && a.param == b.param;
}

// The combined perm when `last` (a Reshape) ends the pattern; nothing (no side effect) otherwise.
std::optional<std::vector<int64_t>> match(const Node& last) {
  if (!is_op(&last, "Reshape") || last.attr_int("allowzero", 0) != 0) return std::nullopt;
  Value* t_out = last.input(0);
  Node* transpose = t_out ? t_out->producer() : nullptr;
  if (!is_op(transpose, "Transpose") || !single_use_by(t_out, &last)) return std::nullopt;
  Value* r_out = transpose->input(0);
  Node* first = r_out ? r_out->producer() : nullptr;
  if (!is_op(first, "Reshape") || !single_use_by(r_out, transpose)) return std::nullopt;
  const Dims *x = dims_of(first->input(0)), *mid = dims_of(r_out), *out = dims_of(last.output(0));
  if (!x || !mid || !out || out->size() != x->size() || mid->size() < 2 || mid->size() >= x->size()) return std::nullopt;
  size_t r = x->size(), k = mid->size(), lead = r - k + 1;  // x's dims 0..lead-1 are merged
  std::vector<int64_t> p = transpose->attr_ints("perm");
  if (p.size() != k || p[0] != 0) return std::nullopt;
  for (size_t j = 1; j < k; ++j)
    if (!same_known((*mid)[j], (*x)[lead - 1 + j]) || p[j] < 1 || p[j] >= static_cast<int64_t>(k)) return std::nullopt;
  std::vector<int64_t> perm;
  for (size_t i = 0; i < lead; ++i) {
    if (!same_known((*out)[i], (*x)[i])) return std::nullopt;
    perm.push_back(static_cast<int64_t>(i));
  }
  for (size_t j = 1; j < k; ++j) {
    if (!same_known((*out)[lead - 1 + j], (*mid)[p[j]])) return std::nullopt;
    perm.push_back(static_cast<int64_t>(lead - 1) + p[j]);
  }
  return perm;
}

}  // namespace

PassResult MergeReshapeTransposeReshape::run(Model& model, const PassOptions&) {
  return rewrite_model(model, [&](Graph& g, Node* n) -> int64_t {
    auto perm = match(*n);
    if (!perm) return 0;
    Node* transpose = n->input(0)->producer();
    Node* first = transpose->input(0)->producer();
    // The last Reshape becomes the Transpose (its output keeps its name and users); the middle
    // two are left without users for dce.
    n->set_op_type("Transpose");
    n->attributes().clear();
    n->set_input(0, first->input(0));
    n->remove_input(1);
    set_ints_attr(n, "perm", *perm);
    return 1;
  });
}

}  // namespace irforge::passes
