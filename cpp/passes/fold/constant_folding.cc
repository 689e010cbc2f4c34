#include "passes/fold/constant_folding.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <vector>

#include "passes/fold/kernels.h"
#include "passes/fold/lazy_weights.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

bool used(const Value* v) { return v->has_uses() || v->is_graph_output(); }

// The bytes agree with dtype and dims (a kernel may then index them freely).
bool well_formed(const Tensor& t) {
  if (t.dtype() == DataType::kString) return t.strings().size() == t.element_count();
  auto expected = raw_bytes_for(t.dtype(), t.element_count());
  return expected && *expected == t.nbytes() && (t.nbytes() == 0 || t.data());
}

// The dims of a value whose IR type is a tensor of known rank, -1 where a dim is not static.
bool ir_dims(const Value* v, std::vector<int64_t>& dims) {
  const Type& t = v->type();
  if (!t.is_tensor() || !t.shape) return false;
  for (const Dim& d : *t.shape) dims.push_back(d.is_static() && d.value >= 0 ? d.value : -1);
  return true;
}

class Folder {
 public:
  explicit Folder(const PassOptions& options) : options_(options) {}

  int64_t node(Graph& g, Node* n) { return try_fold(g, n) ? 1 : 0; }

 private:
  bool try_fold(Graph& g, Node* n) {
    if (!n->domain().empty() && n->domain() != "ai.onnx") return false;
    fold::Kernel kernel = fold::find_kernel(n->op_type());
    if (!kernel || n->num_outputs() == 0 || !n->subgraphs().empty()) return false;
    bool any_used = false;
    for (size_t k = 0; k < n->num_outputs(); ++k) any_used = any_used || used(n->output(k));
    if (!any_used) return false;  // a dead node: dce's job

    const bool shape_op = n->op_type() == "Shape" || n->op_type() == "Size";
    Tensor dims_only;  // Shape/Size of a non-constant input: dims from the IR type
    std::vector<const Tensor*> inputs;
    uint64_t in_bytes = 0;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      Value* v = n->input(i);
      const Tensor* t = v ? constant_of(v) : nullptr;
      if (v && !t) {
        // Shape reads only the dims it returns (the kernel refuses a -1 among them); Size needs all.
        std::vector<int64_t> dims;
        if (!shape_op || i != 0 || !ir_dims(v, dims)) return false;
        if (n->op_type() == "Size" && std::count(dims.begin(), dims.end(), -1)) return false;
        dims_only = Tensor("", v->type().elem_type, std::move(dims));
        t = &dims_only;
      } else if (t) {
        if (!well_formed(*t)) return false;
        in_bytes += t->nbytes();
      }
      inputs.push_back(t);
    }
    // A Constant node's value is moved into an initializer, not created: no limit applies.
    uint64_t budget = n->op_type() == "Constant" ? std::numeric_limits<uint64_t>::max()
                                                 : std::max<uint64_t>(options_.fold_size_limit, in_bytes);
    // Never store a weight twice: when a large constant input is still read elsewhere (e.g. a
    // tied embedding under a Transpose), folding would keep it and add a transformed copy; only
    // small results may be folded then. As a budget, the kernel refuses before computing anything
    // (evaluating GPT-2's tied 154 MB Transpose only to drop it cost 0.46 s per fold round).
    // The result may still be as large as the constant inputs that folding frees (those only this
    // node reads): a BatchNorm's mean * scale with the scale shared by x * scale replaces the mean
    // by a same-sized vector, and leaving it unfolded at 2048 channels kept the BatchNorm unfused.
    constexpr uint64_t kAlwaysFoldBytes = 4096;
    if (n->op_type() != "Constant") {
      bool shares_large = false;
      uint64_t freed_bytes = 0;
      std::vector<Value*> seen;
      for (Value* v : n->inputs()) {
        const Tensor* t = v ? constant_of(v) : nullptr;
        if (!t || std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
        seen.push_back(v);
        // A borrowed weight (a live framework tensor) stays in memory after folding too.
        bool read_elsewhere = (t->storage() && t->storage()->borrowed()) || v->is_graph_output() ||
                              std::any_of(v->uses().begin(), v->uses().end(), [&](const Use& u) { return u.node != n; });
        if (!read_elsewhere)
          freed_bytes += t->nbytes();
        else if (t->nbytes() > kAlwaysFoldBytes)
          shares_large = true;
      }
      if (shares_large) budget = std::min(budget, std::max(kAlwaysFoldBytes, freed_bytes));
    }
    if (n->op_type() == "Transpose" && budget > kAlwaysFoldBytes && inputs.size() == 1 && inputs[0] &&
        inputs[0]->nbytes() > kLazyWeightBytes && fold_lazily(g, n))
      return true;
    fold::Evaluation ev(*n, std::move(inputs), budget);
    try {
      if (!kernel(ev)) return false;
    } catch (const std::exception&) {  // e.g. bad_alloc: folding is an optimization, never fatal
      return false;
    }
    auto& outs = ev.outputs();
    if (outs.size() != n->num_outputs()) return false;
    uint64_t out_bytes = 0;
    for (size_t k = 0; k < outs.size(); ++k) {
      const Type& declared = n->output(k)->type();
      if (declared.known() && (!declared.is_tensor() || (declared.elem_type != DataType::kUndefined && declared.elem_type != outs[k]->dtype())))
        return false;  // the model says otherwise: leave it to the verifier / runtime
      out_bytes += outs[k]->nbytes();
    }
    if (out_bytes > budget) return false;

    for (size_t k = 0; k < outs.size(); ++k) {
      Value* old = n->output(k);
      if (!used(old)) continue;
      outs[k]->set_name(old->name());
      Value* folded = g.add_initializer(outs[k]);  // same name; `old` goes away with the node
      if (old->is_graph_output() && old->type().known()) folded->set_type(old->type());  // the declared interface
      folded->doc_string() = old->doc_string();
      folded->metadata_props() = old->metadata_props();
      g.replace_all_uses(old, folded);
    }
    g.remove_node(n);
    return true;
  }

  // A large constant's Transpose (an HWIO kernel to OIHW) becomes a computed view the writer
  // streams: folding it at once would hold a permuted copy of every such weight in memory.
  static bool fold_lazily(Graph& g, Node* n) {
    Value* in = n->input(0);
    Value* old = n->output(0);
    if (old->is_graph_output()) return false;
    if (!in->initializer() || in->is_graph_input()) return false;  // (Constant nodes fold the ordinary way)
    std::shared_ptr<const Tensor> src = in->initializer();
    std::vector<int64_t> perm = n->attr_ints("perm");
    if (perm.empty() && !n->attr("perm"))
      for (size_t k = src->dims().size(); k-- > 0;) perm.push_back(static_cast<int64_t>(k));
    auto t = lazy_transpose(src, perm, old->name());
    if (!t) return false;
    const Type& declared = old->type();
    if (declared.known() && (!declared.is_tensor() || (declared.elem_type != DataType::kUndefined && declared.elem_type != t->dtype())))
      return false;
    Value* folded = g.add_initializer(t);
    folded->doc_string() = old->doc_string();
    folded->metadata_props() = old->metadata_props();
    g.replace_all_uses(old, folded);
    g.remove_node(n);
    return true;
  }

  const PassOptions& options_;
};

}  // namespace

PassResult ConstantFolding::run(Model& model, const PassOptions& options) {
  // rewrite_nodes' order (topological, subgraphs when their owner is reached) lets constant
  // chains fold in one sweep.
  Folder f(options);
  return rewrite_model(model, [&](Graph& g, Node* n) { return f.node(g, n); });
}

}  // namespace irforge::passes
