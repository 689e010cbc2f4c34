#include "passes/shape/simplify_shapes.h"

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "passes/shape/infer_shapes.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

using Dims = std::vector<Dim>;
using Contents = std::unordered_map<const Value*, Dims>;

bool used(const Value* v) { return v->has_uses() || v->is_graph_output(); }

bool all_static(const Dims& d) {
  for (const Dim& x : d)
    if (!x.is_static()) return false;
  return true;
}
bool all_known(const Dims& d) {
  for (const Dim& x : d)
    if (x.kind == Dim::Kind::kUnknown) return false;
  return true;
}

// Rank (0 or 1) of a shape value from its IR type; -1 when not a small int tensor of known rank.
int value_rank(const Value* v) {
  const Type& t = v->type();
  if (!t.is_tensor() || !t.shape || t.shape->size() > 1) return -1;
  return static_cast<int>(t.shape->size());
}

bool integral_shape_type(DataType t) { return t == DataType::kInt64 || t == DataType::kInt32 || t == DataType::kBool; }

class Simplifier {
 public:
  Simplifier(Model& m, Contents& contents) : model_(m), contents_(contents), names_(m) {}

  int64_t graph(Graph& g) {
    int64_t n = 0;
    std::vector<Node*> nodes;
    for (const auto& up : g.nodes()) nodes.push_back(up.get());
    std::map<std::string, Value*> first_with_content;  // rewrite 4, per graph
    for (Node* node : nodes) {
      for (Graph* sub : node->subgraphs()) n += graph(*sub);
      if (node->op_type() == "Reshape" && node->domain().empty()) n += reshape(g, *node);
      else if (node->op_type() == "Expand" && node->domain().empty()) n += expand(g, *node);
      else if (node->op_type() == "Flatten" && node->domain().empty()) n += flatten(g, *node);
      for (size_t k = 0; k < node->num_outputs(); ++k) {
        Value* v = node->output(k);
        if (!used(v) || constant_of(v)) continue;
        auto it = contents_.find(v);
        if (it == contents_.end()) continue;
        int rank = value_rank(v);
        DataType dt = v->type().elem_type;
        if (rank < 0 || !integral_shape_type(dt) || (rank == 0 && it->second.size() != 1)) continue;
        if (rank == 1 && (*v->type().shape)[0].is_static() && (*v->type().shape)[0].value != static_cast<int64_t>(it->second.size())) continue;
        if (all_static(it->second)) {
          n += to_constant(g, v, it->second, rank, dt);
        } else if (all_known(it->second) && !v->is_graph_output()) {
          std::string key = std::to_string(static_cast<int>(dt)) + "/" + std::to_string(rank);
          for (const Dim& d : it->second) key += "|" + (d.is_static() ? std::to_string(d.value) : "$" + d.param);
          auto [pos, inserted] = first_with_content.emplace(key, v);
          if (!inserted && pos->second != v) {
            g.replace_all_uses(v, pos->second);
            ++n;
          }
        }
      }
    }
    return n;
  }

 private:
  // A new initializer holding `dims` (all static) in the value's type and rank.
  Value* make_constant(Graph& g, const std::string& base, const Dims& dims, int rank, DataType dt) {
    std::vector<int64_t> shape;
    if (rank == 1) shape.push_back(static_cast<int64_t>(dims.size()));
    auto t = std::make_shared<Tensor>(names_.fresh(base), dt, shape);
    size_t width = dt == DataType::kInt64 ? 8 : dt == DataType::kInt32 ? 4 : 1;
    std::vector<uint8_t> bytes(dims.size() * width);
    for (size_t i = 0; i < dims.size(); ++i) {
      int64_t x = dims[i].value;
      if (dt == DataType::kInt64) std::memcpy(&bytes[i * 8], &x, 8);
      else if (dt == DataType::kInt32) {
        int32_t y = static_cast<int32_t>(x);
        std::memcpy(&bytes[i * 4], &y, 4);
      } else bytes[i] = x != 0;
    }
    t->set_owned(std::move(bytes));
    return g.add_initializer(std::move(t));
  }

  int64_t to_constant(Graph& g, Value* v, const Dims& dims, int rank, DataType dt) {
    if (v->is_graph_output()) return 0;  // folding would have to rename the interface
    Value* c = make_constant(g, v->name() + "_static", dims, rank, dt);
    g.replace_all_uses(v, c);
    return 1;
  }

  std::optional<Dims> content(const Value* v) const {
    if (!v) return std::nullopt;
    auto it = contents_.find(v);
    if (it != contents_.end()) return it->second;
    return std::nullopt;
  }

  int64_t reshape(Graph& g, Node& n) {
    Value* target = n.input(1);
    if (!target || constant_of(target) || n.attr_int("allowzero", 0) != 0) return 0;
    auto t = content(target);
    const Type& xt = n.input(0) ? n.input(0)->type() : Type{};
    if (!t || !xt.is_tensor() || !xt.shape) return 0;
    const Dims& in = *xt.shape;
    Dims out;
    int unresolved = -1;
    bool has_minus_one = false;
    for (size_t i = 0; i < t->size(); ++i) {
      const Dim& d = (*t)[i];
      if (d.is_static()) {
        has_minus_one |= d.value == -1;
        out.push_back(d);
      } else if (d.kind == Dim::Kind::kParam && i < in.size() && in[i].kind == Dim::Kind::kParam && in[i].param == d.param) {
        out.push_back(Dim::of(0));
      } else {
        if (unresolved >= 0) return 0;
        unresolved = static_cast<int>(i);
        out.push_back(Dim::of(-1));
      }
    }
    if (unresolved >= 0 && has_minus_one) return 0;
    n.set_input(1, make_constant(g, target->name() + "_static", out, 1, DataType::kInt64));
    return 1;
  }

  int64_t expand(Graph& g, Node& n) {
    Value* target = n.input(1);
    if (!target || constant_of(target)) return 0;
    auto t = content(target);
    const Type& xt = n.input(0) ? n.input(0)->type() : Type{};
    if (!t || !xt.is_tensor() || !xt.shape) return 0;
    const Dims& in = *xt.shape;
    Dims out;
    for (size_t i = 0; i < t->size(); ++i) {
      const Dim& d = (*t)[i];
      if (d.is_static()) {
        out.push_back(d);
        continue;
      }
      // Right-aligned input dim; the same named dim broadcasts as 1.
      size_t off = t->size() - i;
      if (off <= in.size() && in[in.size() - off].kind == Dim::Kind::kParam && d.kind == Dim::Kind::kParam &&
          in[in.size() - off].param == d.param) {
        out.push_back(Dim::of(1));
        continue;
      }
      return 0;
    }
    n.set_input(1, make_constant(g, target->name() + "_static", out, 1, DataType::kInt64));
    return 1;
  }

  // Flatten(x, axis) with a known rank is Reshape(x, [d, -1]) where d is 0 (copy) for axis 1, 1
  // for axis 0, or a static product; one Reshape by a constant instead of a runtime shape product.
  int64_t flatten(Graph& g, Node& n) {
    // Reshape takes its shape as an input from opset 5 on; before that (Reshape-1, shape as an
    // attribute) the rewritten node would not read back (found by fuzz_pipeline in an If body).
    if (model_.opset_version("") < 5) return 0;
    const Type& xt = n.input(0) ? n.input(0)->type() : Type{};
    if (!xt.is_tensor() || !xt.shape || n.inputs().size() != 1) return 0;
    const Dims& in = *xt.shape;
    int64_t rank = static_cast<int64_t>(in.size()), axis = n.attr_int("axis", 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) return 0;
    auto product = [&](int64_t b, int64_t e) -> std::optional<int64_t> {
      int64_t p = 1;
      for (int64_t i = b; i < e; ++i)
        if (!in[i].is_static() || in[i].value < 0 || __builtin_mul_overflow(p, in[i].value, &p)) return std::nullopt;
      return p;
    };
    Dims target;
    if (axis == 0) target = {Dim::of(1), Dim::of(-1)};
    else if (axis == 1) target = {Dim::of(0), Dim::of(-1)};
    else if (auto head = product(0, axis)) target = {Dim::of(*head), Dim::of(-1)};
    else if (auto tail = product(axis, rank)) target = {Dim::of(-1), Dim::of(*tail)};
    else return 0;
    Value* c = make_constant(g, n.output(0)->name() + "_shape", target, 1, DataType::kInt64);
    n.set_op_type("Reshape");
    n.attributes().clear();
    n.add_input(c);
    return 1;
  }

  Model& model_;
  Contents& contents_;
  NameGen names_;
};

}  // namespace

PassResult SimplifyShapes::run(Model& model, const PassOptions&) {
  PassResult r;
  if (!model.graph) return r;
  int64_t refined = 0;
  Contents contents = infer_shape_values(model, &refined);
  r.rewrites = Simplifier(model, contents).graph(*model.graph) + refined;
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
