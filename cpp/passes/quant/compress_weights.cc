#include "passes/quant/compress_weights.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <regex>
#include <unordered_map>
#include <unordered_set>

#include "passes/legalize/upgrade_opset.h"
#include "passes/util.h"
#include "support/error.h"
#include "support/fp16.h"

namespace irforge::passes {

using quant::Layout;
using quant::Scheme;

namespace {
std::vector<uint8_t> encode_scales(const std::vector<float>& s, DataType t);
std::vector<uint8_t> encode_zero_points(const std::vector<uint8_t>& z, bool four);
}  // namespace

// One compressed weight: its scales and zero points are computed on first demand (the OpenVINO
// writer asks for the scales just before Q), and Q with them block by block while each block's
// pages are resident (see params_up_to; a weight whose Q exceeds 8 MiB is read a second time for
// Q, in pieces), and only one weight is resident at a time. The parameters are
// dropped again once Q, the scales and the zero points have each been produced up to their last
// byte: held for every weight until the end they grew with the model (~380 MiB at 7B, int4).
// A later read computes them again.
class QuantizedWeight final : public ComputedStorage {
 public:
  QuantizedWeight(std::shared_ptr<const Tensor> src, quant::Source type, Layout layout, Scheme scheme, std::string name)
      : ComputedStorage(quant::quantized_bytes(layout, scheme)),
        src_(std::move(src)),
        type_(type),
        layout_(layout),
        scheme_(scheme),
        name_(std::move(name)) {}

  // The parts that read the parameters: Q itself, the scales, the zero points (asym only).
  enum Part : unsigned { kQ = 1, kScales = 2, kZeros = 4 };

  void produce(size_t offset, size_t n, uint8_t* out) const override {
    if (std::shared_ptr<const std::vector<uint8_t>> held = take_held_q(offset + n >= size())) {
      std::memcpy(out, held->data() + offset, n);
      if (offset + n >= size()) part_done(kQ);
      return;
    }
    const bool four = quant::bits(scheme_) == 4;
    const size_t esz = type_ == quant::Source::kF32 ? 4 : 2;
    // In pieces of ~8 MiB of source, each handed back once consumed (a later read maps it in
    // again): a writer's 16 MiB request of int4 output covers 64 MiB of bf16 source. A piece's
    // scales are computed just before it is quantized, so its source is read while resident
    // (one pass: computing all scales first mapped every page twice).
    const size_t step = (size_t{8} << 20) / esz / (four ? 2 : 1);
    for (size_t done = 0; done < n; done += step) {
      size_t len = std::min(step, n - done);
      auto begin = static_cast<int64_t>(four ? (offset + done) * 2 : offset + done);
      int64_t end = std::min(layout_.elements(), static_cast<int64_t>(four ? (offset + done + len) * 2 : offset + done + len));
      const int64_t unit = unit_elements();
      std::shared_ptr<const quant::Params> p = params_up_to((end + unit - 1) / unit, false, false);
      quant::quantize(src_->data(), type_, layout_, scheme_, *p, begin, end, out + done);
      if (src_->is_mapped()) src_->storage()->mapping()->release(src_->data() + begin * esz, static_cast<size_t>(end - begin) * esz);
    }
    if (offset + n >= size()) part_done(kQ);
  }

  // Scales and zero points (computed when absent; throws naming the weight on NaN / Inf).
  std::shared_ptr<const quant::Params> params() const { return params_up_to(unit_count(), true, false); }
  // The same for the writer of the scales or zero points, which asks for Q next.
  std::shared_ptr<const quant::Params> params_before_q() const { return params_up_to(unit_count(), true, true); }

  // The parameters are computed in units that are contiguous both in the source and in the
  // [A, R/G, B] parameters: whole rows (A > 1), else whole groups along R. Every scale depends
  // on its own group only, so computing them a few units at a time gives the same values.
  bool by_rows() const { return layout_.A > 1; }
  int64_t unit_elements() const { return by_rows() ? layout_.R * layout_.B : layout_.group * layout_.B; }
  int64_t unit_count() const { return by_rows() ? layout_.A : layout_.groups(); }

  // The parameters with at least their first `units` units computed. Over a mapped source they
  // are computed ~8 MiB of source at a time; with `release`, each block's pages are handed back
  // once read (over the whole weight at once, the largest one, the LM head, 262 MB at 7B, stayed
  // resident until quantized, so peak RSS grew with the model). Without it the caller quantizes
  // those elements next and releases them itself.
  std::shared_ptr<const quant::Params> params_up_to(int64_t units, bool release, bool hold_q) const {
    std::lock_guard<std::mutex> lock(mu_);
    const uint8_t* src = src_->data();
    if (!params_) {
      if (!src_->is_mapped()) {
        params_ = std::make_shared<quant::Params>(quant::compute_params(src, type_, layout_, scheme_, name_));
        ready_ = unit_count();
        return params_;
      }
      params_ = std::make_shared<quant::Params>();
      params_->scale.resize(static_cast<size_t>(layout_.params()));
      if (quant::is_asym(scheme_)) params_->zero.resize(static_cast<size_t>(layout_.params()));
      ready_ = 0;
    }
    constexpr int64_t kBlockBytes = int64_t{8} << 20;
    const int64_t esz = type_ == quant::Source::kF32 ? 4 : 2;
    const int64_t unit = unit_elements();
    const int64_t per_unit = layout_.params() / unit_count();  // parameters per unit
    const int64_t per_block = std::max<int64_t>(1, kBlockBytes / std::max<int64_t>(1, unit * esz));
    units = std::min(units, unit_count());
    // The OpenVINO writer asks for the scales just before Q: when Q is small, each block is
    // quantized right after its scales, while its pages are resident, and Q is held until asked
    // for (one pass over the source instead of two; at most kHeldQBytes more RSS).
    const bool four = quant::bits(scheme_) == 4;
    if (hold_q && ready_ == 0 && units == unit_count() && !(done_ & kQ) && size() <= kHeldQBytes && (!four || unit % 2 == 0))
      held_q_ = std::make_shared<std::vector<uint8_t>>(size());
    while (ready_ < units) {
      quant::Layout sub = layout_;
      int64_t n = std::min(per_block, units - ready_);
      if (by_rows()) sub.A = n;
      else sub.R = n * layout_.group;
      const uint8_t* p = src + ready_ * unit * esz;
      quant::Params part;
      try {
        part = quant::compute_params(p, type_, sub, scheme_, name_);
      } catch (const Error&) {
        params_.reset(), held_q_.reset(), ready_ = 0;  // nothing half-computed is kept
        quant::compute_params(src, type_, layout_, scheme_, name_);  // throws naming the element's index in the whole weight
        throw;
      }
      std::copy(part.scale.begin(), part.scale.end(), params_->scale.begin() + ready_ * per_unit);
      std::copy(part.zero.begin(), part.zero.end(), params_->zero.begin() + ready_ * per_unit);
      if (held_q_) {
        int64_t begin = ready_ * unit, end = begin + sub.elements();
        quant::quantize(src, type_, layout_, scheme_, *params_, begin, end, held_q_->data() + (four ? begin / 2 : begin));
      }
      if (release) src_->storage()->mapping()->release(p, static_cast<size_t>(sub.elements() * esz));
      ready_ += n;
    }
    return params_;
  }

  // Q quantized along with the scales (null when it was not); dropped once read to its end.
  std::shared_ptr<const std::vector<uint8_t>> take_held_q(bool last) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<const std::vector<uint8_t>> held = held_q_;
    if (last) held_q_.reset();
    return held;
  }

  // A part has been produced to its end; when all have, the parameters are released.
  void part_done(Part part) const {
    std::lock_guard<std::mutex> lock(mu_);
    done_ |= part;
    unsigned all = kQ | kScales | (quant::is_asym(scheme_) ? kZeros : 0u);
    if ((done_ & all) == all) {
      params_.reset();
      held_q_.reset();
      ready_ = 0;
      done_ = 0;
    }
  }

  double relative_error() const {
    quant::ErrorStats st = quant::measure_error(src_->data(), type_, layout_, scheme_, *params());
    if (src_->is_mapped()) src_->storage()->mapping()->release(src_->data(), src_->nbytes());
    return st.relative();
  }

  Scheme scheme() const { return scheme_; }
  DataType source_dtype() const { return src_->dtype(); }

 private:
  std::shared_ptr<const Tensor> src_;
  quant::Source type_;
  Layout layout_;
  Scheme scheme_;
  std::string name_;
  mutable std::mutex mu_;
  // Filled in place, units [0, ready_) so far: readers only look at units they asked for.
  mutable std::shared_ptr<quant::Params> params_;
  mutable int64_t ready_ = 0;
  static constexpr size_t kHeldQBytes = size_t{8} << 20;
  mutable std::shared_ptr<std::vector<uint8_t>> held_q_;
  mutable unsigned done_ = 0;
};

// The bytes of a weight's scale or zero-point tensor, from its QuantizedWeight's parameters;
// encoded on demand and dropped once produced to the end, like the parameters.
class ParamBytes final : public ComputedStorage {
 public:
  ParamBytes(std::shared_ptr<const QuantizedWeight> q, bool zero, size_t size) : ComputedStorage(size), q_(std::move(q)), zero_(zero) {}
  void produce(size_t offset, size_t n, uint8_t* out) const override {
    std::shared_ptr<const std::vector<uint8_t>> bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!bytes_) {
        std::shared_ptr<const quant::Params> p = q_->params_before_q();
        bytes_ = std::make_shared<const std::vector<uint8_t>>(zero_ ? encode_zero_points(p->zero, quant::bits(q_->scheme()) == 4)
                                                                    : encode_scales(p->scale, q_->source_dtype()));
      }
      bytes = bytes_;
      if (offset + n >= size()) bytes_.reset();
    }
    std::memcpy(out, bytes->data() + offset, n);
    if (offset + n >= size()) q_->part_done(zero_ ? QuantizedWeight::kZeros : QuantizedWeight::kScales);
  }

 private:
  std::shared_ptr<const QuantizedWeight> q_;
  bool zero_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const std::vector<uint8_t>> bytes_;
};

double relative_error(const QuantizedWeight& q) { return q.relative_error(); }

namespace {

bool float_source(DataType t, quant::Source* out) {
  switch (t) {
    case DataType::kFloat: *out = quant::Source::kF32; return true;
    case DataType::kFloat16: *out = quant::Source::kF16; return true;
    case DataType::kBfloat16: *out = quant::Source::kBf16; return true;
    default: return false;
  }
}

enum class Role { kMatMul, kEmbedding, kConv };

struct Candidate {
  Node* node;
  Value* weight;
  Role role;
  Layout layout;  // group filled in later
  bool rows;      // weight is [channels, R] (B == 1) rather than [R, channels] (A == 1)
  // Outcome.
  std::optional<Scheme> scheme;
  int64_t group = -1;
  std::string reason;
  double int8_error = 0;
};

int64_t norm(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

// The eligible weight of `n` (if any) and its layout.
std::optional<Candidate> candidate_of(Node* n) {
  if (!n->domain().empty() && n->domain() != "ai.onnx") return std::nullopt;
  const std::string& op = n->op_type();
  size_t wi;
  Role role;
  if (op == "MatMul" || op == "Gemm") {
    wi = 1;
    role = Role::kMatMul;
  } else if (op == "Gather") {
    wi = 0;
    role = Role::kEmbedding;
  } else if (op == "Conv") {
    wi = 1;
    role = Role::kConv;
  } else {
    return std::nullopt;
  }
  Value* w = n->input(wi);
  // Weights stored [out, in] reach a MatMul through Transpose(perm=[1, 0]), and half-precision
  // ones through a Cast to float first (the Hugging Face LLM frontend builds both: the tensors
  // stay views of the checkpoint). The DequantizeLinear then replaces the stored tensor itself.
  bool transposed = false;
  auto single_use_producer = [](Value* v, const char* op) -> Node* {
    Node* p = v ? v->producer() : nullptr;
    if (!p || p->op_type() != op || !p->domain().empty() || p->inputs().size() != 1 || v->uses().size() != 1 || v->is_graph_output()) return nullptr;
    return p;
  };
  if (role == Role::kMatMul && op == "MatMul" && w && !w->initializer()) {
    if (Node* t = single_use_producer(w, "Transpose"); t && t->attr_ints("perm") == std::vector<int64_t>{1, 0}) {
      w = t->input(0);
      transposed = true;
    }
  }
  if ((role == Role::kMatMul || role == Role::kEmbedding) && w && !w->initializer()) {
    if (Node* cast = single_use_producer(w, "Cast"); cast && cast->attr_int("to", 0) == static_cast<int64_t>(DataType::kFloat)) {
      Value* src = cast->input(0);
      if (src && src->initializer() && (src->initializer()->dtype() == DataType::kBfloat16 || src->initializer()->dtype() == DataType::kFloat16))
        w = src;
    }
  }
  if (!w || !w->initializer() || w->is_graph_input() || w->is_graph_output()) return std::nullopt;
  const Tensor& t = *w->initializer();
  quant::Source src;
  if (!float_source(t.dtype(), &src) || t.element_count() == 0) return std::nullopt;
  auto bytes = raw_bytes_for(t.dtype(), t.element_count());
  if (!bytes || *bytes != t.nbytes() || !t.data()) return std::nullopt;
  const auto& d = t.dims();
  Candidate c{n, w, role, Layout{}, false, std::nullopt, -1, "", 0};
  if (role == Role::kMatMul) {
    if (d.size() != 2) return std::nullopt;
    Value* a = n->input(0);
    if (!a || constant_of(a)) return std::nullopt;  // a constant product is folding's business
    bool trans_b = (op == "Gemm" && n->attr_int("transB", 0) != 0) || transposed;
    c.rows = trans_b;
    c.layout = trans_b ? Layout{d[0], d[1], 1, d[1]} : Layout{1, d[0], d[1], d[0]};
  } else if (role == Role::kEmbedding) {
    if (d.size() != 2 || norm(n->attr_int("axis", 0), 2) != 0) return std::nullopt;
    c.rows = true;
    c.layout = Layout{d[0], d[1], 1, d[1]};
  } else {
    if (d.size() < 3) return std::nullopt;
    int64_t r = 1;
    for (size_t i = 1; i < d.size(); ++i) r *= d[i];
    c.rows = true;
    c.layout = Layout{d[0], r, 1, r};
  }
  return c;
}

class Scope {
 public:
  explicit Scope(const CompressOptions& o) : names_(o.ignored_names.begin(), o.ignored_names.end()), types_(o.ignored_types.begin(), o.ignored_types.end()) {
    for (const auto& p : o.ignored_patterns) {
      try {
        patterns_.emplace_back(p, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        fail(ErrorKind::kInvalidModel, "ignored scope: '" + p + "' is not a valid regular expression (" + e.what() + ")");
      }
    }
  }
  bool ignores(const Node& n, const Value& w) const {
    if (types_.count(n.op_type())) return true;
    for (const std::string* s : {&n.name(), &w.name()}) {
      if (s->empty()) continue;
      if (names_.count(*s)) return true;
      for (const auto& re : patterns_)
        if (std::regex_search(*s, re)) return true;
    }
    return false;
  }

 private:
  std::unordered_set<std::string> names_, types_;
  std::vector<std::regex> patterns_;
};

// Decides scheme and group of each candidate (see the header for the rules).
void plan(std::vector<Candidate>& cands, const CompressOptions& o, bool last_skipped) {
  const bool int4 = quant::bits(o.mode) == 4;
  auto backup = [&](Candidate& c, const std::string& why) {
    c.scheme = o.backup;
    c.group = -1;
    c.reason = why + (o.backup ? ": backup mode" : ": backup mode none, kept float");
  };
  if (!int4) {
    for (Candidate& c : cands) {
      c.scheme = o.mode;
      c.group = -1;
      c.reason = "mode";
    }
    return;
  }
  std::vector<Candidate*> ratio_defining;
  for (Candidate& c : cands) {
    if (c.role == Role::kMatMul) ratio_defining.push_back(&c);
    else if (c.role == Role::kEmbedding && !o.all_layers) backup(c, "embedding");
    else if (c.role == Role::kConv) backup(c, "convolution (per channel only)");
  }
  if (!o.all_layers && !last_skipped && !ratio_defining.empty()) {
    backup(*ratio_defining.back(), "last layer");
    ratio_defining.pop_back();
  }
  if (o.all_layers)
    for (Candidate& c : cands)
      if (c.role == Role::kEmbedding) ratio_defining.push_back(&c);
  // Group size per weight; a reduction axis it does not divide needs the fallback.
  std::vector<Candidate*> grouped;
  std::string failed;
  for (Candidate* c : ratio_defining) {
    int64_t r = c->layout.R, g = o.group_size <= 0 ? r : o.group_size;
    if (r % g == 0) {
      c->group = g;
      grouped.push_back(c);
      continue;
    }
    if (o.group_size_fallback == "adjust") {
      int64_t pow2 = r & -r;  // largest power of two dividing r
      if (pow2 >= 32 && pow2 < g) {
        c->group = pow2;
        c->reason = "group size adjusted to " + std::to_string(pow2);
        grouped.push_back(c);
      } else {
        backup(*c, "group size " + std::to_string(g) + " does not divide " + std::to_string(r));
      }
    } else if (o.group_size_fallback == "ignore") {
      c->scheme.reset();
      c->reason = "group size " + std::to_string(g) + " does not divide " + std::to_string(r) + ": kept float";
    } else {
      failed += (failed.empty() ? "" : ", ") + c->weight->name() + " (" + std::to_string(r) + ")";
    }
  }
  if (!failed.empty())
    fail(ErrorKind::kUnsupported, "group size " + std::to_string(o.group_size) + " does not divide the reduction axis of: " + failed +
                                      "; choose another group size or group_size_fallback 'adjust' or 'ignore'");
  // Mixed precision by NNCF's data-free criterion (weights with the largest int8 error first).
  std::vector<Candidate*> int4_set = grouped;
  if (o.ratio < 1.0) {
    uint64_t total = 0;
    for (Candidate* c : grouped) total += static_cast<uint64_t>(c->layout.elements());
    std::vector<std::pair<double, size_t>> scores;
    for (size_t i = 0; i < grouped.size(); ++i) {
      Candidate& c = *grouped[i];
      const Tensor& t = *c.weight->initializer();
      quant::Source src;
      float_source(t.dtype(), &src);
      Layout per_channel = c.layout;
      per_channel.group = per_channel.R;
      quant::Params p = quant::compute_params(t.data(), src, per_channel, Scheme::kInt8Asym, c.weight->name());
      quant::ErrorStats st = quant::measure_error(t.data(), src, per_channel, Scheme::kInt8Asym, p);
      if (t.is_mapped()) t.storage()->mapping()->release(t.data(), t.nbytes());
      c.int8_error = st.max_channel_mse;
      scores.push_back({1.0 / (st.max_channel_mse + std::numeric_limits<float>::epsilon()), i});
    }
    std::stable_sort(scores.begin(), scores.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    int4_set.clear();
    uint64_t in4 = 0;
    for (const auto& [score, i] : scores) {
      auto n = static_cast<uint64_t>(grouped[i]->layout.elements());
      if (static_cast<double>(in4 + n) / static_cast<double>(total) >= o.ratio) break;
      int4_set.push_back(grouped[i]);
      in4 += n;
    }
  }
  std::unordered_set<Candidate*> chosen(int4_set.begin(), int4_set.end());
  for (Candidate* c : grouped) {
    if (chosen.count(c)) {
      c->scheme = o.mode;
      if (c->reason.empty()) c->reason = "mode";
    } else {
      backup(*c, "ratio");
    }
  }
}

std::vector<int64_t> param_dims(const Layout& l, bool rows) {
  bool per_channel = l.group == l.R;
  if (rows) return per_channel ? std::vector<int64_t>{l.A} : std::vector<int64_t>{l.A, l.groups()};
  return per_channel ? std::vector<int64_t>{l.B} : std::vector<int64_t>{l.groups(), l.B};
}

std::vector<uint8_t> encode_scales(const std::vector<float>& s, DataType t) {
  std::vector<uint8_t> out;
  if (t == DataType::kFloat) {
    out.resize(s.size() * 4);
    std::memcpy(out.data(), s.data(), out.size());
    return out;
  }
  out.resize(s.size() * 2);
  for (size_t i = 0; i < s.size(); ++i) {
    uint16_t h = t == DataType::kFloat16 ? f32_to_f16(s[i]) : f32_to_bf16(s[i]);
    std::memcpy(&out[2 * i], &h, 2);
  }
  return out;
}

std::vector<uint8_t> encode_zero_points(const std::vector<uint8_t>& z, bool four) {
  if (!four) return z;
  std::vector<uint8_t> out((z.size() + 1) / 2, 0);
  for (size_t i = 0; i < z.size(); ++i) out[i / 2] |= static_cast<uint8_t>((z[i] & 0x0F) << (i % 2 ? 4 : 0));
  return out;
}

DataType quantized_dtype(Scheme s) {
  switch (s) {
    case Scheme::kInt8Asym: return DataType::kUint8;
    case Scheme::kInt8Sym: return DataType::kInt8;
    case Scheme::kInt4Asym: return DataType::kUint4;
    case Scheme::kInt4Sym: return DataType::kInt4;
  }
  return DataType::kUndefined;
}

// Replaces the candidate's weight with Q, scale, zero point and a DequantizeLinear.
CompressedWeight rewrite(Graph& g, Candidate& c, NameGen& names, const std::unordered_map<const Node*, size_t>& order) {
  Value* w = c.weight;
  auto src_tensor = w->initializer();
  CompressedWeight info;
  info.weight = w->name();
  info.node = c.node->name();
  info.op_type = c.node->op_type();
  info.shape = src_tensor->dims();
  info.original_bytes = src_tensor->nbytes();
  info.reason = c.reason;
  if (!c.scheme) {
    info.mode = "float";
    info.compressed_bytes = info.original_bytes;
    return info;
  }
  Scheme scheme = *c.scheme;
  quant::Source src;
  float_source(src_tensor->dtype(), &src);
  Layout l = c.layout;
  l.group = c.group > 0 ? c.group : l.R;
  const bool four = quant::bits(scheme) == 4, asym = quant::is_asym(scheme);
  std::vector<int64_t> pdims = param_dims(l, c.rows);
  auto storage = std::make_shared<QuantizedWeight>(src_tensor, src, l, scheme, w->name());
  auto q = std::make_shared<Tensor>(names.fresh(w->name() + "_quantized"), quantized_dtype(scheme), src_tensor->dims());
  q->set_view(storage, 0, storage->size());
  auto params = static_cast<uint64_t>(l.params());
  auto scale = std::make_shared<Tensor>(names.fresh(w->name() + "_scale"), src_tensor->dtype(), pdims);
  auto scale_bytes = params * (src_tensor->dtype() == DataType::kFloat ? 4 : 2);
  scale->set_view(std::make_shared<ParamBytes>(storage, false, scale_bytes), 0, scale_bytes);
  std::shared_ptr<Tensor> zero;
  if (asym) {
    zero = std::make_shared<Tensor>(names.fresh(w->name() + "_zero_point"), quantized_dtype(scheme), pdims);
    uint64_t zero_bytes = four ? (params + 1) / 2 : params;
    zero->set_view(std::make_shared<ParamBytes>(storage, true, zero_bytes), 0, zero_bytes);
  }

  // The DequantizeLinear goes right before the weight's first user.
  Node* anchor = nullptr;
  size_t best = std::numeric_limits<size_t>::max();
  for (const Use& u : w->uses()) {
    auto it = order.find(u.node);
    if (it != order.end() && it->second < best) {
      best = it->second;
      anchor = u.node;
    }
  }
  if (!anchor) anchor = c.node;
  Node* dq = g.insert_node_before(anchor, "DequantizeLinear");
  dq->set_name(names.fresh(w->name() + "/DequantizeLinear"));
  dq->add_input(g.add_initializer(q));
  dq->add_input(g.add_initializer(scale));
  if (zero) dq->add_input(g.add_initializer(zero));
  bool per_channel = l.group == l.R;
  auto int_attr = [&](const char* name, int64_t v) {
    Attribute a;
    a.name = name;
    a.kind = AttrKind::kInt;
    a.i = v;
    dq->attributes().push_back(std::move(a));
  };
  // Per channel: scales along the channel axis; grouped: blocks along the reduction axis.
  if (per_channel) int_attr("axis", c.rows ? 0 : 1);
  else {
    int_attr("axis", c.rows ? 1 : 0);
    int_attr("block_size", l.group);
  }
  std::string name = w->name();
  Value* out = dq->add_output(names.fresh(name + "_dequantized"));
  out->set_type(w->type());
  g.replace_all_uses(w, out);
  g.remove_value(w);
  out->set_name(name);  // users and dumps keep reading the weight's name

  info.mode = quant::scheme_name(scheme);
  info.group_size = per_channel ? -1 : l.group;
  info.compressed_bytes = q->nbytes() + scale->nbytes() + (zero ? zero->nbytes() : 0);
  info.data = storage;
  return info;
}

}  // namespace

CompressResult compress_weights(Model& model, const CompressOptions& o) {
  CompressResult result;
  result.opset_before = result.opset_after = model.opset_version("");
  if (!model.graph) return result;
  if (o.ratio < 0 || o.ratio > 1) fail(ErrorKind::kInvalidModel, "compress_weights: ratio must be within [0, 1], got " + std::to_string(o.ratio));
  if (quant::bits(o.mode) == 4 && o.group_size == 0) fail(ErrorKind::kInvalidModel, "compress_weights: group_size must be positive or -1");
  if (o.group_size_fallback != "adjust" && o.group_size_fallback != "ignore" && o.group_size_fallback != "error")
    fail(ErrorKind::kInvalidModel, "compress_weights: group_size_fallback must be 'adjust', 'ignore' or 'error', not '" + o.group_size_fallback + "'");
  Graph& g = *model.graph;
  Scope scope(o);
  std::unordered_map<const Node*, size_t> order;
  std::vector<Node*> with_weights;
  for (const auto& n : g.nodes()) {
    order[n.get()] = order.size();
    if (candidate_of(n.get())) with_weights.push_back(n.get());
  }
  // NNCF's walk: each weight once (first consumer); the last node with weights decides whether
  // the LM head is still among the ratio-defining weights.
  std::vector<Candidate> cands, ignored;
  std::unordered_set<const Value*> seen;
  bool last_skipped = false;
  for (size_t i = 0; i < with_weights.size(); ++i) {
    Candidate c = *candidate_of(with_weights[i]);
    bool last = i + 1 == with_weights.size();
    if (seen.count(c.weight)) {
      last_skipped = last;
      continue;
    }
    seen.insert(c.weight);
    if (scope.ignores(*c.node, *c.weight)) {
      last_skipped = last;
      c.reason = "ignored scope";
      ignored.push_back(c);
      continue;
    }
    cands.push_back(c);
  }
  plan(cands, o, last_skipped);
  NameGen names(model);
  // int4 types and block_size exist from opset 21, f16/bf16 scales from 19, per-axis int8 from 13.
  int64_t need = 0;
  for (Candidate& c : cands) {
    if (c.scheme) {
      bool grouped = c.group > 0 && c.group != c.layout.R;
      need = std::max<int64_t>(need, quant::bits(*c.scheme) == 4 || grouped ? 21 : 13);
      if (c.weight->initializer()->dtype() != DataType::kFloat) need = std::max<int64_t>(need, 19);
    }
    result.weights.push_back(rewrite(g, c, names, order));
  }
  for (Candidate& c : ignored) result.weights.push_back(rewrite(g, c, names, order));
  if (need > model.opset_version("")) {
    std::string why = upgrade_default_opset(model, need);
    if (!why.empty())
      result.onnx_note = "ONNX output needs opset " + std::to_string(need) + " for the compressed weights, but the opset could not be raised: " + why;
  }
  result.opset_after = model.opset_version("");
  return result;
}

}  // namespace irforge::passes
