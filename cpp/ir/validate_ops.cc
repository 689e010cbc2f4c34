#include "ir/validate_ops.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "support/error.h"

namespace irforge {

namespace {

// ---- the schema table (generated) ---------------------------------------------------------------

struct SchemaRow {
  const char* op;
  int since, min_in, max_in, min_out, max_out;  // -1: unbounded
  const char* inputs;
  const char* outputs;
  const char* attrs;
};

const SchemaRow kSchemaRows[] = {
#include "ir/onnx_op_schemas.inc"
};

struct Formal {
  std::string name;
  char kind;  // 'S' single, 'O' optional, 'V' variadic
};
struct AttrSpec {
  AttrKind kind;
  bool required;
};
struct OpSchema {
  int since, min_in, max_in, min_out, max_out;
  std::vector<Formal> inputs;
  std::unordered_map<std::string, AttrSpec> attrs;
};

std::vector<std::string> split_words(const char* s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Op name -> its versions, oldest first. Parsed once from the generated rows.
const std::unordered_map<std::string, std::vector<OpSchema>>& schema_table() {
  static const auto table = [] {
    std::unordered_map<std::string, std::vector<OpSchema>> t;
    for (const SchemaRow& r : kSchemaRows) {
      OpSchema s{r.since, r.min_in, r.max_in, r.min_out, r.max_out, {}, {}};
      for (const std::string& w : split_words(r.inputs)) {
        size_t colon = w.rfind(':');
        s.inputs.push_back({w.substr(0, colon), w[colon + 1]});
      }
      for (const std::string& w : split_words(r.attrs)) {
        size_t colon = w.rfind(':');
        bool required = w.back() == '!';
        s.attrs[w.substr(0, colon)] = {static_cast<AttrKind>(std::stoi(w.substr(colon + 1))), required};
      }
      t[r.op].push_back(std::move(s));
    }
    return t;
  }();
  return table;
}

// The version of `op` in force at `opset`. Fusion passes create ops newer than a model's import
// (Gelu in an opset-13 model, written decomposed again on output), so an op newer than the
// opset is checked against its first version rather than rejected; opset 0 (no default import)
// takes the newest.
const OpSchema* find_schema(const std::string& op, int64_t opset) {
  const auto& table = schema_table();
  auto it = table.find(op);
  if (it == table.end()) return nullptr;
  const auto& versions = it->second;
  if (opset <= 0) return &versions.back();
  const OpSchema* best = &versions.front();
  for (const OpSchema& s : versions)
    if (s.since <= opset) best = &s;
  return best;
}

const char* attr_kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::kFloat: return "FLOAT";
    case AttrKind::kInt: return "INT";
    case AttrKind::kString: return "STRING";
    case AttrKind::kTensor: return "TENSOR";
    case AttrKind::kGraph: return "GRAPH";
    case AttrKind::kFloats: return "FLOATS";
    case AttrKind::kInts: return "INTS";
    case AttrKind::kStrings: return "STRINGS";
    case AttrKind::kTensors: return "TENSORS";
    case AttrKind::kGraphs: return "GRAPHS";
    case AttrKind::kSparseTensor: return "SPARSE_TENSOR";
    case AttrKind::kSparseTensors: return "SPARSE_TENSORS";
    case AttrKind::kTypeProto: return "TYPE_PROTO";
    case AttrKind::kTypeProtos: return "TYPE_PROTOS";
    default: return "UNDEFINED";
  }
}

std::string join(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// Constants larger than this are not read by the rules (they are never shapes or axes).
constexpr uint64_t kMaxConstElements = 1 << 16;

std::optional<std::vector<int64_t>> tensor_ints(const Tensor& t) {
  uint64_t n = t.element_count();
  if (n > kMaxConstElements) return std::nullopt;
  size_t width = t.dtype() == DataType::kInt64 ? 8 : t.dtype() == DataType::kInt32 ? 4 : 0;
  if (width == 0 || (n > 0 && (!t.data() || t.nbytes() < n * width))) return std::nullopt;
  std::vector<int64_t> out(n);
  for (uint64_t i = 0; i < n; ++i) {
    if (width == 8) {
      std::memcpy(&out[i], t.data() + 8 * i, 8);
    } else {
      int32_t v;
      std::memcpy(&v, t.data() + 4 * i, 4);
      out[i] = v;
    }
  }
  return out;
}

// ---- per-node facts and reporting --------------------------------------------------------------

class NodeCheck {
 public:
  NodeCheck(const Node& n, int64_t opset, size_t index, const std::string& graph_label, std::vector<std::string>& problems, size_t& total)
      : n(n), opset(opset), index_(index), graph_label_(graph_label), problems_(problems), total_(total) {}

  const Node& n;
  const int64_t opset;

  void bad(const std::string& rule) {
    ++total_;
    if (problems_.size() >= kMaxListed) return;
    // Built only on failure: valid nodes (nearly all) cost no string work.
    std::string op = (n.domain().empty() ? "" : n.domain() + "::") + n.op_type();
    problems_.push_back("node '" + n.name() + "' (" + op + ", #" + std::to_string(index_) + " in graph '" + graph_label_ + "'): " + rule);
  }
  static constexpr size_t kMaxListed = 1000;

  size_t num_inputs() const { return n.inputs().size(); }
  const Value* in(size_t i) const { return n.input(i); }
  bool has(const char* name) const { return n.attr(name) != nullptr; }
  int64_t i(const char* name, int64_t dflt) const { return n.attr_int(name, dflt); }
  std::vector<int64_t> ints(const char* name) const { return n.attr_ints(name); }
  std::string s(const char* name, const std::string& dflt) const { return n.attr_string(name, dflt); }

  static std::optional<int64_t> rank_of(const Value* v) {
    if (!v || !v->type().is_tensor() || !v->type().shape) return std::nullopt;
    return static_cast<int64_t>(v->type().shape->size());
  }
  std::optional<int64_t> rank(size_t input) const { return rank_of(in(input)); }
  // Static size of dim `k` (negative counts from the back) of input `input`, when declared.
  std::optional<int64_t> dim(size_t input, int64_t k) const {
    const Value* v = in(input);
    auto r = rank_of(v);
    if (!r) return std::nullopt;
    if (k < 0) k += *r;
    if (k < 0 || k >= *r) return std::nullopt;
    const Dim& d = (*v->type().shape)[static_cast<size_t>(k)];
    if (!d.is_static()) return std::nullopt;
    return d.value;
  }
  // Integer values of a constant input: a non-overridable initializer or a Constant node.
  std::optional<std::vector<int64_t>> const_ints(size_t input) const {
    const Value* v = in(input);
    if (!v) return std::nullopt;
    if (v->initializer() && !v->is_graph_input()) return tensor_ints(*v->initializer());
    const Node* p = v->producer();
    if (!p || p->op_type() != "Constant" || !p->domain().empty()) return std::nullopt;
    if (const Attribute* a = p->attr("value"); a && a->kind == AttrKind::kTensor && a->t && a->ref_attr_name.empty())
      return tensor_ints(*a->t);
    if (const Attribute* a = p->attr("value_ints"); a && a->kind == AttrKind::kInts) return a->ints;
    if (const Attribute* a = p->attr("value_int"); a && a->kind == AttrKind::kInt) return std::vector<int64_t>{a->i};
    return std::nullopt;
  }

  // `what` in [-r, r-1] (or [-r, r] when `inclusive`), when the rank is known.
  bool axis_ok(const std::string& what, int64_t axis, std::optional<int64_t> r, bool inclusive = false) {
    if (!r) return true;
    int64_t hi = inclusive ? *r : *r - 1;
    if (axis < -*r || axis > hi) {
      bad(what + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(*r) + " (allowed " +
          std::to_string(-*r) + ".." + std::to_string(hi) + ")");
      return false;
    }
    return true;
  }
  // Each axis in range and none named twice (after making negative axes positive).
  void axes_ok(const std::string& what, const std::vector<int64_t>& axes, std::optional<int64_t> r) {
    std::unordered_set<int64_t> seen;
    for (int64_t a : axes) {
      if (!axis_ok(what + " value", a, r)) return;
      int64_t norm = r && a < 0 ? a + *r : a;
      if (!seen.insert(norm).second) {
        bad(what + " " + join(axes) + " name axis " + std::to_string(norm) + " twice");
        return;
      }
    }
  }
  void all_at_least(const char* attr, int64_t min) {
    if (!has(attr)) return;
    for (int64_t v : ints(attr))
      if (v < min) {
        bad(std::string(attr) + " " + join(ints(attr)) + " must all be >= " + std::to_string(min));
        return;
      }
  }
  void int_at_least(const char* attr, int64_t min) {
    if (has(attr) && i(attr, min) < min)
      bad(std::string(attr) + " " + std::to_string(i(attr, min)) + " must be >= " + std::to_string(min));
  }
  void length_is(const char* attr, int64_t want, const std::string& why) {
    if (has(attr) && static_cast<int64_t>(ints(attr).size()) != want)
      bad(std::string(attr) + " has " + std::to_string(ints(attr).size()) + " values but " + why + " needs " + std::to_string(want));
  }
  void one_of(const char* attr, std::initializer_list<const char*> allowed) {
    if (!has(attr)) return;
    std::string v = s(attr, "");
    for (const char* a : allowed)
      if (v == a) return;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    bad(std::string(attr) + " '" + v + "' is not one of " + list);
  }
  void dtype_ok(const char* attr, bool zero_allowed = false) {
    if (!has(attr)) return;
    int64_t t = i(attr, 0);
    if ((t == 0 && !zero_allowed) || t < 0 || t > kMaxDataType)
      bad(std::string(attr) + " " + std::to_string(t) + " is not a known ONNX data type");
  }

 private:
  size_t index_;
  const std::string& graph_label_;
  std::vector<std::string>& problems_;
  size_t& total_;
};

// ---- semantic rules ------------------------------------------------------------------------------

// Conv-like and pooling ops: what the shape inference and lowerings divide by or index with.
void window_rules(NodeCheck& c, size_t x, std::optional<size_t> w, std::optional<size_t> bias, bool transpose) {
  auto xr = c.rank(x);
  auto wr = w ? c.rank(*w) : std::nullopt;
  if (xr && *xr < 3) c.bad("input " + std::to_string(x) + " has rank " + std::to_string(*xr) + " but needs N, C and a spatial dim (rank >= 3)");
  if (xr && wr && *xr != *wr)
    c.bad("weight (input " + std::to_string(*w) + ") has rank " + std::to_string(*wr) + " but the data input has rank " + std::to_string(*xr));
  std::optional<int64_t> spatial;
  if (xr && *xr >= 3) spatial = *xr - 2;
  else if (wr && *wr >= 3) spatial = *wr - 2;
  else if (c.has("kernel_shape")) spatial = static_cast<int64_t>(c.ints("kernel_shape").size());
  c.all_at_least("strides", 1);
  c.all_at_least("dilations", 1);
  c.all_at_least("kernel_shape", 1);
  if (spatial) {
    std::string why = std::to_string(*spatial) + "-D spatial input";
    c.length_is("kernel_shape", *spatial, why);
    c.length_is("strides", *spatial, why);
    c.length_is("dilations", *spatial, why);
    c.length_is("pads", 2 * *spatial, why);
    c.length_is("output_padding", *spatial, why);
    // output_shape may also be given with N and C in front (onnxruntime accepts both).
    if (c.has("output_shape") && static_cast<int64_t>(c.ints("output_shape").size()) != *spatial + 2) c.length_is("output_shape", *spatial, why);
  }
  c.one_of("auto_pad", {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"});
  if (w && c.has("kernel_shape") && wr) {
    auto ks = c.ints("kernel_shape");
    for (size_t k = 0; k < ks.size() && static_cast<int64_t>(k) + 2 < *wr; ++k) {
      auto d = c.dim(*w, static_cast<int64_t>(k) + 2);
      if (d && *d != ks[k]) {
        c.bad("kernel_shape " + join(ks) + " does not match the weight's spatial dim " + std::to_string(k) + " (" + std::to_string(*d) + ")");
        break;
      }
    }
  }
  if (!w) return;
  int64_t group = c.i("group", 1);
  if (group < 1) {
    c.bad("group " + std::to_string(group) + " must be >= 1");
    return;
  }
  auto channels = c.dim(x, 1);
  auto w0 = c.dim(*w, 0), w1 = c.dim(*w, 1);
  std::string g = "group " + std::to_string(group);
  if (channels && *channels % group != 0) c.bad(g + " does not divide the " + std::to_string(*channels) + " input channels");
  // Declared dims and group can be absurd: w1 x group is only compared when it does not overflow.
  std::optional<int64_t> w1_times_group;
  if (int64_t prod; w1 && !__builtin_mul_overflow(*w1, group, &prod)) w1_times_group = prod;
  if (!transpose) {
    if (w0 && *w0 % group != 0) c.bad(g + " does not divide the weight's " + std::to_string(*w0) + " output channels");
    if (channels && w1_times_group && *channels != *w1_times_group)
      c.bad("input has " + std::to_string(*channels) + " channels but weight expects " + std::to_string(*w1) + " x " + g);
  } else if (channels && w0 && *channels != *w0) {
    c.bad("input has " + std::to_string(*channels) + " channels but the weight's first dim is " + std::to_string(*w0));
  }
  if (bias && c.in(*bias)) {
    auto br = c.rank(*bias);
    if (br && *br != 1) c.bad("bias (input " + std::to_string(*bias) + ") has rank " + std::to_string(*br) + " but must be 1-D");
    std::optional<int64_t> out_channels = transpose ? w1_times_group : w0;
    auto b0 = c.dim(*bias, 0);
    if (br && *br == 1 && b0 && out_channels && *b0 != *out_channels)
      c.bad("bias has " + std::to_string(*b0) + " values but there are " + std::to_string(*out_channels) + " output channels");
  }
}

void conv(NodeCheck& c) { window_rules(c, 0, 1, 2, false); }
void conv_transpose(NodeCheck& c) { window_rules(c, 0, 1, 2, true); }
void conv_integer(NodeCheck& c) { window_rules(c, 0, 1, std::nullopt, false); }
void qlinear_conv(NodeCheck& c) { window_rules(c, 0, 3, 8, false); }
void deform_conv(NodeCheck& c) {
  window_rules(c, 0, 1, 3, false);
  c.int_at_least("offset_group", 1);
}
void pool(NodeCheck& c) {
  window_rules(c, 0, std::nullopt, std::nullopt, false);
  if (c.has("storage_order") && c.i("storage_order", 0) != 0 && c.i("storage_order", 0) != 1)
    c.bad("storage_order " + std::to_string(c.i("storage_order", 0)) + " must be 0 or 1");
}

// Per-channel parameter vectors (inputs first..last) must be 1-D of the channel count.
void channel_params(NodeCheck& c, size_t first, size_t last, int64_t channels_dim = 1) {
  auto channels = c.dim(0, channels_dim);
  for (size_t k = first; k <= last && k < c.num_inputs(); ++k) {
    if (!c.in(k)) continue;
    auto r = c.rank(k);
    if (r && *r != 1) {
      c.bad("input " + std::to_string(k) + " ('" + c.in(k)->name() + "') has rank " + std::to_string(*r) + " but must be 1-D per channel");
      continue;
    }
    auto d = c.dim(k, 0);
    if (d && channels && *d != *channels)
      c.bad("input " + std::to_string(k) + " ('" + c.in(k)->name() + "') has " + std::to_string(*d) + " values but the input has " +
            std::to_string(*channels) + " channels");
  }
}

void batch_norm(NodeCheck& c) {
  auto r = c.rank(0);
  if (r && *r < 2) c.bad("input has rank " + std::to_string(*r) + " but needs N and C (rank >= 2)");
  if (c.has("spatial") && c.i("spatial", 1) == 0) return;  // opset < 9: parameters per C x D1 x ...
  channel_params(c, 1, 4);
}
void instance_norm(NodeCheck& c) {
  auto r = c.rank(0);
  if (r && *r < 3) c.bad("input has rank " + std::to_string(*r) + " but needs N, C and a spatial dim (rank >= 3)");
  channel_params(c, 1, 2);
}
void group_norm(NodeCheck& c) {
  int64_t groups = c.i("num_groups", 0);
  if (groups < 1) {
    c.bad("num_groups " + std::to_string(groups) + " must be >= 1");
    return;
  }
  auto channels = c.dim(0, 1);
  if (channels && *channels % groups != 0)
    c.bad("num_groups " + std::to_string(groups) + " does not divide the " + std::to_string(*channels) + " channels");
}
void layer_norm(NodeCheck& c) { c.axis_ok("axis", c.i("axis", -1), c.rank(0)); }
void lp_norm(NodeCheck& c) {
  c.axis_ok("axis", c.i("axis", -1), c.rank(0));
  int64_t p = c.i("p", 2);
  if (p != 1 && p != 2) c.bad("p " + std::to_string(p) + " must be 1 or 2");
}
void lrn(NodeCheck& c) { c.int_at_least("size", 1); }

void concat(NodeCheck& c) {
  std::optional<int64_t> r;
  for (size_t k = 0; k < c.num_inputs(); ++k) {
    auto rk = c.rank(k);
    if (!rk) continue;
    if (r && *rk != *r) {
      c.bad("input " + std::to_string(k) + " has rank " + std::to_string(*rk) + " but input 0.. have rank " + std::to_string(*r));
      return;
    }
    r = rk;
  }
  if (r && *r == 0) c.bad("inputs are scalars; Concat needs rank >= 1");
  else c.axis_ok("axis", c.i("axis", 1), r);
}
void softmax(NodeCheck& c) { c.axis_ok("axis", c.i("axis", c.opset < 13 ? 1 : -1), c.rank(0)); }
void axis0(NodeCheck& c) { c.axis_ok("axis", c.i("axis", 0), c.rank(0)); }
void flatten(NodeCheck& c) { c.axis_ok("axis", c.i("axis", 1), c.rank(0), true); }
void optional_axis(NodeCheck& c) {
  if (c.has("axis")) c.axis_ok("axis", c.i("axis", 0), c.rank(0));
}
void gather(NodeCheck& c) {
  int64_t axis = c.i("axis", 0);
  if (!c.axis_ok("axis", axis, c.rank(0))) return;
  // Constant indices are read by constant folding: they must lie within the static dim.
  auto d = c.dim(0, axis);
  auto idx = c.const_ints(1);
  if (!d || !idx) return;
  for (int64_t v : *idx)
    if (v < -*d || v >= *d) {
      c.bad("index " + std::to_string(v) + " is out of range for axis " + std::to_string(axis) + " of size " + std::to_string(*d));
      return;
    }
}
void gather_elements(NodeCheck& c) {
  c.axis_ok("axis", c.i("axis", 0), c.rank(0));
  auto r0 = c.rank(0), r1 = c.rank(1);
  if (r0 && r1 && *r0 != *r1) c.bad("indices have rank " + std::to_string(*r1) + " but data has rank " + std::to_string(*r0));
}
void one_hot(NodeCheck& c) {
  auto r = c.rank(0);
  c.axis_ok("axis", c.i("axis", -1), r ? std::optional<int64_t>(*r + 1) : std::nullopt);
}
void cumsum(NodeCheck& c) {
  auto axis = c.const_ints(1);
  if (axis && axis->size() == 1) c.axis_ok("axis", (*axis)[0], c.rank(0));
}
void top_k(NodeCheck& c) {
  c.axis_ok("axis", c.i("axis", -1), c.rank(0));
  if (c.has("k")) c.int_at_least("k", 0);
  auto k = c.const_ints(1);
  if (k && k->size() == 1 && (*k)[0] < 0) c.bad("k " + std::to_string((*k)[0]) + " must be >= 0");
}
void reverse_sequence(NodeCheck& c) {
  int64_t b = c.i("batch_axis", 1), t = c.i("time_axis", 0);
  if ((b != 0 && b != 1) || (t != 0 && t != 1) || b == t)
    c.bad("batch_axis " + std::to_string(b) + " and time_axis " + std::to_string(t) + " must be 0 and 1 in some order");
}

void split(NodeCheck& c) {
  int64_t axis = c.i("axis", 0);
  if (!c.axis_ok("axis", axis, c.rank(0))) return;
  int64_t outputs = static_cast<int64_t>(c.n.num_outputs());
  if (c.has("num_outputs")) {
    int64_t k = c.i("num_outputs", 0);
    if (k < 1) c.bad("num_outputs " + std::to_string(k) + " must be >= 1");
    else if (k != outputs) c.bad("num_outputs " + std::to_string(k) + " but the node has " + std::to_string(outputs) + " outputs");
  }
  std::optional<std::vector<int64_t>> parts;
  if (c.has("split")) parts = c.ints("split");
  else if (c.in(1)) parts = c.const_ints(1);
  if (!parts) {
    auto d = c.dim(0, axis);
    if (d && !c.has("num_outputs") && outputs > 0 && *d % outputs != 0)
      c.bad("the " + std::to_string(*d) + " elements of axis " + std::to_string(axis) + " do not split evenly into " + std::to_string(outputs) + " outputs");
    return;
  }
  if (static_cast<int64_t>(parts->size()) != outputs) {
    c.bad("split " + join(*parts) + " has " + std::to_string(parts->size()) + " lengths but the node has " + std::to_string(outputs) + " outputs");
    return;
  }
  int64_t sum = 0;
  for (int64_t p : *parts) {
    if (p < 0) {
      c.bad("split " + join(*parts) + " has a negative length");
      return;
    }
    if (p > (int64_t{1} << 62) - sum) return;  // absurd lengths: the sum check below cannot hold anyway
    sum += p;
  }
  auto d = c.dim(0, axis);
  if (d && sum != *d) c.bad("split " + join(*parts) + " sums to " + std::to_string(sum) + " but axis " + std::to_string(axis) + " has " + std::to_string(*d));
}

void squeeze(NodeCheck& c) {
  std::optional<std::vector<int64_t>> axes;
  if (c.has("axes")) axes = c.ints("axes");
  else if (c.in(1)) axes = c.const_ints(1);
  if (!axes) return;
  auto r = c.rank(0);
  c.axes_ok("axes", *axes, r);
  for (int64_t a : *axes) {
    auto d = c.dim(0, a);
    if (r && a >= -*r && a < *r && d && *d != 1) {
      c.bad("axis " + std::to_string(a) + " has size " + std::to_string(*d) + ", not 1, and cannot be squeezed");
      return;
    }
  }
}
void unsqueeze(NodeCheck& c) {
  std::optional<std::vector<int64_t>> axes;
  if (c.has("axes")) axes = c.ints("axes");
  else if (c.in(1)) axes = c.const_ints(1);
  if (!axes) return;
  auto r = c.rank(0);
  c.axes_ok("axes", *axes, r ? std::optional<int64_t>(*r + static_cast<int64_t>(axes->size())) : std::nullopt);
}
void reduce(NodeCheck& c) {
  std::optional<std::vector<int64_t>> axes;
  if (c.has("axes")) axes = c.ints("axes");
  else if (c.in(1)) axes = c.const_ints(1);
  if (axes) c.axes_ok("axes", *axes, c.rank(0));
}
void transpose(NodeCheck& c) {
  if (!c.has("perm")) return;
  auto perm = c.ints("perm");
  auto r = c.rank(0);
  if (r && static_cast<int64_t>(perm.size()) != *r) {
    c.bad("perm " + join(perm) + " has " + std::to_string(perm.size()) + " values but the input has rank " + std::to_string(*r));
    return;
  }
  std::vector<bool> seen(perm.size(), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(perm.size()) || seen[static_cast<size_t>(p)]) {
      c.bad("perm " + join(perm) + " is not a permutation of 0.." + std::to_string(static_cast<int64_t>(perm.size()) - 1));
      return;
    }
    seen[static_cast<size_t>(p)] = true;
  }
}

void reshape(NodeCheck& c) {
  std::optional<std::vector<int64_t>> shape;
  if (c.opset < 5) {
    if (c.has("shape")) shape = c.ints("shape");
  } else {
    shape = c.const_ints(1);
  }
  if (!shape) return;
  bool allowzero = c.i("allowzero", 0) != 0;
  int inferred = 0;
  bool zero = false;
  auto r = c.rank(0);
  for (size_t k = 0; k < shape->size(); ++k) {
    int64_t v = (*shape)[k];
    if (v < -1) return c.bad("shape " + join(*shape) + " has the negative value " + std::to_string(v));
    if (v == -1) ++inferred;
    if (v == 0) {
      zero = true;
      if (!allowzero && r && static_cast<int64_t>(k) >= *r)
        return c.bad("shape " + join(*shape) + " copies dim " + std::to_string(k) + " (0) but the input has rank " + std::to_string(*r));
    }
  }
  if (inferred > 1) c.bad("shape " + join(*shape) + " has more than one -1");
  else if (inferred == 1 && zero && allowzero) c.bad("shape " + join(*shape) + " has both -1 and 0 with allowzero=1");
}

void pad(NodeCheck& c) {
  auto r = c.rank(0);
  if (c.opset < 11) {
    const char* attr = c.has("paddings") ? "paddings" : "pads";
    if (r) c.length_is(attr, 2 * *r, "an input of rank " + std::to_string(*r));
  } else if (auto pads = c.const_ints(1)) {
    int64_t axes = r ? *r : -1;
    if (c.in(3)) {
      auto a = c.const_ints(3);
      if (!a) return;
      c.axes_ok("axes", *a, r);
      axes = static_cast<int64_t>(a->size());
    }
    if (axes >= 0 && static_cast<int64_t>(pads->size()) != 2 * axes)
      c.bad("pads " + join(*pads) + " has " + std::to_string(pads->size()) + " values but " + std::to_string(axes) + " padded axes need " +
            std::to_string(2 * axes));
    else if (pads->size() % 2 != 0)
      c.bad("pads " + join(*pads) + " has an odd number of values");
  }
  c.one_of("mode", {"constant", "reflect", "edge", "wrap"});
}

void slice(NodeCheck& c) {
  std::optional<std::vector<int64_t>> starts, ends, axes, steps;
  if (c.opset < 10) {
    if (c.has("starts")) starts = c.ints("starts");
    if (c.has("ends")) ends = c.ints("ends");
    if (c.has("axes")) axes = c.ints("axes");
  } else {
    starts = c.const_ints(1);
    ends = c.const_ints(2);
    if (c.in(3)) axes = c.const_ints(3);
    if (c.in(4)) steps = c.const_ints(4);
  }
  auto count = [](const auto& v) { return v ? static_cast<int64_t>(v->size()) : -1; };
  int64_t n = count(starts) >= 0 ? count(starts) : count(ends);
  for (auto [name, v] : {std::pair<const char*, const std::optional<std::vector<int64_t>>*>{"ends", &ends}, {"axes", &axes}, {"steps", &steps}}) {
    if (n >= 0 && *v && count(*v) != n) {
      c.bad(std::string(name) + " has " + std::to_string(count(*v)) + " values but starts has " + std::to_string(n));
      return;
    }
  }
  if (steps)
    for (int64_t s : *steps)
      if (s == 0) return c.bad("steps " + join(*steps) + " contain 0");
  if (axes) c.axes_ok("axes", *axes, c.rank(0));
}

void tile(NodeCheck& c) {
  auto reps = c.const_ints(1);
  if (!reps) return;
  auto r = c.rank(0);
  if (r && static_cast<int64_t>(reps->size()) != *r)
    return c.bad("repeats " + join(*reps) + " has " + std::to_string(reps->size()) + " values but the input has rank " + std::to_string(*r));
  for (int64_t v : *reps)
    if (v < 0) return c.bad("repeats " + join(*reps) + " has a negative value");
}

void depth_space(NodeCheck& c, bool to_space) {
  int64_t b = c.i("blocksize", 0);
  if (b < 1) return c.bad("blocksize " + std::to_string(b) + " must be >= 1");
  auto r = c.rank(0);
  if (r && *r != 4) return c.bad("input has rank " + std::to_string(*r) + " but must be 4-D (N, C, H, W)");
  if (to_space) {
    c.one_of("mode", {"DCR", "CRD"});
    auto ch = c.dim(0, 1);
    if (ch && b <= (int64_t{1} << 31) && *ch % (b * b) != 0)
      c.bad("blocksize " + std::to_string(b) + " squared does not divide the " + std::to_string(*ch) + " channels");
  } else {
    for (int64_t k : {2, 3}) {
      auto d = c.dim(0, k);
      if (d && *d % b != 0) return c.bad("blocksize " + std::to_string(b) + " does not divide dim " + std::to_string(k) + " (" + std::to_string(*d) + ")");
    }
  }
}
void depth_to_space(NodeCheck& c) { depth_space(c, true); }
void space_to_depth(NodeCheck& c) { depth_space(c, false); }

void cast(NodeCheck& c) { c.dtype_ok("to"); }
void dtype_attr(NodeCheck& c) { c.dtype_ok("dtype"); }
void quantize(NodeCheck& c) {
  c.dtype_ok("output_dtype", true);
  c.int_at_least("block_size", 0);
  auto sr = c.rank(1);
  if (sr && *sr == 1) c.axis_ok("axis", c.i("axis", 1), c.rank(0));
}

void constant(NodeCheck& c) {
  int values = 0;
  for (const auto& a : c.n.attributes())
    if (a.name.rfind("value", 0) == 0 || a.name == "sparse_value") ++values;
  if (values != 1) c.bad("needs exactly one value attribute, has " + std::to_string(values));
}
void constant_of_shape(NodeCheck& c) {
  const Attribute* a = c.n.attr("value");
  if (a && a->kind == AttrKind::kTensor && a->t && a->t->element_count() != 1)
    c.bad("value must hold exactly one element, holds " + std::to_string(a->t->element_count()));
}

const Graph* graph_attr(const Node& n, const char* name) {
  const Attribute* a = n.attr(name);
  return a && a->kind == AttrKind::kGraph ? a->g.get() : nullptr;
}

void if_rule(NodeCheck& c) {
  for (const char* branch : {"then_branch", "else_branch"}) {
    const Graph* g = graph_attr(c.n, branch);
    if (g && g->outputs().size() != c.n.num_outputs())
      c.bad(std::string(branch) + " has " + std::to_string(g->outputs().size()) + " outputs but the node has " + std::to_string(c.n.num_outputs()));
    if (g && !g->inputs().empty()) c.bad(std::string(branch) + " declares " + std::to_string(g->inputs().size()) + " inputs; If branches take none");
  }
}
void loop(NodeCheck& c) {
  const Graph* body = graph_attr(c.n, "body");
  if (!body) return;
  // Inputs (M, cond, v_initial...) map 1:1 onto body inputs (iteration, cond, v...); body outputs
  // are cond, the N loop-carried values, then K scan outputs, and the node yields N + K.
  size_t node_in = c.num_inputs(), carried = node_in >= 2 ? node_in - 2 : 0;
  if (body->inputs().size() != 2 + carried)
    c.bad("body has " + std::to_string(body->inputs().size()) + " inputs but needs " + std::to_string(2 + carried) + " (iteration, condition and " +
          std::to_string(carried) + " loop-carried values)");
  if (body->outputs().size() != c.n.num_outputs() + 1)
    c.bad("body has " + std::to_string(body->outputs().size()) + " outputs but needs " + std::to_string(c.n.num_outputs() + 1) +
          " (condition and the node's " + std::to_string(c.n.num_outputs()) + " outputs)");
  else if (c.n.num_outputs() < carried)
    c.bad("the node has " + std::to_string(c.n.num_outputs()) + " outputs, fewer than its " + std::to_string(carried) + " loop-carried values");
}
void scan(NodeCheck& c) {
  const Graph* body = graph_attr(c.n, "body");
  int64_t m = c.i("num_scan_inputs", 0);
  if (m < 1) return c.bad("num_scan_inputs " + std::to_string(m) + " must be >= 1");
  int64_t inputs = static_cast<int64_t>(c.num_inputs()) - (c.opset < 9 ? 1 : 0);  // opset 8: sequence_lens first
  if (m > inputs) return c.bad("num_scan_inputs " + std::to_string(m) + " exceeds the " + std::to_string(inputs) + " state and scan inputs");
  int64_t state = inputs - m, outputs = static_cast<int64_t>(c.n.num_outputs());
  if (outputs < state) return c.bad("the node has " + std::to_string(outputs) + " outputs, fewer than its " + std::to_string(state) + " state values");
  if (body && static_cast<int64_t>(body->inputs().size()) != inputs)
    c.bad("body has " + std::to_string(body->inputs().size()) + " inputs but the node passes " + std::to_string(inputs) + " state and scan values");
  if (body && static_cast<int64_t>(body->outputs().size()) != outputs)
    c.bad("body has " + std::to_string(body->outputs().size()) + " outputs but the node has " + std::to_string(outputs));
  std::string why = std::to_string(m) + " scan inputs";
  c.length_is("scan_input_axes", m, why);
  c.length_is("scan_input_directions", m, why);
  c.length_is("scan_output_axes", outputs - state, std::to_string(outputs - state) + " scan outputs");
  c.length_is("scan_output_directions", outputs - state, std::to_string(outputs - state) + " scan outputs");
}

void gemm(NodeCheck& c) {
  for (size_t k : {0, 1}) {
    auto r = c.rank(k);
    if (r && *r != 2) c.bad("input " + std::to_string(k) + " has rank " + std::to_string(*r) + " but Gemm needs matrices (rank 2)");
  }
}
void matmul(NodeCheck& c) {
  for (size_t k : {0, 1}) {
    auto r = c.rank(k);
    if (r && *r == 0) c.bad("input " + std::to_string(k) + " is a scalar; MatMul needs rank >= 1");
  }
  auto ra = c.rank(0), rb = c.rank(1);
  if (!ra || !rb || *ra == 0 || *rb == 0) return;
  auto ka = c.dim(0, -1), kb = c.dim(1, *rb == 1 ? 0 : -2);
  if (ka && kb && *ka != *kb)
    c.bad("the inner dims differ: input 0 has " + std::to_string(*ka) + " columns, input 1 has " + std::to_string(*kb) + " rows");
}

void attention(NodeCheck& c) {
  c.int_at_least("q_num_heads", 1);
  c.int_at_least("kv_num_heads", 1);
  int64_t q = c.i("q_num_heads", 0), kv = c.i("kv_num_heads", 0);
  if (q >= 1 && kv >= 1 && q % kv != 0)
    c.bad("q_num_heads " + std::to_string(q) + " is not a multiple of kv_num_heads " + std::to_string(kv));
  c.dtype_ok("softmax_precision");
}
void rotary(NodeCheck& c) {
  c.int_at_least("num_heads", 1);
  c.int_at_least("rotary_embedding_dim", 0);
}
void rnn(NodeCheck& c) {
  c.int_at_least("hidden_size", 1);
  c.one_of("direction", {"forward", "reverse", "bidirectional"});
  // One activation per gate function and direction (one direction's list serves both).
  size_t per_dir = c.n.op_type() == "LSTM" ? 3 : c.n.op_type() == "GRU" ? 2 : 1;
  if (const Attribute* a = c.n.attr("activations"); a && a->kind == AttrKind::kStrings) {
    size_t dirs = c.s("direction", "forward") == "bidirectional" ? 2 : 1;
    if (a->strings.size() != per_dir && a->strings.size() != per_dir * dirs)
      c.bad("activations has " + std::to_string(a->strings.size()) + " functions but needs " + std::to_string(per_dir * dirs));
  }
  auto dirs = c.dim(1, 0);
  int64_t want = c.s("direction", "forward") == "bidirectional" ? 2 : 1;
  if (dirs && *dirs != want)
    c.bad("W has " + std::to_string(*dirs) + " directions but direction '" + c.s("direction", "forward") + "' needs " + std::to_string(want));
}
// Constant scales / sizes hold one value per input dim (or per listed axis), scales > 0.
void resize(NodeCheck& c) {
  c.one_of("mode", {"nearest", "linear", "cubic"});
  if (c.opset < 11) return;
  auto r = c.rank(0);
  int64_t want = c.has("axes") ? static_cast<int64_t>(c.ints("axes").size()) : r ? *r : -1;
  if (c.has("axes")) c.axes_ok("axes", c.ints("axes"), r);
  if (auto sizes = c.const_ints(3); sizes && !sizes->empty() && want >= 0 && static_cast<int64_t>(sizes->size()) != want)
    c.bad("sizes " + join(*sizes) + " has " + std::to_string(sizes->size()) + " values but " + std::to_string(want) + " resized dims need one each");
}
void gather_nd(NodeCheck& c) {
  int64_t b = c.i("batch_dims", 0);
  auto rd = c.rank(0), ri = c.rank(1);
  if (b < 0 || (rd && b >= *rd) || (ri && b >= *ri))
    c.bad("batch_dims " + std::to_string(b) + " must be >= 0 and below the ranks of data and indices");
}
void lp_pool(NodeCheck& c) {
  pool(c);
  if (c.has("p") && c.i("p", 2) < 1) c.bad("p " + std::to_string(c.i("p", 2)) + " must be >= 1");
}
void global_lp_pool(NodeCheck& c) {
  if (c.has("p") && c.i("p", 2) < 1) c.bad("p " + std::to_string(c.i("p", 2)) + " must be >= 1");
}
// The last dim of a DFT input holds the real/imaginary pair, so it cannot be the DFT axis:
// axis in [-r, -2] or [0, r-2].
void dft(NodeCheck& c) {
  std::optional<int64_t> axis;
  if (c.opset < 20) axis = c.i("axis", 1);
  else if (auto a = c.const_ints(2); a && a->size() == 1) axis = (*a)[0];
  auto r = c.rank(0);
  if (!axis || !r) return;
  if (*axis < -*r || *axis > *r - 2 || *axis == -1)
    c.bad("axis " + std::to_string(*axis) + " is out of range for rank " + std::to_string(*r) + " (allowed " + std::to_string(-*r) +
          "..-2 and 0.." + std::to_string(*r - 2) + "; the last dim holds real and imaginary parts)");
}
void center_crop_pad(NodeCheck& c) {
  if (c.has("axes")) c.axes_ok("axes", c.ints("axes"), c.rank(0));
}
void roi_align(NodeCheck& c) {
  c.int_at_least("output_height", 1);
  c.int_at_least("output_width", 1);
  c.int_at_least("sampling_ratio", 0);
}
void max_roi_pool(NodeCheck& c) {
  c.length_is("pooled_shape", 2, "a 2-D pool");
  c.all_at_least("pooled_shape", 1);
}
void eye_like(NodeCheck& c) {
  c.dtype_ok("dtype");
  auto r = c.rank(0);
  if (r && *r != 2) c.bad("input has rank " + std::to_string(*r) + " but EyeLike needs a matrix (rank 2)");
}

using Rule = void (*)(NodeCheck&);

const std::unordered_map<std::string, Rule>& rules() {
  static const std::unordered_map<std::string, Rule> table = {
      {"Conv", conv}, {"ConvTranspose", conv_transpose}, {"ConvInteger", conv_integer}, {"QLinearConv", qlinear_conv},
      {"DeformConv", deform_conv}, {"MaxPool", pool}, {"AveragePool", pool}, {"LpPool", lp_pool}, {"GlobalLpPool", global_lp_pool}, {"MaxUnpool", pool},
      {"BatchNormalization", batch_norm}, {"InstanceNormalization", instance_norm}, {"GroupNormalization", group_norm},
      {"LayerNormalization", layer_norm}, {"RMSNormalization", layer_norm}, {"LpNormalization", lp_norm}, {"LRN", lrn},
      {"Concat", concat}, {"Softmax", softmax}, {"LogSoftmax", softmax}, {"Hardmax", softmax},
      {"Gather", gather}, {"GatherElements", gather_elements}, {"ScatterElements", gather_elements}, {"Scatter", gather_elements},
      {"Flatten", flatten}, {"ArgMax", axis0}, {"ArgMin", axis0}, {"Compress", optional_axis}, {"Unique", optional_axis},
      {"OneHot", one_hot}, {"CumSum", cumsum}, {"TopK", top_k}, {"ReverseSequence", reverse_sequence},
      {"Split", split}, {"Squeeze", squeeze}, {"Unsqueeze", unsqueeze}, {"Transpose", transpose},
      {"ReduceSum", reduce}, {"ReduceMean", reduce}, {"ReduceMax", reduce}, {"ReduceMin", reduce}, {"ReduceProd", reduce},
      {"ReduceL1", reduce}, {"ReduceL2", reduce}, {"ReduceLogSum", reduce}, {"ReduceLogSumExp", reduce}, {"ReduceSumSquare", reduce},
      {"Reshape", reshape}, {"Pad", pad}, {"Slice", slice}, {"Tile", tile},
      {"DepthToSpace", depth_to_space}, {"SpaceToDepth", space_to_depth},
      {"Cast", cast}, {"RandomNormal", dtype_attr}, {"RandomUniform", dtype_attr}, {"RandomNormalLike", dtype_attr},
      {"RandomUniformLike", dtype_attr}, {"Multinomial", dtype_attr}, {"Bernoulli", dtype_attr}, {"EyeLike", eye_like},
      {"QuantizeLinear", quantize}, {"DequantizeLinear", quantize},
      {"Constant", constant}, {"ConstantOfShape", constant_of_shape},
      {"If", if_rule}, {"Loop", loop}, {"Scan", scan},
      {"Gemm", gemm}, {"MatMul", matmul}, {"Attention", attention}, {"RotaryEmbedding", rotary},
      {"RNN", rnn}, {"GRU", rnn}, {"LSTM", rnn}, {"Resize", resize}, {"GatherND", gather_nd}, {"CenterCropPad", center_crop_pad}, {"DFT", dft}, {"RoiAlign", roi_align}, {"MaxRoiPool", max_roi_pool},
  };
  return table;
}

// ---- the walk ----------------------------------------------------------------------------------

class OpValidator {
 public:
  OpValidator(std::vector<std::string>& problems, size_t& total, bool schema)
      : problems_(problems), total_(total), schema_(schema) {}

  // `in_function`: attributes may be references to the caller's (ref_attr_name), whose values
  // are unknown here, so only the schema table is checked.
  void graph(const Graph& g, const std::string& label, int64_t opset, bool in_function) {
    size_t index = 0;
    for (const auto& up : g.nodes()) {
      const Node& n = *up;
      NodeCheck c(n, opset, index, label, problems_, total_);
      node(c, in_function);
      for (const auto& a : n.attributes()) {
        if (!a.g && a.graphs.empty()) continue;
        std::string sub_label = "'" + n.name() + "'." + a.name;
        if (a.g) graph(*a.g, a.g->name().empty() ? sub_label : a.g->name(), opset, in_function);
        for (size_t k = 0; k < a.graphs.size(); ++k)
          graph(*a.graphs[k], a.graphs[k]->name().empty() ? sub_label + "[" + std::to_string(k) + "]" : a.graphs[k]->name(), opset, in_function);
      }
      ++index;
    }
  }

 private:
  void node(NodeCheck& c, bool in_function) {
    const Node& n = c.n;
    // Passes read output(0) of every node they match; a node without outputs computes nothing.
    // irforge::Assign (a model-state sink, io/openvino/ops/state.cc) is the one op with none.
    bool sink = n.domain() == "irforge" && n.op_type() == "Assign";
    if (n.num_outputs() == 0 && !sink) c.bad("has no outputs");
    if (sink && n.num_outputs() != 0) c.bad("irforge::Assign has no outputs");
    // Nodes carry a handful of attributes: a quadratic scan beats building a set per node.
    const auto& attrs = n.attributes();
    for (size_t i = 1; i < attrs.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (attrs[i].name == attrs[j].name) {
          c.bad("attribute '" + attrs[i].name + "' is given twice");
          break;
        }
    if (!n.domain().empty()) return;
    const OpSchema* s = find_schema(n.op_type(), c.opset);
    if (!s) return;  // not an ONNX op: the lowering reports it as unsupported
    size_t before = total_;
    if (schema_) {
      arity(c, *s);
      attributes(c, *s, in_function);
    }
    // Semantic rules read inputs and attributes the table vouched for; skip them otherwise.
    if (total_ != before || in_function) return;
    auto it = rules().find(n.op_type());
    if (it != rules().end()) it->second(c);
  }

  static std::string range(int lo, int hi) {
    if (hi < 0) return "at least " + std::to_string(lo);
    if (lo == hi) return std::to_string(lo);
    return std::to_string(lo) + " to " + std::to_string(hi);
  }

  void arity(NodeCheck& c, const OpSchema& s) {
    int64_t in = static_cast<int64_t>(c.num_inputs()), out = static_cast<int64_t>(c.n.num_outputs());
    if (in < s.min_in || (s.max_in >= 0 && in > s.max_in))
      c.bad("has " + std::to_string(in) + " inputs but opset " + std::to_string(s.since) + " " + c.n.op_type() + " takes " + range(s.min_in, s.max_in));
    if (out < s.min_out || (s.max_out >= 0 && out > s.max_out))
      c.bad("has " + std::to_string(out) + " outputs but opset " + std::to_string(s.since) + " " + c.n.op_type() + " produces " + range(s.min_out, s.max_out));
    // A required (single) formal input may not be left empty ("").
    for (size_t k = 0; k < c.num_inputs() && k < s.inputs.size(); ++k) {
      if (c.in(k) || s.inputs[k].kind != 'S') continue;
      c.bad("required input " + std::to_string(k) + " ('" + s.inputs[k].name + "') is empty");
    }
  }

  void attributes(NodeCheck& c, const OpSchema& s, bool in_function) {
    for (const auto& a : c.n.attributes()) {
      auto it = s.attrs.find(a.name);
      if (it == s.attrs.end()) {
        c.bad("has attribute '" + a.name + "', which opset " + std::to_string(s.since) + " " + c.n.op_type() + " does not define");
        continue;
      }
      if (!a.ref_attr_name.empty() || a.kind == AttrKind::kUndefined) continue;
      if (a.kind != it->second.kind)
        c.bad("attribute '" + a.name + "' is " + attr_kind_name(a.kind) + " but must be " + attr_kind_name(it->second.kind));
    }
    for (const auto& [name, spec] : s.attrs)
      if (spec.required && !c.n.attr(name) && !in_function) c.bad("required attribute '" + name + "' is missing");
  }

  std::vector<std::string>& problems_;
  size_t& total_;
  bool schema_;
};

size_t collect(const Model& model, std::vector<std::string>& problems, bool schema) {
  size_t total = 0;
  if (!model.graph) return total;
  OpValidator v(problems, total, schema);
  v.graph(*model.graph, model.graph->name(), model.opset_version(""), false);
  for (const Function& f : model.functions) {
    if (!f.body) continue;
    int64_t opset = model.opset_version("");
    for (const auto& o : f.opset_imports)
      if (o.domain.empty() || o.domain == "ai.onnx") opset = o.version;
    v.graph(*f.body, "function " + (f.domain.empty() ? "" : f.domain + "::") + f.name, opset, true);
  }
  return total;
}

}  // namespace

std::vector<std::string> op_problems(const Model& model) {
  std::vector<std::string> problems;
  collect(model, problems, true);
  return problems;
}

namespace {
void throw_first(const Model& model, bool schema) {
  std::vector<std::string> problems;
  size_t total = collect(model, problems, schema);
  if (problems.empty()) return;
  std::string msg = model.source_path + ": " + problems.front();
  if (total > 1) msg += " (and " + std::to_string(total - 1) + " more)";
  fail_invalid(msg);
}
}  // namespace

void validate_ops(const Model& model) { throw_first(model, true); }

void validate_op_rules(const Model& model) { throw_first(model, false); }

}  // namespace irforge
