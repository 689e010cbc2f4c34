#include "passes/cleanup/dedupe_weights.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

struct Candidate {
  Value* value;
  Node* constant_node;  // the Constant node producing `value`, or nullptr for an initializer
  const Tensor* tensor;
};

// Dense tensor held by a Constant node's `value` attribute (other forms are left to fold).
const Tensor* constant_node_tensor(const Node& n) {
  if (n.op_type() != "Constant" || (!n.domain().empty() && n.domain() != "ai.onnx") || n.num_outputs() != 1) return nullptr;
  const Attribute* a = n.attr("value");
  return a && a->kind == AttrKind::kTensor && a->t ? a->t.get() : nullptr;
}

uint64_t fnv(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// A fingerprint from at most 16 windows of 64 bytes spread evenly over the tensor (the whole
// tensor when it is small): touches a few pages, not the weight.
uint64_t fingerprint(const Tensor& t) {
  uint64_t h = 0xcbf29ce484222325ull;
  if (t.dtype() == DataType::kString) {
    for (const auto& s : t.strings()) h = fnv(h, reinterpret_cast<const uint8_t*>(s.data()), s.size()) * 31 + s.size();
    return h;
  }
  const uint8_t* p = t.data();
  size_t n = t.nbytes();
  constexpr size_t kWindow = 64, kWindows = 16;
  if (n <= kWindow * kWindows) {
    h = fnv(h, p, n);
    release_mapped_pages(t, p, n);  // a small tensor's read faults in its whole folio too
    return h;
  }
  size_t stride = (n - kWindow) / (kWindows - 1);
  for (size_t w = 0; w < kWindows; ++w) {
    h = fnv(h, p + w * stride, kWindow);
    // One read fault maps a whole page-cache folio: hand it back, or 16 windows of every
    // large weight would stay resident.
    release_mapped_pages(t, p + w * stride, kWindow);
  }
  return h;
}


// Full comparison in chunks; mapped pages are given back after each chunk.
bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() == DataType::kString) return a.strings() == b.strings();
  if (a.nbytes() != b.nbytes()) return false;
  if (a.storage() == b.storage() && a.storage_offset() == b.storage_offset()) return true;
  constexpr size_t kChunk = size_t{2} << 20;  // one page-cache folio per side
  const uint8_t *pa = a.data(), *pb = b.data();
  for (size_t off = 0; off < a.nbytes(); off += kChunk) {
    size_t len = std::min(kChunk, a.nbytes() - off);
    bool eq = std::memcmp(pa + off, pb + off, len) == 0;
    // Small ones too: BERT's same-shape LayerNorm and bias vectors otherwise kept ~15 MB of
    // folios resident.
    release_mapped_pages(a, pa + off, len);
    release_mapped_pages(b, pb + off, len);
    if (!eq) return false;
  }
  return true;
}

bool well_formed(const Tensor& t) {
  if (t.dtype() == DataType::kString) return t.strings().size() == t.element_count();
  auto expected = raw_bytes_for(t.dtype(), t.element_count());
  return expected && *expected == t.nbytes() && (t.nbytes() == 0 || t.data());
}

int64_t dedupe(Graph& g) {
  int64_t merged = 0;
  for (const auto& n : g.nodes())
    for (Graph* sub : n->subgraphs()) merged += dedupe(*sub);

  std::vector<Candidate> cands;
  // Computed tensors (weights compress_weights quantizes while they are written) are left out:
  // reading them to compare would compute and keep them all in memory, the copy compression
  // exists to avoid. Their sources were compared before compressing, and the writers store a
  // computed tensor reached twice once.
  for (Value* v : g.initializers())
    if (v->initializer() && !v->is_graph_input() && !v->initializer()->computed())
      cands.push_back({v, nullptr, v->initializer().get()});
  for (const auto& n : g.nodes())
    if (const Tensor* t = constant_node_tensor(*n); t && !t->computed()) cands.push_back({n->output(0), n.get(), t});

  // Group by what is free to read: dtype, dims, size. Keys keep candidate order (survivor first).
  using Shape = std::tuple<int32_t, std::vector<int64_t>, size_t>;
  std::map<Shape, std::vector<size_t>> by_shape;
  for (size_t i = 0; i < cands.size(); ++i) {
    const Tensor& t = *cands[i].tensor;
    if (!well_formed(t)) continue;
    by_shape[{static_cast<int32_t>(t.dtype()), t.dims(), t.nbytes()}].push_back(i);
  }
  std::vector<std::pair<size_t, size_t>> merges;  // (duplicate, survivor)
  for (auto& [shape, group] : by_shape) {
    if (group.size() < 2) continue;
    std::map<uint64_t, std::vector<size_t>> by_print;  // fingerprint -> distinct survivors so far
    for (size_t i : group) {
      auto& reps = by_print[fingerprint(*cands[i].tensor)];
      bool found = false;
      for (size_t r : reps) {
        if (same_bytes(*cands[r].tensor, *cands[i].tensor)) {
          merges.push_back({i, r});
          found = true;
          break;
        }
      }
      if (!found) reps.push_back(i);
    }
  }
  for (auto [d, r] : merges) {
    Candidate& dup = cands[d];
    Value* keep = cands[r].value;
    if (dup.value->is_graph_output()) continue;  // its name is part of the interface
    // Initializer metadata (doc strings, names) of the duplicate goes with it; the values are equal.
    g.replace_all_uses(dup.value, keep);
    if (dup.constant_node) g.remove_node(dup.constant_node);
    else g.remove_value(dup.value);
    ++merged;
  }
  return merged;
}

}  // namespace

PassResult DedupeWeights::run(Model& model, const PassOptions&) {
  PassResult r;
  if (!model.graph) return r;
  r.rewrites = dedupe(*model.graph);
  r.changed = r.rewrites > 0;
  return r;
}

}  // namespace irforge::passes
