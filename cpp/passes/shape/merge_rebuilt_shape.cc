#include "passes/shape/merge_rebuilt_shape.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

// Elements [begin, end) of Shape(source) that one Concat input holds.
struct Piece {
  Value* shape;  // the Shape node's output
  Value* source;
  int64_t begin, end;
};

const std::vector<Dim>* dims_of(const Value* v) {
  const Type& t = v->type();
  return t.is_tensor() && t.shape ? &*t.shape : nullptr;
}

// The Shape node behind `v` (v itself or the data input of a Slice of it).
const Node* shape_node(const Value* v) {
  const Node* p = v ? v->producer() : nullptr;
  if (!p || !p->domain().empty() || p->op_type() != "Shape" || p->inputs().size() != 1 || !p->input(0)) return nullptr;
  if (p->attr("start") || p->attr("end")) return nullptr;
  return p;
}

std::optional<Piece> piece_of(Value* v) {
  if (const Node* s = shape_node(v)) {
    const auto* d = dims_of(s->input(0));
    if (!d) return std::nullopt;
    return Piece{v, s->input(0), 0, static_cast<int64_t>(d->size())};
  }
  const Node* sl = v ? v->producer() : nullptr;
  if (!sl || !sl->domain().empty() || sl->op_type() != "Slice" || sl->inputs().size() < 3) return std::nullopt;
  const Node* s = shape_node(sl->input(0));
  if (!s) return std::nullopt;
  const auto* d = dims_of(s->input(0));
  auto starts = constant_ints(sl->input(1)), ends = constant_ints(sl->input(2));
  if (!d || !starts || !ends || starts->size() != 1 || ends->size() != 1) return std::nullopt;
  if (sl->input(3)) {
    auto axes = constant_ints(sl->input(3));
    if (!axes || axes->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -1)) return std::nullopt;
  }
  if (sl->input(4)) {
    auto steps = constant_ints(sl->input(4));
    if (!steps || steps->size() != 1 || (*steps)[0] != 1) return std::nullopt;
  }
  const auto r = static_cast<int64_t>(d->size());
  auto clamp = [r](int64_t i) { return std::clamp(i < 0 ? i + r : i, int64_t{0}, r); };
  int64_t b = clamp((*starts)[0]), e = clamp((*ends)[0]);
  if (b >= e) return std::nullopt;
  return Piece{s->output(0), s->input(0), b, e};
}

bool same_dim(const Dim& a, const Dim& b) {
  if (a.is_static() && b.is_static()) return a.value == b.value;
  return a.kind == Dim::Kind::kParam && b.kind == Dim::Kind::kParam && a.param == b.param;
}

int64_t visit(Graph& g, Node* concat) {
  if (concat->op_type() != "Concat" || !concat->domain().empty() || concat->inputs().size() < 2 || concat->num_outputs() != 1) return 0;
  // Already bypassed (unused until dce runs): not a change.
  if (!concat->output(0)->has_uses() && !concat->output(0)->is_graph_output()) return 0;
  std::vector<Piece> pieces;
  int64_t next = 0;
  for (Value* in : concat->inputs()) {
    auto p = piece_of(in);
    if (!p || p->begin != next) return 0;  // a gap or an overlap
    next = p->end;
    pieces.push_back(*p);
  }
  // Each source whose Shape the pieces could be: its rank is covered exactly and every piece's
  // dims equal its own at the same indices.
  for (const Piece& candidate : pieces) {
    const auto* b = dims_of(candidate.source);
    if (!b || static_cast<int64_t>(b->size()) != next) continue;
    bool all_equal = true;
    for (const Piece& p : pieces) {
      const auto* a = dims_of(p.source);
      for (int64_t i = p.begin; i < p.end && all_equal; ++i)
        all_equal = p.source == candidate.source || same_dim((*a)[i], (*b)[i]);
    }
    if (all_equal && candidate.shape->type().is_tensor() &&
        candidate.shape->type().elem_type == concat->output(0)->type().elem_type)
      return replace_value(g, concat->output(0), candidate.shape) ? 1 : 0;
  }
  return 0;
}

}  // namespace

PassResult MergeRebuiltShape::run(Model& model, const PassOptions&) { return rewrite_model(model, visit); }

}  // namespace irforge::passes
