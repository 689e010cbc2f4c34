// ONNX quantization ops lowered to OpenVINO: QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, QLinearMatMul, QLinearConv.
//
// Scale and zero point come in three granularities (ONNX): a scalar (per tensor), a 1-D vector
// along `axis` (per axis), or a tensor of x's rank holding one value per `block_size` elements
// along `axis` (blocked, opset 21). They are made broadcastable against x here.
//
// Quantizing to an integer type with constant scale and zero point is a FakeQuantize to the
// type's range followed by a Convert, as OpenVINO's own ONNX frontend does: the CPU plugin's
// low-precision transformations recognise FakeQuantize → ... → (Convert, Subtract, Multiply)
// chains and run the ops between in int8. With input range [(lo - zp) * s, (hi - zp) * s],
// output range [lo, hi] and hi - lo + 1 levels, FakeQuantize computes
// clamp(round(x / s) + zp, lo, hi) (see `quantize` for how its rounding differs on exact ties).
// Dequantization is Convert → Subtract → Multiply, the chain those transformations fold into
// the int8 op before it.
#include <algorithm>
#include <array>
#include <cstring>

#include "io/openvino/lowering.h"
#include "io/openvino/ops/nn_common.h"
#include "io/openvino/ops/quant_common.h"
#include "support/fp16.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

PortRef bin(NodeContext& c, const char* type, PortRef a, PortRef b) { return c.op(type, "opset1", {a, b}, kNumpy); }

// The [lo, hi] range of an integer quantized type; nullopt for float types.
std::optional<std::pair<double, double>> int_range(ElemType t) {
  switch (t) {
    case ElemType::kU8: return std::make_pair(0.0, 255.0);
    case ElemType::kI8: return std::make_pair(-128.0, 127.0);
    case ElemType::kU16: return std::make_pair(0.0, 65535.0);
    case ElemType::kI16: return std::make_pair(-32768.0, 32767.0);
    case ElemType::kU4: return std::make_pair(0.0, 15.0);
    case ElemType::kI4: return std::make_pair(-8.0, 7.0);
    default: return std::nullopt;
  }
}

// Largest finite value of a float8/float4 type (saturation bound).
std::optional<double> float_max(ElemType t) {
  switch (t) {
    case ElemType::kF8E4M3: return 448.0;
    case ElemType::kF8E5M2: return 57344.0;
    case ElemType::kF4E2M1: return 6.0;
    default: return std::nullopt;
  }
}

// How many dims of input 0 follow `axis` (negative: counted from the back when the rank is
// unknown). An axis no tensor rank allows is an invalid model, not a [n, 1 x 2^40] shape.
int64_t trailing_dims(NodeContext& c, std::optional<int64_t> xrank, int64_t axis) {
  constexpr int64_t kMaxRank = 64;
  int64_t r = xrank.value_or(kMaxRank);
  if (axis < -r || axis >= r)
    c.invalid("axis " + std::to_string(axis) + " is outside the input's rank " + (xrank ? std::to_string(*xrank) : "(at most 64)"));
  return xrank ? *xrank - norm_axis(axis, *xrank) - 1 : -axis - 1;
}

// Scale or zero point (input `pi`) made broadcastable against x (input 0) per the granularity
// rules in the file comment.
PortRef broadcastable(NodeContext& c, PortRef p, size_t pi, int64_t axis, int64_t block) {
  auto prank = c.input_rank(pi);
  if (!prank) c.unsupported("the rank of the scale / zero point must be known");
  if (*prank == 0) return p;
  // A one-element [1] scale broadcasts like a scalar whatever `axis` says (ONNX's reference and
  // onnxruntime accept the default axis 1 on a rank-1 input then; the node tests do this).
  if (block == 0) {
    const Value* v = c.node().input(pi);
    const auto& shape = v ? v->type().shape : std::nullopt;
    if (shape && shape->size() == 1 && (*shape)[0].is_static() && (*shape)[0].value == 1) return p;
  }
  auto xrank = c.input_rank(0);
  // The per-axis shapes below have one dim per axis after `axis`; with x's rank unknown (a Loop
  // body) the reader's validator could not check it, so bound it by the largest rank a tensor
  // may have.
  constexpr int64_t kMaxRank = 64;
  int64_t r = xrank.value_or(kMaxRank);
  if (axis < -r || axis >= r)
    c.invalid("axis " + std::to_string(axis) + " is outside the input's rank " + (xrank ? std::to_string(*xrank) : "(at most 64)"));
  if (block > 0) {
    // Element i along the axis uses value i / block_size: a Gather repeats each value.
    PortRef x = c.input(0);
    PortRef shape = c.op("ShapeOf", "opset3", {x}, {{"output_type", "i64"}}, ElemType::kI64);
    PortRef len = c.op("Gather", "opset8", {shape, c.scalar_i64(axis), c.scalar_i64(0)}, {{"batch_dims", "0"}});
    PortRef range = c.op("Range", "opset4", {c.scalar_i64(0), len, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
    PortRef idx = bin(c, "Divide", range, c.scalar_i64(block));
    return c.op("Gather", "opset8", {p, idx, c.scalar_i64(axis)}, {{"batch_dims", "0"}});
  }
  if (*prank != 1) c.unsupported("a scale / zero point of rank > 1 needs block_size");
  // Per axis: [n] → [n, 1, ...] with one 1 per dim after the axis (counted at run time when the
  // axis is non-negative and x's rank unknown).
  if (!xrank && axis >= 0) {
    PortRef rank = c.op("ShapeOf", "opset3", {c.op("ShapeOf", "opset3", {c.input(0)}, {{"output_type", "i64"}}, ElemType::kI64)},
                        {{"output_type", "i64"}}, ElemType::kI64);
    PortRef trailing = bin(c, "Subtract", rank, c.const_i64({axis + 1}));
    PortRef ones = c.op("Broadcast", "opset3", {c.scalar_i64(1), trailing}, {{"mode", "numpy"}});
    PortRef target = c.op("Concat", "opset1", {c.const_i64({-1}), ones}, {{"axis", "0"}});
    return c.op("Reshape", "opset1", {p, target}, {{"special_zero", "false"}});
  }
  int64_t trailing = trailing_dims(c, xrank, axis);
  if (trailing <= 0) return p;
  Ints target(static_cast<size_t>(trailing) + 1, 1);
  target[0] = -1;
  return c.op("Reshape", "opset1", {p, c.const_i64(target)}, {{"special_zero", "false"}});
}

// The FakeQuantize input range [(lo - zp) * s, (hi - zp) * s] as constants, when the scale at
// input `si` and the zero point at `zi` (if given) are constants, per tensor or per axis; their
// shape is `shape` (e.g. [n, 1, 1] per axis). The CPU plugin's low-precision transformations
// only take FakeQuantize ops whose ranges are Const layers, not subgraphs that fold to them.
using Range = std::pair<PortRef, PortRef>;
std::optional<Range> constant_range(NodeContext& c, size_t si, std::optional<size_t> zi, const Ints& shape, std::pair<double, double> range) {
  auto scale = c.const_floats(si);
  std::optional<std::vector<double>> zero;
  if (zi) zero = c.const_floats(*zi);
  if (!scale || (zi && !zero) || scale->empty()) return std::nullopt;
  size_t n = scale->size();
  int64_t elements = 1;
  for (int64_t d : shape) elements *= d;
  if (static_cast<size_t>(elements) != n || (zero && zero->size() != n && zero->size() != 1)) return std::nullopt;
  std::vector<float> lo(n), hi(n);
  for (size_t i = 0; i < n; ++i) {
    float s = static_cast<float>((*scale)[i]);
    float z = zero ? static_cast<float>((*zero)[zero->size() == 1 ? 0 : i]) : 0.f;
    lo[i] = (static_cast<float>(range.first) - z) * s;
    hi[i] = (static_cast<float>(range.second) - z) * s;
  }
  return Range{c.const_f32(lo, shape), c.const_f32(hi, shape)};
}

// The shape a per-axis parameter vector of length n takes to broadcast along `axis` of input 0:
// [n, 1, ...]; nullopt when that needs x's unknown rank.
std::optional<Ints> per_axis_shape(NodeContext& c, int64_t n, int64_t axis) {
  auto xrank = c.input_rank(0);
  if (!xrank && axis >= 0) return std::nullopt;
  int64_t trailing = trailing_dims(c, xrank, axis);
  Ints shape(static_cast<size_t>(std::max<int64_t>(trailing, 0)) + 1, 1);
  shape[0] = n;
  return shape;
}

PortRef clamp(NodeContext& c, PortRef x, double lo, double hi) {
  return c.op("Clamp", "opset1", {x}, {{"min", fmt_float(lo)}, {"max", fmt_float(hi)}});
}

// y = saturate(round(x / s) + zp) in type `out` (x, s, zp already broadcastable and in one
// float type). For integer types, with `fq` (constant ranges, see constant_range) this is a
// FakeQuantize; it rounds half to even after adding zp - lo, so when that is odd an exact tie
// x / s = k + 0.5 lands one step away from ONNX. Without constant ranges (parameters computed
// at run time, which the CPU plugin could not run in int8 anyway) it is the exact
// Divide/Round/Add/Clamp form.
PortRef quantize(NodeContext& c, PortRef x, PortRef s, std::optional<PortRef> zp, ElemType out, bool saturate, std::optional<Range> fq) {
  if (auto range = int_range(out)) {
    if (fq && c.type(x) == ElemType::kF32) {
      auto levels = static_cast<int64_t>(range->second - range->first + 1);
      PortRef lo = c.scalar(ElemType::kF32, range->first), hi = c.scalar(ElemType::kF32, range->second);
      return c.convert(c.op("FakeQuantize", "opset1", {x, fq->first, fq->second, lo, hi}, {{"levels", std::to_string(levels)}, {"auto_broadcast", "numpy"}}),
                       out);
    }
    PortRef y = c.op("Round", "opset5", {bin(c, "Divide", x, s)}, {{"mode", "half_to_even"}});
    if (zp) y = bin(c, "Add", y, *zp);
    return c.convert_exact(clamp(c, y, range->first, range->second), out);
  }
  auto fmax = float_max(out);
  if (!fmax) c.unsupported(std::string("quantizing to ") + elem_name(out) + " is not supported");
  // Float targets: x / s + zp, clamped to the finite range when saturating (the Convert then
  // rounds to nearest even). Without saturation OpenVINO's Convert gives NaN (e4m3) or inf
  // (e5m2) out of range, as ONNX specifies. The CPU plugin's Clamp maps NaN to the lower bound,
  // so NaNs are passed around it.
  PortRef y = bin(c, "Divide", x, s);
  if (zp) y = bin(c, "Add", y, *zp);
  if (saturate) {
    PortRef nan = c.op("IsNaN", "opset10", {y}, {}, ElemType::kBoolean);
    y = c.op("Select", "opset1", {nan, y, clamp(c, y, -*fmax, *fmax)}, kNumpy, c.type(y));
  }
  return c.convert(y, out);
}

// The element type a QuantizeLinear produces: the zero point's, else output_dtype, else u8.
ElemType quantized_type(NodeContext& c) {
  if (c.has_input(2)) return c.type(c.input_keep_precision(2));
  if (auto t = c.attr_elem_type("output_dtype")) return *t;
  return ElemType::kU8;
}

void lower_quantize_linear(NodeContext& c) {
  // x / scale is computed in the scale's type (ONNX), or in `precision` when given.
  // com.microsoft's versions always had `axis`.
  int64_t axis = c.opset() >= 13 || !c.node().domain().empty() ? c.attr_int("axis", 1) : 1;
  int64_t block = c.attr_int("block_size", 0);
  PortRef s = c.input_keep_precision(1);
  ElemType ct = c.type(s);
  if (auto t = c.attr_elem_type("precision")) {
    ct = *t;
    s = c.convert(s, ct);
  }
  ElemType out = quantized_type(c);
  PortRef x = c.convert(c.input(0), ct);
  s = broadcastable(c, s, 1, axis, block);
  std::optional<PortRef> zp;
  if (c.has_input(2)) zp = broadcastable(c, c.convert(c.input_keep_precision(2), ct), 2, axis, block);
  std::optional<Range> fq;
  auto range = int_range(out);
  auto srank = c.input_rank(1);
  if (range && block == 0 && srank && *srank <= 1) {
    const Tensor* st = c.const_input(1);
    std::optional<Ints> shape = *srank == 0 ? Ints{} : st ? per_axis_shape(c, static_cast<int64_t>(st->element_count()), axis) : std::nullopt;
    if (shape) fq = constant_range(c, 1, c.has_input(2) ? std::optional<size_t>(2) : std::nullopt, *shape, *range);
  }
  c.set_output(0, quantize(c, x, s, zp, out, c.attr_int("saturate", 1) != 0, fq));
}

// Blocked dequantization of x with static dims whose axis length is a multiple of the block:
// x [.., D, ..] → [.., D/B, B, ..] against scale / zero point [.., D/B, 1, ..], then back to x's
// shape. For constant int4/int8 weights this is the grouped decompression form (Const [O, I/G, G]
// → Convert → Subtract → Multiply → Reshape) that the CPU plugin's compressed MatMul kernels
// expect; with scales repeated to x's full shape those kernels give wrong results for int4.
std::optional<PortRef> dequantize_grouped(NodeContext& c, ElemType out, int64_t axis, int64_t block) {
  PShape xs = c.shape(c.input(0));
  if (!xs || std::any_of(xs->begin(), xs->end(), [](int64_t d) { return d < 0; })) return std::nullopt;
  auto r = static_cast<int64_t>(xs->size());
  int64_t a = norm_axis(axis, r);
  if (a < 0 || a >= r || (*xs)[static_cast<size_t>(a)] % block != 0 || c.input_rank(1) != r) return std::nullopt;
  Ints split(xs->begin(), xs->end());
  split[static_cast<size_t>(a)] /= block;
  split.insert(split.begin() + a + 1, block);
  auto reshape = [&](PortRef p, const Ints& shape) { return c.op("Reshape", "opset1", {p, c.const_i64(shape)}, {{"special_zero", "false"}}); };
  auto grouped = [&](size_t i) { return c.op("Unsqueeze", "opset1", {c.convert(c.input_keep_precision(i), out), c.const_i64({a + 1})}); };
  PortRef y = c.convert(reshape(c.input_keep_precision(0), split), out);
  if (c.has_input(2)) y = bin(c, "Subtract", y, grouped(2));
  return reshape(bin(c, "Multiply", y, grouped(1)), *xs);
}

// A Const layer of tensor `t` whose shape is `shape` (same element count, same bytes).
PortRef const_as(NodeContext& c, const Tensor& t, const Ints& shape, const std::string& name) {
  PortRef p = c.lowering().constant(t, false, name);
  Layer& l = c.graph().layers[static_cast<size_t>(p.layer)];
  for (auto& kv : l.data)
    if (kv.first == "shape") kv.second = join_ints(shape);
  l.outputs[0].shape = shape;
  return p;
}

// f32 values converted to f16 (clamped to ±65504, as OpenVINO's compression does) when the .bin
// is written: the values may themselves be computed then (compressed weights' scales), and
// reading them while lowering would read every weight of the model before writing any.
class F16FromF32 final : public ComputedStorage {
 public:
  explicit F16FromF32(const Tensor& src) : ComputedStorage(src.element_count() * 2), src_(src) {}
  void produce(size_t offset, size_t n, uint8_t* out) const override {
    const uint8_t* p = src_.data();
    for (size_t i = offset / 2; i < (offset + n) / 2; ++i) {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      uint16_t h = f32_to_f16(std::clamp(v, -65504.f, 65504.f));
      std::memcpy(out + 2 * i - offset, &h, 2);
    }
  }

 private:
  const Tensor& src_;  // owned by the Model, which outlives lowering and writing
};

PortRef f16_const(NodeContext& c, const Tensor& src, const Ints& shape, const std::string& name) {
  auto t = std::make_shared<Tensor>(name, DataType::kFloat16, shape);
  auto storage = std::make_shared<F16FromF32>(src);
  t->set_view(storage, 0, storage->size());
  return c.const_tensor(t, ElemType::kF16, shape, name);
}

bool same_constant(const Tensor* a, const Tensor* b) {
  return a && b && !a->computed() && !b->computed() && a->dtype() == b->dtype() && a->dims() == b->dims() && a->nbytes() == b->nbytes() && a->data() && b->data() &&
         std::memcmp(a->data(), b->data(), a->nbytes()) == 0;
}

// QuantizeLinear → DequantizeLinear with the same constant scale and zero point (QDQ models from
// onnxruntime's quantize_static) is one FakeQuantize whose input and output ranges are both
// [(lo - zp) * s, (hi - zp) * s]: what ovc writes per pair and what the CPU plugin's
// low-precision transformations run in int8. Lowering each node on its own gives
// FakeQuantize → Convert → Convert → Subtract → Multiply. The QuantizeLinear's own layers are
// pruned when nothing else reads them.
bool lower_qdq_pair(NodeContext& c, int64_t axis, int64_t block) {
  const Value* qv = c.node().input(0);
  const Node* q = qv ? qv->producer() : nullptr;
  if (block != 0 || !q || q->op_type() != "QuantizeLinear" || (!q->domain().empty() && q->domain() != "com.microsoft")) return false;
  if (q->attr_int("block_size", 0) != 0 || q->attr("precision") || q->attr("output_dtype") || q->inputs().size() < 2) return false;
  int64_t qaxis = q->domain().empty() && c.lowering().model().opset_version("") < 13 ? 1 : q->attr_int("axis", 1);
  if (qaxis != axis) return false;
  GraphLowering& g = c.lowering();
  const Tensor* qz = q->inputs().size() > 2 && q->inputs()[2] ? g.constant_tensor(q->inputs()[2]) : nullptr;
  const Tensor* dz = c.has_input(2) ? c.const_input(2) : nullptr;
  if (!same_constant(g.constant_tensor(q->inputs()[1]), c.const_input(1)) || (qz || dz ? !same_constant(qz, dz) : false)) return false;
  if ((q->inputs().size() > 2 && q->inputs()[2] && !qz) || (c.has_input(2) && !dz)) return false;
  auto qt = dz ? from_onnx(dz->dtype()) : std::optional<ElemType>(ElemType::kU8);
  auto range = qt ? int_range(*qt) : std::nullopt;
  const Tensor* st = c.const_input(1);
  if (!range || from_onnx(st->dtype()) != ElemType::kF32) return false;
  PortRef x = g.port_of(q->inputs()[0]);
  if (c.type(x) != ElemType::kF32) return false;
  auto srank = c.input_rank(1);
  if (!srank || *srank > 1) return false;
  std::optional<Ints> shape = *srank == 0 ? Ints{} : per_axis_shape(c, static_cast<int64_t>(st->element_count()), axis);
  if (!shape) return false;
  auto fq = constant_range(c, 1, dz ? std::optional<size_t>(2) : std::nullopt, *shape, *range);
  if (!fq) return false;
  auto levels = static_cast<int64_t>(range->second - range->first + 1);
  c.set_output(0, c.op("FakeQuantize", "opset1", {x, fq->first, fq->second, fq->first, fq->second},
                       {{"levels", std::to_string(levels)}, {"auto_broadcast", "numpy"}}));
  return true;
}

// Constant integer weights (what irforge.compress_weights and NNCF produce) become the chain the
// CPU plugin runs compressed MatMul / Gather kernels on, as NNCF writes it (see OPENVINO_IR.md):
//   Const q [.., D/B, B, ..] → Convert(ft) ─ Subtract(Const zp [.., D/B, 1, ..] → Convert(ft))
//   ─ Multiply(Const scale ft [.., D/B, 1, ..]) ─ Reshape(x's shape) ─ Convert(output type)
// per axis the same without the split and Reshape (parameters [1, .., n, .., 1]). ft is f16 when
// fp16 compression is on (scales rounded to f16, as NNCF stores them), else the output type.
bool lower_weight_dequantize(NodeContext& c, int64_t axis, int64_t block, ElemType out) {
  const Tensor* x = c.const_input(0);
  const Tensor* s = c.const_input(1);
  const Tensor* z = c.has_input(2) ? c.const_input(2) : nullptr;
  if (!x || !s || (c.has_input(2) && !z)) return false;
  auto xt = from_onnx(x->dtype());
  if (!xt || !int_range(*xt) || elem_bits(*xt) > 8 || (out != ElemType::kF32 && out != ElemType::kF16)) return false;
  auto r = static_cast<int64_t>(x->dims().size());
  int64_t a = norm_axis(axis, r);
  if (r == 0 || a < 0 || a >= r) return false;
  Ints qshape = x->dims(), pshape(static_cast<size_t>(r), 1);
  const int64_t d = x->dims()[static_cast<size_t>(a)];
  if (block > 0) {
    Ints expect = x->dims();
    expect[static_cast<size_t>(a)] = d / block;
    if (d % block != 0 || s->dims() != expect) return false;
    qshape[static_cast<size_t>(a)] = d / block;
    qshape.insert(qshape.begin() + a + 1, block);
    pshape = qshape;
    pshape[static_cast<size_t>(a) + 1] = 1;
  } else {
    if (s->dims() != Ints{d}) return false;
    pshape[static_cast<size_t>(a)] = d;
  }
  if (z && (z->dims() != s->dims() || z->dtype() != x->dtype())) return false;
  ElemType ft = c.lowering().options().compress_to_fp16 ? ElemType::kF16 : out;
  auto st = from_onnx(s->dtype());
  if (!st || (*st != ft && !(*st == ElemType::kF32 && ft == ElemType::kF16))) return false;
  const std::string base = c.node().inputs()[0]->name();
  PortRef y = c.convert(const_as(c, *x, qshape, base), ft);
  if (z && !nn::all_zero_bytes(z)) y = bin(c, "Subtract", y, c.convert(const_as(c, *z, pshape, c.node().inputs()[2]->name()), ft));
  PortRef scale = *st == ft ? const_as(c, *s, pshape, c.node().inputs()[1]->name()) : f16_const(c, *s, pshape, c.node().inputs()[1]->name());
  y = bin(c, "Multiply", y, scale);
  if (block > 0) y = c.op("Reshape", "opset1", {y, c.const_i64(x->dims())}, {{"special_zero", "false"}});
  c.set_output(0, c.convert(y, out));
  return true;
}

void lower_dequantize_linear(NodeContext& c) {
  // y = (x - zp) * scale in the output type (the scale's, or output_dtype).
  // com.microsoft's versions always had `axis`.
  int64_t axis = c.opset() >= 13 || !c.node().domain().empty() ? c.attr_int("axis", 1) : 1;
  int64_t block = c.attr_int("block_size", 0);
  if (lower_qdq_pair(c, axis, block)) return;
  if (block == 0 && c.type(c.input_keep_precision(1)) == ElemType::kF32 && !c.attr_elem_type("output_dtype"))
    if (auto y = dequantized_requantization(c, c.input_keep_precision(0), 1, 2)) {  // after a QLinear op
      c.set_output(0, *y);
      return;
    }
  if (const Tensor* st = c.const_input(1)) {
    std::optional<ElemType> out = from_onnx(st->dtype());
    if (auto t = c.attr_elem_type("output_dtype")) out = *t;
    if (out && lower_weight_dequantize(c, axis, block, *out)) return;
  }
  PortRef s = c.input_keep_precision(1);
  ElemType out = c.type(s);
  if (auto t = c.attr_elem_type("output_dtype")) out = *t;
  if (block > 0) {
    if (auto y = dequantize_grouped(c, out, axis, block)) {
      c.set_output(0, *y);
      return;
    }
  }
  PortRef y = c.convert(c.input_keep_precision(0), out);
  if (c.has_input(2) && !nn::all_zero_bytes(c.const_input(2))) y = bin(c, "Subtract", y, broadcastable(c, c.convert(c.input_keep_precision(2), out), 2, axis, block));
  c.set_output(0, bin(c, "Multiply", y, broadcastable(c, c.convert(s, out), 1, axis, block)));
}

void lower_dynamic_quantize_linear(NodeContext& c) {
  auto [y, scale, zp] = dynamic_quantize(c, c.input(0));
  c.set_output(0, c.convert_exact(y, ElemType::kU8));
  c.set_output(1, scale);
  c.set_output(2, c.convert_exact(zp, ElemType::kU8));
}

}  // namespace

// (q - zp) * s as f32 for input `q` with scale input `si` and zero point input `zi` (optional),
// the pair broadcast along `axis` when 1-D.
// The one f32 value of Const layer `l`, if it is one.
std::optional<float> scalar_f32(const Layer& l) {
  if (l.type != "Const" || !l.constant || l.constant->source_type != ElemType::kF32 || l.constant->nbytes() != sizeof(float)) return std::nullopt;
  float v;
  std::memcpy(&v, l.constant->data(), sizeof v);
  return v;
}

// When `p` is a result requantized by set_requantized (FakeQuantize to the integer levels
// [lo, hi], then Convert to that integer type) and the scale / zero point at `si` / `zi` are
// constants per tensor: that FakeQuantize with the output range [(lo - zp)·s, (hi - zp)·s], which
// is the dequantized value. Between QLinear ops (QOperator models) this is one layer for
// FakeQuantize → Convert → Convert → Subtract → Multiply, the FakeQuantize that a QDQ model's
// QuantizeLinear → DequantizeLinear pair gets (lower_qdq_pair); the old chain is pruned when
// nothing else reads it.
std::optional<PortRef> dequantized_requantization(NodeContext& c, PortRef p, size_t si, size_t zi) {
  const OvGraph& g = c.graph();
  const Layer& convert = g.layers[static_cast<size_t>(p.layer)];
  if (convert.type != "Convert" || convert.inputs.size() != 1) return std::nullopt;
  const Layer& fq = g.layers[static_cast<size_t>(convert.inputs[0].layer)];
  auto range = int_range(c.type(p));
  if (fq.type != "FakeQuantize" || fq.inputs.size() != 5 || !range || c.type(fq.inputs[0]) != ElemType::kF32) return std::nullopt;
  auto lo = scalar_f32(g.layers[static_cast<size_t>(fq.inputs[3].layer)]), hi = scalar_f32(g.layers[static_cast<size_t>(fq.inputs[4].layer)]);
  if (!lo || !hi || *lo != range->first || *hi != range->second) return std::nullopt;
  if (c.input_rank(si).value_or(1) != 0 || (c.has_input(zi) && c.input_rank(zi).value_or(1) != 0)) return std::nullopt;
  auto s = c.const_floats(si);
  std::optional<std::vector<double>> z;
  if (c.has_input(zi)) z = c.const_floats(zi);
  if (!s || s->size() != 1 || (c.has_input(zi) && (!z || z->size() != 1))) return std::nullopt;
  const float scale = static_cast<float>((*s)[0]), zero = z ? static_cast<float>((*z)[0]) : 0.f;
  const float out_lo = (static_cast<float>(range->first) - zero) * scale, out_hi = (static_cast<float>(range->second) - zero) * scale;
  // A tensor read by several QLinear ops with the same parameters gets one FakeQuantize.
  for (size_t i = static_cast<size_t>(p.layer) + 1; i < g.layers.size(); ++i) {
    const Layer& l = g.layers[i];
    if (l.type == "FakeQuantize" && l.inputs.size() == 5 && l.data == fq.data && std::equal(l.inputs.begin(), l.inputs.begin() + 3, fq.inputs.begin(),
        [](PortRef a, PortRef b) { return a.layer == b.layer && a.port == b.port; }) &&
        scalar_f32(g.layers[static_cast<size_t>(l.inputs[3].layer)]) == out_lo && scalar_f32(g.layers[static_cast<size_t>(l.inputs[4].layer)]) == out_hi)
      return PortRef{static_cast<int>(i), 0};
  }
  // Copies: adding layers moves g.layers.
  const NodeContext::Attrs attrs = fq.data;
  const std::vector<PortRef> in(fq.inputs.begin(), fq.inputs.begin() + 3);
  PortRef lo_out = c.const_f32({out_lo}, Ints{}), hi_out = c.const_f32({out_hi}, Ints{});
  return c.op("FakeQuantize", "opset1", {in[0], in[1], in[2], lo_out, hi_out}, attrs);
}

PortRef dequantize_f32(NodeContext& c, size_t q, size_t si, size_t zi, int64_t axis, int64_t rank) {
  auto along = [&](PortRef p, size_t i) {
    if (c.input_rank(i).value_or(0) != 1) return p;
    Ints target(static_cast<size_t>(rank - norm_axis(axis, rank)), 1);
    // A constant parameter (per-channel weight scales) is a Const of that shape, no Reshape.
    if (const Tensor* t = c.const_input(i)) {
      target[0] = static_cast<int64_t>(t->element_count());
      if (auto k = c.reshaped_constant(p, target)) return *k;
    }
    target[0] = -1;
    return c.op("Reshape", "opset1", {p, c.const_i64(target)}, {{"special_zero", "false"}});
  };
  if (auto y = dequantized_requantization(c, c.input_keep_precision(q), si, zi)) return *y;
  PortRef y = c.convert(c.input_keep_precision(q), ElemType::kF32);
  if (c.has_input(zi) && !nn::all_zero_bytes(c.const_input(zi))) y = bin(c, "Subtract", y, c.convert(along(c.input_keep_precision(zi), zi), ElemType::kF32));
  return bin(c, "Multiply", y, c.convert(along(c.input_keep_precision(si), si), ElemType::kF32));
}

// Requantizes an f32 result with the output scale/zero point at inputs `si`, `zi` (per tensor;
// without a zero point, to input 0's type with zero point 0, as onnxruntime's contrib ops do).
void set_requantized(NodeContext& c, PortRef y, size_t si, size_t zi) {
  PortRef s = c.convert(c.input_keep_precision(si), ElemType::kF32);
  bool has_zp = c.has_input(zi);
  ElemType out = has_zp ? c.type(c.input_keep_precision(zi)) : c.type(c.input_keep_precision(0));
  if (!int_range(out)) c.unsupported(std::string("requantizing to ") + elem_name(out) + " is not supported");
  std::optional<PortRef> zp;
  if (has_zp) zp = c.convert(c.input_keep_precision(zi), ElemType::kF32);
  auto zi_opt = has_zp ? std::optional<size_t>(zi) : std::nullopt;
  c.set_output(0, quantize(c, y, s, zp, out, true, constant_range(c, si, zi_opt, Ints{}, *int_range(out))));
}

std::array<PortRef, 3> dynamic_quantize(NodeContext& c, PortRef x) {
  // scale = (max(x, 0) - min(x, 0)) / 255, zp = saturate(round(-min(x, 0) / scale)) (u8),
  // y = saturate(round(x / scale) + zp).
  ElemType t = c.type(x);
  // All axes: constant when the rank is known, else counted at run time.
  auto rank = c.input_rank(0);
  Ints all(static_cast<size_t>(rank.value_or(0)));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  PortRef axes = rank ? c.const_i64(all) : c.op("Range", "opset4",
                      {c.scalar_i64(0),
                       c.op("Squeeze", "opset1",
                            {c.op("ShapeOf", "opset3", {c.op("ShapeOf", "opset3", {x}, {{"output_type", "i64"}}, ElemType::kI64)},
                                  {{"output_type", "i64"}}, ElemType::kI64),
                             c.const_i64({0})}),
                       c.scalar_i64(1)},
                      {{"output_type", "i64"}}, ElemType::kI64);
  PortRef zero = c.scalar(t, 0.0);
  PortRef hi = bin(c, "Maximum", c.op("ReduceMax", "opset1", {x, axes}, {{"keep_dims", "false"}}), zero);
  PortRef lo = bin(c, "Minimum", c.op("ReduceMin", "opset1", {x, axes}, {{"keep_dims", "false"}}), zero);
  PortRef scale = bin(c, "Divide", bin(c, "Subtract", hi, lo), c.scalar(t, 255.0));
  PortRef zp = c.op("Round", "opset5", {bin(c, "Divide", c.op("Negative", "opset1", {lo}), scale)}, {{"mode", "half_to_even"}});
  zp = clamp(c, zp, 0, 255);
  // quantize() without FakeQuantize ranges ends in Clamp → Convert(u8); its input is the value.
  PortRef q = quantize(c, x, scale, zp, ElemType::kU8, true, std::nullopt);
  return {c.graph().layers[static_cast<size_t>(q.layer)].inputs[0], scale, zp};
}

namespace {

void lower_qlinear_matmul(NodeContext& c) {
  // a: per tensor or per row ([M], axis -2); b: per tensor or per column ([N], the last axis).
  auto ra = c.input_rank(0), rb = c.input_rank(3);
  if (!ra || !rb) c.unsupported("QLinearMatMul needs inputs of known rank");
  PortRef a = dequantize_f32(c, 0, 1, 2, -2, std::max<int64_t>(*ra, 2));
  PortRef b = dequantize_f32(c, 3, 4, 5, -1, *rb);
  PortRef y = c.op("MatMul", "opset1", {a, b}, {{"transpose_a", "false"}, {"transpose_b", "false"}});
  set_requantized(c, y, 6, 7);
}

void lower_qlinear_conv(NodeContext& c) {
  // Dequantized x and w (per output channel: w_scale [M] along axis 0), a float convolution,
  // the int32 bias dequantized with scale x_scale * w_scale, then requantization.
  int64_t n = nn::spatial_rank(c, 3);
  nn::Window win = nn::window_attrs(c, n);
  PortRef x = dequantize_f32(c, 0, 1, 2, 1, n + 2);
  PortRef w = dequantize_f32(c, 3, 4, 5, 0, n + 2);
  int64_t group = c.attr_int("group", 1);
  if (group < 1) c.invalid("group " + std::to_string(group) + " must be at least 1");
  PortRef y;
  if (group == 1) {
    y = c.op("Convolution", "opset1", {x, w}, nn::conv_attrs(win));
  } else {
    PShape ws = c.shape(c.input(3));
    if (!ws || std::any_of(ws->begin(), ws->end(), [](int64_t d) { return d < 0; })) c.unsupported("grouped QLinearConv needs static weight dims");
    if (ws->empty() || (*ws)[0] % group != 0) c.invalid("group " + std::to_string(group) + " does not divide the weights' first dim");
    Ints target = {group, (*ws)[0] / group};
    target.insert(target.end(), ws->begin() + 1, ws->end());
    w = c.op("Reshape", "opset1", {w, c.const_i64(target)}, {{"special_zero", "false"}});
    y = c.op("GroupConvolution", "opset1", {x, w}, nn::conv_attrs(win));
  }
  auto bias_q = c.const_ints(8);
  auto xs = c.const_floats(1), ws = c.const_floats(4);
  if (bias_q && xs && ws && xs->size() == 1 && (ws->size() == 1 || ws->size() == bias_q->size())) {
    // All constant (what quantize_static writes): the float bias computed here, in f32 as
    // onnxruntime does, one Const [1, M, 1, ..] instead of Convert / Multiply / Reshape layers.
    std::vector<float> bias(bias_q->size());
    for (size_t m = 0; m < bias.size(); ++m)
      bias[m] = static_cast<float>((*bias_q)[m]) * (static_cast<float>((*xs)[0]) * static_cast<float>((*ws)[ws->size() == 1 ? 0 : m]));
    Ints shape(static_cast<size_t>(n + 2), 1);
    shape[1] = static_cast<int64_t>(bias.size());
    y = bin(c, "Add", y, c.const_f32(bias, shape));
  } else if (c.has_input(8)) {
    PortRef bs = bin(c, "Multiply", c.convert(c.input_keep_precision(1), ElemType::kF32), c.convert(c.input_keep_precision(4), ElemType::kF32));
    PortRef bias = bin(c, "Multiply", c.convert(c.input_keep_precision(8), ElemType::kF32), bs);
    y = bin(c, "Add", y, nn::per_channel(c, bias, n + 2));
  }
  set_requantized(c, y, 6, 7);
}

}  // namespace

void register_quant_ops(LowerRegistry& r) {
  r.add("QuantizeLinear", lower_quantize_linear);
  r.add("DequantizeLinear", lower_dequantize_linear);
  r.add("DynamicQuantizeLinear", lower_dynamic_quantize_linear);
  r.add("QLinearMatMul", lower_qlinear_matmul);
  r.add("QLinearConv", lower_qlinear_conv);
  // onnxruntime's own versions (quantize_static with use_qdq_contrib_ops): the same semantics.
  r.add("QuantizeLinear", lower_quantize_linear, "com.microsoft");
  r.add("DequantizeLinear", lower_dequantize_linear, "com.microsoft");
}

}  // namespace irforge::ov
