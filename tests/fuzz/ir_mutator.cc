#include "ir_mutator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/onnx/reader.h"
#include "io/onnx/writer.h"
#include "io/openvino/lowering.h"
#include "ir/graph.h"
#include "support/error.h"

namespace irforge::fuzz {

namespace {

using Rng = std::mt19937;

size_t pick(Rng& rng, size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }
bool one_in(Rng& rng, size_t n) { return pick(rng, n) == 0; }
template <typename T>
T& pick_from(Rng& rng, std::vector<T>& v) { return v[pick(rng, v.size())]; }

// Integers that break arithmetic on axes, sizes, strides and counts. Wrapping arithmetic in
// uint64_t: the mutator itself must not be what UBSan reports.
int64_t edge_int(Rng& rng, int64_t current) {
  auto u = static_cast<uint64_t>(current);
  const int64_t table[] = {0, 1, -1, 2, -2, 3, 4, 7, 64, std::numeric_limits<int32_t>::max(),
                           std::numeric_limits<int32_t>::min(), int64_t{1} << 31, int64_t{1} << 32, int64_t{1} << 40,
                           int64_t{1} << 62, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
  switch (pick(rng, 4)) {
    case 0: return static_cast<int64_t>(u + 1);
    case 1: return static_cast<int64_t>(u - 1);
    case 2: return static_cast<int64_t>(uint64_t{0} - u);
    default: return table[pick(rng, std::size(table))];
  }
}

float edge_float(Rng& rng, float current) {
  const float table[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                         -std::numeric_limits<float>::infinity(), 0.f, -0.f, std::numeric_limits<float>::denorm_min(),
                         std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), -1.f, 1.f, 0.5f, 1e-12f, 65504.f,
                         current * 2.f, -current};
  return table[pick(rng, std::size(table))];
}

// Strings that attributes compare against (auto_pad, mode, direction, ...), plus odd ones.
std::string edge_string(Rng& rng, const std::string& current) {
  static const char* const table[] = {"", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "constant", "reflect", "edge", "wrap",
                                      "linear", "nearest", "cubic", "bilinear", "half_pixel", "asymmetric", "align_corners",
                                      "tf_crop_and_resize", "DCR", "CRD", "forward", "reverse", "bidirectional", "tanh",
                                      "none", "sum", "mean", "max", "min", "NHWC", "ij,jk->ik", "...ii->...i", "ab,ab->",
                                      "round_prefer_floor", "floor", "ceil", "legacy"};
  if (one_in(rng, 6)) return current + current;
  return table[pick(rng, std::size(table))];
}

const DataType kTypes[] = {DataType::kUndefined, DataType::kFloat, DataType::kFloat16, DataType::kBfloat16, DataType::kDouble,
                           DataType::kInt64, DataType::kInt32, DataType::kInt8, DataType::kUint8, DataType::kBool,
                           DataType::kString, DataType::kInt4, DataType::kUint4, DataType::kFloat8E4M3FN, DataType::kComplex64};

// Everything in the model a mutation may touch, gathered once per mutation round.
struct Parts {
  std::vector<Graph*> graphs;
  std::vector<Node*> nodes;
  std::vector<Value*> values;        // graph inputs, initializers, node outputs
  std::vector<Value*> initializers;
  std::vector<Tensor*> tensors;      // initializer data and tensor attributes
};

void collect(Graph& root, Parts& p) {
  for_each_graph(root, [&](Graph& g) {
    p.graphs.push_back(&g);
    for (Value* v : g.inputs()) p.values.push_back(v);
    for (Value* v : g.initializers()) {
      p.values.push_back(v);
      p.initializers.push_back(v);
      if (v->initializer()) p.tensors.push_back(v->initializer().get());
    }
    for (const auto& n : g.nodes()) {
      p.nodes.push_back(n.get());
      for (size_t i = 0; i < n->num_outputs(); ++i) p.values.push_back(n->output(i));
      for (Attribute& a : n->attributes()) {
        if (a.t) p.tensors.push_back(a.t.get());
        for (auto& t : a.tensors) p.tensors.push_back(t.get());
      }
    }
  });
}

Parts collect(Model& m) {
  Parts p;
  if (m.graph) collect(*m.graph, p);
  for (Function& f : m.functions)
    if (f.body) collect(*f.body, p);
  return p;
}

// Values node `n` may use without leaving its scope: those of its graph defined before it, and
// those of enclosing graphs. (Values of unrelated graphs would leave dangling uses.)
std::vector<Value*> visible_before(Node* n) {
  std::vector<Value*> out;
  for (Graph* g = n->graph(); g; g = g->parent()) {
    for (Value* v : g->inputs()) out.push_back(v);
    for (Value* v : g->initializers()) out.push_back(v);
    for (const auto& other : g->nodes()) {
      if (g == n->graph() && other.get() == n) break;
      for (size_t i = 0; i < other->num_outputs(); ++i) out.push_back(other->output(i));
    }
  }
  return out;
}

class Mutator {
 public:
  Mutator(Model& m, Rng& rng, unsigned seed) : m_(m), rng_(rng), seed_(seed), p_(collect(m)) {}

  // Tries mutations until one applies (a few attempts); returns whether any did.
  bool mutate_once() {
    for (int attempt = 0; attempt < 8; ++attempt) {
      bool done = false;
      switch (pick(rng_, 13)) {
        case 0: case 1: done = attribute_value(); break;
        case 2: done = attribute_presence(); break;
        case 3: case 4: done = declared_dims(); break;
        case 5: done = declared_elem_type(); break;
        case 6: done = op_type(); break;
        case 7: done = rewire_input(); break;
        case 8: done = node_arity(); break;
        case 9: done = graph_outputs(); break;
        case 10: done = tensor_dims(); break;
        case 11: done = tensor_bytes(); break;
        case 12: done = one_in(rng_, 2) ? bypass_node() : opset(); break;
      }
      // A mutation may free what the gathered parts point at (an erased tensor attribute, a
      // bypassed node, a dropped output): gather them again before the next one.
      if (done) {
        p_ = collect(m_);
        return true;
      }
    }
    return false;
  }

 private:
  std::string fresh_name() { return "fz" + std::to_string(seed_) + "_" + std::to_string(counter_++); }

  Node* some_node() { return p_.nodes.empty() ? nullptr : pick_from(rng_, p_.nodes); }

  bool attribute_value() {
    Node* n = some_node();
    if (!n || n->attributes().empty()) return false;
    Attribute& a = pick_from(rng_, n->attributes());
    switch (a.kind) {
      case AttrKind::kInt: a.i = edge_int(rng_, a.i); return true;
      case AttrKind::kFloat: a.f = edge_float(rng_, a.f); return true;
      case AttrKind::kString: a.s = edge_string(rng_, a.s); return true;
      case AttrKind::kInts: mutate_list(a.ints, [&](int64_t v) { return edge_int(rng_, v); }); return true;
      case AttrKind::kFloats: mutate_list(a.floats, [&](float v) { return edge_float(rng_, v); }); return true;
      case AttrKind::kStrings: mutate_list(a.strings, [&](const std::string& v) { return edge_string(rng_, v); }); return true;
      case AttrKind::kTensor: return a.t && reshape_tensor(*a.t);
      default: return false;
    }
  }

  // Lists: shortened, lengthened, an entry duplicated, an entry set to an edge value, emptied.
  template <typename T, typename Edge>
  void mutate_list(std::vector<T>& list, Edge edge) {
    switch (pick(rng_, 6)) {
      case 0: if (!list.empty()) list.pop_back(); break;
      case 1: list.push_back(list.empty() ? edge(T{}) : list.back()); break;
      case 2:
        if (!list.empty()) {
          T copy = pick_from(rng_, list);
          list.insert(list.begin() + static_cast<std::ptrdiff_t>(pick(rng_, list.size())), std::move(copy));
        }
        break;
      case 3: list.clear(); break;
      case 4: list.push_back(edge(T{})); break;
      default: if (!list.empty()) { T& e = pick_from(rng_, list); e = edge(e); } break;
    }
  }

  // Removes an attribute (its default then applies) or adds one a lowering or pass reads.
  bool attribute_presence() {
    Node* n = some_node();
    if (!n) return false;
    auto& attrs = n->attributes();
    if (!attrs.empty() && one_in(rng_, 2)) {
      size_t i = pick(rng_, attrs.size());
      if (attrs[i].g || !attrs[i].graphs.empty()) return false;  // removing a body only tests the reader
      attrs.erase(attrs.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
    static const char* const int_names[] = {"axis", "keepdims", "group", "to", "transA", "transB", "batch_dims", "ceil_mode",
                                            "count_include_pad", "stash_type", "num_outputs", "noop_with_empty_axes",
                                            "exclusive", "reverse", "select_last_index", "upper", "blocksize", "block_size",
                                            "output_dtype", "hidden_size", "sorted", "largest", "allowzero", "is_causal"};
    static const char* const ints_names[] = {"axes", "perm", "pads", "strides", "dilations", "kernel_shape", "output_padding",
                                             "output_shape", "split", "starts", "ends", "shape"};
    static const char* const float_names[] = {"epsilon", "alpha", "beta", "gamma", "momentum", "scale", "bias", "lambd"};
    Attribute a;
    switch (pick(rng_, 3)) {
      case 0:
        a.name = int_names[pick(rng_, std::size(int_names))];
        a.kind = AttrKind::kInt;
        a.i = edge_int(rng_, 0);
        break;
      case 1:
        a.name = ints_names[pick(rng_, std::size(ints_names))];
        a.kind = AttrKind::kInts;
        for (size_t k = pick(rng_, 6); k > 0; --k) a.ints.push_back(edge_int(rng_, 1));
        break;
      default:
        a.name = float_names[pick(rng_, std::size(float_names))];
        a.kind = AttrKind::kFloat;
        a.f = edge_float(rng_, 1.f);
        break;
    }
    for (Attribute& existing : attrs)
      if (existing.name == a.name) return false;
    attrs.push_back(std::move(a));
    return true;
  }

  Value* some_tensor_value() {
    std::vector<Value*> typed;
    for (Value* v : p_.values)
      if (v->type().is_tensor()) typed.push_back(v);
    return typed.empty() ? nullptr : pick_from(rng_, typed);
  }

  // Declared dims: a dim becomes 0, -1, 1, huge, symbolic or unknown; the rank changes; the
  // shape is dropped or added.
  bool declared_dims() {
    Value* v = some_tensor_value();
    if (!v) return false;
    Type& t = v->type();
    if (!t.shape) {
      t.shape = Shape{};
      for (size_t k = pick(rng_, 5); k > 0; --k) t.shape->push_back(Dim::of(static_cast<int64_t>(pick(rng_, 4))));
      return true;
    }
    Shape& s = *t.shape;
    switch (pick(rng_, 6)) {
      case 0: if (s.empty()) return false; s.pop_back(); return true;
      case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(pick(rng_, s.size() + 1)), Dim::of(1)); return true;
      case 2: t.shape.reset(); return true;
      case 3: if (s.empty()) return false; pick_from(rng_, s) = Dim::symbol(one_in(rng_, 2) ? "N" : fresh_name()); return true;
      case 4: if (s.empty()) return false; pick_from(rng_, s) = Dim{}; return true;
      default: {
        if (s.empty()) return false;
        Dim& d = pick_from(rng_, s);
        d = Dim::of(edge_int(rng_, d.is_static() ? d.value : 1));
        return true;
      }
    }
  }

  bool declared_elem_type() {
    Value* v = some_tensor_value();
    if (!v) return false;
    v->type().elem_type = kTypes[pick(rng_, std::size(kTypes))];
    return true;
  }

  // Another op the OpenVINO lowering knows, with the node's inputs and attributes as they are.
  bool op_type() {
    static const std::vector<std::string> ops = [] {
      std::vector<std::string> out;
      for (const std::string& op : ov::lower_registry().ops())
        if (op.find("::") == std::string::npos) out.push_back(op);
      return out;
    }();
    Node* n = some_node();
    if (!n || ops.empty() || !n->subgraphs().empty()) return false;
    n->set_op_type(ops[pick(rng_, ops.size())]);
    n->set_domain("");
    return true;
  }

  bool rewire_input() {
    Node* n = some_node();
    if (!n || n->inputs().empty()) return false;
    std::vector<Value*> candidates = visible_before(n);
    if (candidates.empty()) return false;
    n->set_input(pick(rng_, n->inputs().size()), pick_from(rng_, candidates));
    return true;
  }

  // Inputs dropped (removed or left out as "") or added; outputs added.
  bool node_arity() {
    Node* n = some_node();
    if (!n) return false;
    switch (pick(rng_, 4)) {
      case 0:
        if (n->inputs().empty()) return false;
        n->remove_input(pick(rng_, n->inputs().size()));
        return true;
      case 1:
        if (n->inputs().empty()) return false;
        n->set_input(pick(rng_, n->inputs().size()), nullptr);
        return true;
      case 2: {
        std::vector<Value*> candidates = visible_before(n);
        if (candidates.empty()) return false;
        n->add_input(pick_from(rng_, candidates));
        return true;
      }
      default: {
        Value* out = n->add_output(fresh_name());
        if (n->num_outputs() > 1 && n->output(0)->type().known() && one_in(rng_, 2)) out->set_type(n->output(0)->type());
        return true;
      }
    }
  }

  // A graph output added, replaced by another value of the graph, or removed.
  bool graph_outputs() {
    Graph* g = pick_from(rng_, p_.graphs);
    std::vector<Value*> own;
    for (Value* v : g->inputs()) own.push_back(v);
    for (const auto& n : g->nodes())
      for (size_t i = 0; i < n->num_outputs(); ++i) own.push_back(n->output(i));
    switch (pick(rng_, 3)) {
      case 0:
        if (own.empty()) return false;
        g->add_output(pick_from(rng_, own));
        return true;
      case 1:
        if (own.empty() || g->outputs().empty()) return false;
        g->set_output(pick(rng_, g->outputs().size()), pick_from(rng_, own));
        return true;
      default: {
        if (g->outputs().size() < 2) return false;
        std::vector<Value*> keep = g->outputs();
        keep.erase(keep.begin() + static_cast<std::ptrdiff_t>(pick(rng_, keep.size())));
        g->clear_outputs();
        for (Value* v : keep) g->add_output(v);
        return true;
      }
    }
  }

  // New dims for a tensor: mostly with the same element count (rank changes the reader cannot
  // tell from the data), sometimes not (dims that disagree with the bytes).
  bool reshape_tensor(Tensor& t) {
    std::vector<int64_t> d = t.dims();
    switch (pick(rng_, 6)) {
      case 0: d.insert(d.begin(), 1); break;
      case 1: {
        if (d.empty()) return false;
        uint64_t n = 1;
        for (int64_t x : d) n *= static_cast<uint64_t>(x);  // wraps for dims an earlier edit made huge
        d = {static_cast<int64_t>(n)};
        break;
      }
      case 2: if (d.size() < 2) return false; std::reverse(d.begin(), d.end()); break;
      case 3: if (d.empty() || d.back() != 1) return false; d.pop_back(); break;
      case 4: d.push_back(pick(rng_, 3)); break;
      default: if (d.empty()) return false; { int64_t& x = pick_from(rng_, d); x = edge_int(rng_, x); } break;
    }
    t.set_dims(std::move(d));
    return true;
  }

  bool tensor_dims() {
    if (p_.tensors.empty()) return false;
    Tensor& t = *pick_from(rng_, p_.tensors);
    if (one_in(rng_, 8)) {
      t.set_dtype(kTypes[pick(rng_, std::size(kTypes))]);  // bytes of another element type
      return true;
    }
    return reshape_tensor(t);
  }

  // Tensor contents drive shape inference and folding (Reshape targets, axes, pads, scales):
  // a few elements set to edge values, or all of them to one value.
  bool tensor_bytes() {
    if (p_.tensors.empty()) return false;
    Tensor& t = *pick_from(rng_, p_.tensors);
    if (t.nbytes() == 0 || !t.data()) return false;
    std::vector<uint8_t> bytes(t.data(), t.data() + t.nbytes());
    int width = 0;
    bool is_float = false;
    switch (t.dtype()) {
      case DataType::kInt64: width = 8; break;
      case DataType::kInt32: width = 4; break;
      case DataType::kFloat: width = 4; is_float = true; break;
      default: width = 1; break;
    }
    size_t count = bytes.size() / static_cast<size_t>(width);
    if (count == 0) return false;
    auto put = [&](size_t idx) {
      uint8_t* at = bytes.data() + idx * static_cast<size_t>(width);
      if (is_float) {
        float f;
        std::memcpy(&f, at, 4);
        f = edge_float(rng_, f);
        std::memcpy(at, &f, 4);
      } else if (width == 8) {
        int64_t v;
        std::memcpy(&v, at, 8);
        v = edge_int(rng_, v);
        std::memcpy(at, &v, 8);
      } else if (width == 4) {
        int32_t v;
        std::memcpy(&v, at, 4);
        v = static_cast<int32_t>(edge_int(rng_, v));
        std::memcpy(at, &v, 4);
      } else {
        *at = static_cast<uint8_t>(rng_());
      }
    };
    if (one_in(rng_, 4)) {
      put(0);
      for (size_t i = 1; i < count; ++i)
        std::memcpy(bytes.data() + i * static_cast<size_t>(width), bytes.data(), static_cast<size_t>(width));
    } else {
      for (size_t k = 1 + pick(rng_, 3); k > 0; --k) put(pick(rng_, count));
    }
    t.set_owned(std::move(bytes));
    return true;
  }

  // A node removed, its outputs replaced by its first input (a fusion pattern with a link
  // missing, or a value of the wrong shape arriving somewhere).
  bool bypass_node() {
    Node* n = some_node();
    if (!n || !n->input(0) || n->num_outputs() == 0) return false;
    Value* in = n->input(0);
    for (size_t i = 0; i < n->num_outputs(); ++i) n->graph()->replace_all_uses(n->output(i), in);
    n->graph()->remove_node(n);
    p_ = collect(m_);
    return true;
  }

  bool opset() {
    static const int64_t versions[] = {1, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 1000};
    for (OpsetImport& o : m_.opset_imports) {
      if (o.domain.empty() || o.domain == "ai.onnx") {
        o.version = versions[pick(rng_, std::size(versions))];
        return true;
      }
    }
    return false;
  }

  Model& m_;
  Rng& rng_;
  unsigned seed_;
  Parts p_;
  int counter_ = 0;
};

std::unique_ptr<Model> parse(const uint8_t* data, size_t size) {
  try {
    auto bytes = std::make_shared<OwnedStorage>(std::vector<uint8_t>(data, data + size));
    std::unique_ptr<Model> m = read_onnx_bytes(bytes, "", "<fuzz mutator>");
    return m && m->graph ? std::move(m) : nullptr;
  } catch (const Error&) {
    return nullptr;
  }
}

size_t serialize(const Model& m, uint8_t* out, size_t max_size) {
  std::string bytes;
  try {
    bytes = write_onnx_bytes(m);
  } catch (const Error&) {
    return 0;
  }
  if (bytes.empty() || bytes.size() > max_size) return 0;
  std::memcpy(out, bytes.data(), bytes.size());
  return bytes.size();
}

}  // namespace

size_t mutate_model(uint8_t* data, size_t size, size_t max_size, unsigned seed) {
  Rng rng(seed);
  if (one_in(rng, 8)) return 0;  // leave this one to byte-level mutation
  std::unique_ptr<Model> m = parse(data, size);
  if (!m) return 0;
  try {
    Mutator mut(*m, rng, seed);
    bool any = false;
    for (size_t k = 1 + pick(rng, 4); k > 0; --k) any |= mut.mutate_once();
    if (!any) return 0;
  } catch (const Error&) {
    return 0;  // an edit the IR refused (e.g. removing a node still in use): use bytes instead
  }
  return serialize(*m, data, max_size);
}

size_t cross_over_models(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2, uint8_t* out,
                         size_t max_out_size, unsigned seed) {
  Rng rng(seed);
  std::unique_ptr<Model> a = parse(data1, size1), b = parse(data2, size2);
  if (!a || !b) return 0;
  Parts pa = collect(*a), pb = collect(*b);
  if (one_in(rng, 2) && !pa.nodes.empty() && !pb.nodes.empty()) {
    // Node b's op type and attributes on node a (its inputs and outputs stay). Attributes that
    // hold subgraphs stay behind: their nodes use values of model b.
    Node* na = pick_from(rng, pa.nodes);
    Node* nb = pick_from(rng, pb.nodes);
    if (!na->subgraphs().empty()) return 0;
    na->set_op_type(nb->op_type());
    na->set_domain(nb->domain());
    na->attributes().clear();
    for (Attribute& attr : nb->attributes())
      if (!attr.g && attr.graphs.empty()) na->attributes().push_back(std::move(attr));
  } else {
    // An initializer of model a takes the data of a tensor of model b (its name stays).
    if (pa.initializers.empty() || pb.tensors.empty()) return 0;
    Value* v = pick_from(rng, pa.initializers);
    if (v->sparse_initializer()) return 0;
    auto t = std::make_shared<Tensor>(v->name(), DataType::kUndefined, std::vector<int64_t>{});
    Tensor& src = *pick_from(rng, pb.tensors);
    t->set_dtype(src.dtype());
    t->set_dims(src.dims());
    t->set_view(src.storage(), src.storage_offset(), src.nbytes());
    t->strings() = src.strings();
    v->graph()->set_initializer(v, t);
  }
  return serialize(*a, out, max_out_size);
}

}  // namespace irforge::fuzz
