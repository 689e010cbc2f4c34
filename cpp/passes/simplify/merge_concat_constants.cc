#include "passes/simplify/merge_concat_constants.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

// Concatenates constant tensors (same dtype and rank, equal dims but at `axis`) along `axis`.
std::shared_ptr<Tensor> concat(const std::vector<const Tensor*>& parts, size_t axis, const std::string& name, uint64_t limit) {
  const Tensor& first = *parts[0];
  const int bits = bits_per_element(first.dtype());
  if (bits < 8 || bits % 8 != 0) return nullptr;
  const size_t es = static_cast<size_t>(bits / 8);
  const size_t rank = first.dims().size();
  if (axis >= rank) return nullptr;
  std::vector<int64_t> dims = first.dims();
  dims[axis] = 0;
  uint64_t total = 0;
  for (const Tensor* t : parts) {
    if (t->dtype() != first.dtype() || t->dims().size() != rank || !t->data() || t->nbytes() != t->element_count() * es) return nullptr;
    for (size_t i = 0; i < rank; ++i)
      if (i != axis && t->dims()[i] != first.dims()[i]) return nullptr;
    dims[axis] += t->dims()[axis];
    total += t->nbytes();
  }
  if (total > limit) return nullptr;
  uint64_t outer = 1;
  for (size_t i = 0; i < axis; ++i) outer *= static_cast<uint64_t>(first.dims()[i]);
  std::vector<uint8_t> bytes(total);
  uint8_t* out = bytes.data();
  for (uint64_t o = 0; o < outer; ++o)
    for (const Tensor* t : parts) {
      // One block per outer index: the part's dims from `axis` on.
      const uint64_t block = outer ? t->nbytes() / outer : 0;
      if (block) std::memcpy(out, t->data() + o * block, block);
      out += block;
    }
  auto result = std::make_shared<Tensor>(name, first.dtype(), dims);
  result->set_owned(std::move(bytes));
  return result;
}

class Merger {
 public:
  Merger(Model& m, const PassOptions& o) : names_(m), limit_(o.fold_size_limit) {}

  int64_t visit(Graph& g, Node* n) {
    if (n->op_type() != "Concat" || !n->domain().empty() || n->inputs().size() < 3) return 0;
    std::vector<const Tensor*> consts;
    for (Value* v : n->inputs()) consts.push_back(v ? constant_of(v) : nullptr);
    size_t all = 0;
    for (const Tensor* t : consts) all += t != nullptr;
    if (all == consts.size()) return 0;  // fold makes the whole Concat constant
    int64_t rank = -1;  // every input has the Concat's rank: take a constant's
    for (const Tensor* t : consts)
      if (t) rank = static_cast<int64_t>(t->dims().size());
    int64_t axis = n->attr_int("axis", 0);
    if (rank <= 0 || axis < -rank || axis >= rank) return 0;
    if (axis < 0) axis += rank;
    std::vector<Value*> inputs;
    int64_t merged = 0;
    for (size_t i = 0; i < consts.size();) {
      size_t j = i;
      while (j < consts.size() && consts[j]) ++j;
      if (j - i >= 2) {
        std::vector<const Tensor*> run(consts.begin() + static_cast<long>(i), consts.begin() + static_cast<long>(j));
        auto t = concat(run, static_cast<size_t>(axis), names_.fresh(n->name().empty() ? "concat_constant" : n->name() + "_constant"), limit_);
        if (t) {
          inputs.push_back(g.add_initializer(std::move(t)));
          merged += static_cast<int64_t>(j - i) - 1;
          i = j;
          continue;
        }
      }
      for (size_t k = i; k < std::max(j, i + 1); ++k) inputs.push_back(n->input(k));
      i = std::max(j, i + 1);
    }
    if (!merged) return 0;
    n->clear_inputs();
    for (Value* v : inputs) n->add_input(v);
    return 1;
  }

 private:
  NameGen names_;
  uint64_t limit_;
};

}  // namespace

PassResult MergeConcatConstants::run(Model& model, const PassOptions& options) {
  Merger m(model, options);
  return rewrite_model(model, [&m](Graph& g, Node* n) { return m.visit(g, n); });
}

}  // namespace irforge::passes
