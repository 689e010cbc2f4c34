// onnxruntime's com.microsoft quantization ops, as its quantization tools write them, lowered to
// OpenVINO: QLinearAdd, QLinearMul, QLinearSigmoid, QLinearGlobalAveragePool, QGemm (QOperator
// format of quantize_static), MatMulIntegerToFloat, DynamicQuantizeMatMul (quantize_dynamic's
// fused forms) and MatMulNBits (MatMulNBitsQuantizer's 4/8-bit blocked weights). Their ONNX
// output keeps them as they are (onnxruntime runs them); QuantizeLinear / DequantizeLinear of
// that domain are registered in ops/quant.cc.
//
// The QLinear ops are dequantize → float op → requantize (FakeQuantize to the output's constant
// range + Convert), the form the CPU plugin's low-precision transformations run in int8.
// MatMulNBits keeps its weights packed: a u4/u8 Const [N, blocks, block] → Convert → Subtract
// (zero point) → Multiply (scale) → Reshape [N, K], the decompression chain of compressed weights
// that the CPU plugin fuses into its MatMul (see ops/quant.cc lower_weight_dequantize).
// DynamicQuantizeLSTM is an LSTM (ops/rnn.cc) whose int8 weights lstm_quantized_weights decompresses.
#include <algorithm>
#include <cstring>

#include "io/openvino/ops/nn_common.h"
#include "io/openvino/ops/quant_common.h"

namespace irforge::ov {

namespace {

const NodeContext::Attrs kNumpy = {{"auto_broadcast", "numpy"}};

PortRef bin(NodeContext& c, const char* type, PortRef a, PortRef b) { return c.op(type, "opset1", {a, b}, kNumpy); }

PortRef matmul(NodeContext& c, PortRef a, PortRef b, bool ta = false, bool tb = false) {
  return c.op("MatMul", "opset1", {a, b}, {{"transpose_a", ta ? "true" : "false"}, {"transpose_b", tb ? "true" : "false"}});
}

int64_t rank_of(NodeContext& c, size_t i, const char* what) {
  auto r = c.input_rank(i);
  if (!r) c.unsupported(std::string(what) + " needs an input of known rank");
  return *r;
}

// QLinearAdd / QLinearMul: A (0, 1, 2) and B (3, 4, 5) per tensor, C scale / zero point (6, 7).
void lower_qlinear_binary(NodeContext& c, const char* op) {
  PortRef a = dequantize_f32(c, 0, 1, 2, 0, 1);
  PortRef b = dequantize_f32(c, 3, 4, 5, 0, 1);
  set_requantized(c, bin(c, op, a, b), 6, 7);
}

// QLinearSigmoid: X (0, 1, 2) → Y scale / zero point (3, 4).
void lower_qlinear_sigmoid(NodeContext& c) {
  PortRef x = dequantize_f32(c, 0, 1, 2, 0, 1);
  set_requantized(c, c.op("Sigmoid", "opset1", {x}), 3, 4);
}

// QLinearGlobalAveragePool: the mean over the spatial axes (after the channel axis, or before
// it with channels_last=1), kept as size-1 axes.
void lower_qlinear_global_average_pool(NodeContext& c) {
  int64_t r = rank_of(c, 0, "QLinearGlobalAveragePool");
  if (r < 3) c.invalid("input has rank " + std::to_string(r) + "; it needs a batch, a channel and at least one spatial axis");
  bool last = c.attr_int("channels_last", 0) != 0;
  Ints axes;
  for (int64_t a = last ? 1 : 2; a < (last ? r - 1 : r); ++a) axes.push_back(a);
  PortRef x = dequantize_f32(c, 0, 1, 2, 0, 1);
  set_requantized(c, c.op("ReduceMean", "opset1", {x, c.const_i64(axes)}, {{"keep_dims", "true"}}), 3, 4);
}

// QGemm: alpha * (A' x B' + C * a_scale * b_scale), C an int32 bias (zero point 0, scale
// alpha / beta * a_scale * b_scale per onnxruntime's schema, so beta cancels); B per tensor or
// per output column. Requantized when Y's scale (input 7) is given, else float.
void lower_qgemm(NodeContext& c) {
  bool ta = c.attr_int("transA", 0) != 0, tb = c.attr_int("transB", 0) != 0;
  if (rank_of(c, 0, "QGemm") != 2 || rank_of(c, 3, "QGemm") != 2) c.invalid("A and B must be 2-D");
  PortRef a = dequantize_f32(c, 0, 1, 2, 0, 1);
  PortRef b = dequantize_f32(c, 3, 4, 5, tb ? 0 : 1, 2);
  PortRef y = matmul(c, a, b, ta, tb);
  if (c.has_input(6)) {
    PortRef bs = bin(c, "Multiply", c.convert(c.input_keep_precision(1), ElemType::kF32), c.convert(c.input_keep_precision(4), ElemType::kF32));
    y = bin(c, "Add", y, bin(c, "Multiply", c.convert(c.input_keep_precision(6), ElemType::kF32), bs));
  }
  float alpha = c.attr_float("alpha", 1.f);
  if (alpha != 1.f) y = bin(c, "Multiply", y, c.scalar(ElemType::kF32, alpha));
  if (c.has_input(7))
    set_requantized(c, y, 7, 8);
  else
    c.set_output(0, y);
}

// B (input `bi`, [K, N] or batched) dequantized with its scale `si` and zero point `zi`, both per
// tensor or per column [N].
PortRef dequantized_weights(NodeContext& c, size_t bi, size_t si, size_t zi) {
  int64_t rb = rank_of(c, bi, "the weights");
  return dequantize_f32(c, bi, si, zi, rb - 1, rb);
}

// MatMulIntegerToFloat: (A - a_zp) * a_scale x (B - b_zp) * b_scale + bias; inputs A, B,
// a_scale, b_scale, a_zp, b_zp, bias.
void lower_matmul_integer_to_float(NodeContext& c) {
  PortRef a = dequantize_f32(c, 0, 2, 4, 0, 1);
  PortRef y = matmul(c, a, dequantized_weights(c, 1, 3, 5));
  if (c.has_input(6)) y = bin(c, "Add", y, c.input(6));
  c.set_output(0, y);
}

// DynamicQuantizeMatMul: A quantized to u8 at run time as DynamicQuantizeLinear does (onnxruntime
// computes the product on those values), times B (1) dequantized with b_scale (2) and b_zp (3),
// plus bias (4).
void lower_dynamic_quantize_matmul(NodeContext& c) {
  auto [q, scale, zp] = dynamic_quantize(c, c.input(0));
  PortRef a = bin(c, "Multiply", bin(c, "Subtract", q, zp), scale);
  PortRef y = matmul(c, a, dequantized_weights(c, 1, 2, 3));
  if (c.has_input(4)) y = bin(c, "Add", y, c.input(4));
  c.set_output(0, y);
}

// A Const layer over the bytes of constant `src` read as element type `t` in `shape` (no copy).
PortRef view_const(NodeContext& c, const Tensor& src, ElemType t, DataType dt, const Ints& shape) {
  auto view = std::make_shared<Tensor>(src.name(), dt, shape);
  view->set_view(src.storage(), src.storage_offset(), src.nbytes());
  return c.const_tensor(view, t, shape, src.name());
}

// MatMulNBits: A [.., K] x dequantized B^T. B is uint8 [N, blocks, block * bits / 8] holding
// `bits`-bit values low bits first (OpenVINO's u4 order); scales [N * blocks]; zero points
// optional, packed like B per row ([N, ceil(blocks * bits / 8)]) or float [N * blocks], default
// 2^(bits - 1). Only bits 4 and 8, and K a multiple of the block size. g_idx (GPTQ act-order:
// column k belongs to group g_idx[k]) is met by sorting the columns by group — B's permuted here,
// A's by a Gather — so that the groups are contiguous again and B keeps the grouped compressed
// form; that needs every group to have block_size columns, as act-order gives.
void lower_matmul_nbits(NodeContext& c) {
  const int64_t K = c.attr_int("K", 0), N = c.attr_int("N", 0), bits = c.attr_int("bits", 4), block = c.attr_int("block_size", 0);
  if (K <= 0 || N <= 0 || block < 16 || (block & (block - 1)) != 0)
    c.invalid("K " + std::to_string(K) + ", N " + std::to_string(N) + " and block_size " + std::to_string(block) +
              " must be positive, block_size a power of two of at least 16");
  if (bits != 4 && bits != 8) c.unsupported("only 4- and 8-bit MatMulNBits weights are supported, not " + std::to_string(bits));
  if (K % block != 0) c.unsupported("K " + std::to_string(K) + " must be a multiple of block_size " + std::to_string(block));
  std::vector<int64_t> order;  // column j of the sorted B is column order[j] of B; empty: as it is
  if (c.has_input(4)) {
    const Tensor* g = c.const_input(4);
    if (!g || !g->data() || g->dtype() != DataType::kInt32 || g->element_count() != static_cast<uint64_t>(K))
      c.unsupported("g_idx must be a constant int32 tensor of K = " + std::to_string(K) + " values");
    std::vector<int32_t> group(static_cast<size_t>(K));
    std::memcpy(group.data(), g->data(), group.size() * sizeof(int32_t));
    order.resize(group.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int64_t>(k);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return group[static_cast<size_t>(x)] < group[static_cast<size_t>(y)]; });
    bool identity = true;
    for (int64_t j = 0; j < K; ++j) {
      if (group[static_cast<size_t>(order[static_cast<size_t>(j)])] != j / block)
        c.unsupported("g_idx must put block_size = " + std::to_string(block) + " columns in each of the K / block_size groups");
      identity = identity && order[static_cast<size_t>(j)] == j;
    }
    if (identity) order.clear();
  }
  const Tensor* b = c.const_input(1);
  const Tensor* s = c.const_input(2);
  if (!b || !s) c.unsupported("the weights and scales must be constants");
  const int64_t blocks = K / block;
  const uint64_t wbytes = static_cast<uint64_t>(N) * static_cast<uint64_t>(K) * static_cast<uint64_t>(bits) / 8;
  if (b->dtype() != DataType::kUint8 || b->nbytes() != wbytes || !b->data())
    c.invalid("B must be uint8 holding N * K * bits / 8 = " + std::to_string(wbytes) + " bytes, it has " + std::to_string(b->nbytes()));
  if (s->element_count() != static_cast<uint64_t>(N * blocks))
    c.invalid("scales must hold N * K / block_size = " + std::to_string(N * blocks) + " values, they hold " + std::to_string(s->element_count()));
  const ElemType qt = bits == 4 ? ElemType::kU4 : ElemType::kU8;
  const DataType qd = bits == 4 ? DataType::kUint4 : DataType::kUint8;
  const Ints qshape = {N, blocks, block}, pshape = {N, blocks, 1};
  PortRef packed;
  if (order.empty()) {
    packed = view_const(c, *b, qt, qd, qshape);
  } else {
    std::vector<uint8_t> sorted(static_cast<size_t>(wbytes), 0);
    const uint8_t* src = b->data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < K; ++j) {
        auto from = static_cast<size_t>(n * K + order[static_cast<size_t>(j)]), to = static_cast<size_t>(n * K + j);
        if (bits == 8)
          sorted[to] = src[from];
        else
          sorted[to / 2] |= static_cast<uint8_t>(((src[from / 2] >> (4 * (from % 2))) & 0xF) << (4 * (to % 2)));
      }
    packed = c.const_bytes(qt, qshape, std::move(sorted));
  }
  PortRef w = c.convert(packed, ElemType::kF32);
  const auto levels_mid = static_cast<double>(int64_t{1} << (bits - 1));
  if (c.has_input(3)) {
    const Tensor* z = c.const_input(3);
    if (!z || !z->data()) c.unsupported("the zero points must be a constant");
    if (z->dtype() == DataType::kUint8) {
      // Packed per row of B: unpack to a dense [N, blocks] (small: one value per block).
      const uint64_t row = (static_cast<uint64_t>(blocks) * static_cast<uint64_t>(bits) + 7) / 8;
      if (z->nbytes() != row * static_cast<uint64_t>(N)) c.invalid("packed zero points must hold " + std::to_string(row * N) + " bytes");
      std::vector<uint8_t> dense(static_cast<size_t>(N * blocks * bits / 8 + 1), 0);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < blocks; ++k) {
          uint8_t v = bits == 8 ? z->data()[n * row + k] : static_cast<uint8_t>((z->data()[n * row + k / 2] >> (4 * (k % 2))) & 0xF);
          size_t i = static_cast<size_t>(n * blocks + k);
          if (bits == 8)
            dense[i] = v;
          else
            dense[i / 2] |= static_cast<uint8_t>(v << (4 * (i % 2)));
        }
      dense.resize(static_cast<size_t>((N * blocks * bits + 7) / 8));
      w = bin(c, "Subtract", w, c.convert(c.const_bytes(qt, pshape, std::move(dense)), ElemType::kF32));
    } else {
      auto zp = c.reshaped_constant(c.input_keep_precision(3), pshape);
      if (!zp) c.unsupported("float zero points must be a constant");
      w = bin(c, "Subtract", w, c.convert(*zp, ElemType::kF32));
    }
  } else {
    w = bin(c, "Subtract", w, c.scalar(ElemType::kF32, levels_mid));
  }
  auto scale = c.reshaped_constant(c.input_keep_precision(2), pshape);
  if (!scale) c.unsupported("the scales must be a constant");
  w = bin(c, "Multiply", w, c.convert(*scale, ElemType::kF32));
  w = c.op("Reshape", "opset1", {w, c.const_i64({N, K})}, {{"special_zero", "false"}});
  PortRef a = c.input(0);
  ElemType at = c.type(a);
  if (!order.empty()) a = c.op("Gather", "opset8", {a, c.const_i64(order), c.scalar_i64(-1)}, {{"batch_dims", "0"}});
  PortRef y = matmul(c, a, c.convert(w, at), false, true);
  if (c.has_input(5)) y = bin(c, "Add", y, c.input(5));
  c.set_output(0, y);
}

}  // namespace

PortRef lstm_quantized_weights(NodeContext& c, size_t wi, size_t si, size_t zi, const std::vector<int>& gate_order) {
  const Tensor* w = c.const_input(wi);
  if (!w || w->dims().size() != 3 || !w->data() || (w->dtype() != DataType::kInt8 && w->dtype() != DataType::kUint8))
    c.unsupported("the quantized weights must be 3-D int8 / uint8 constants [dirs, in, 4 * hidden]");
  const int64_t dirs = w->dims()[0], rows = w->dims()[1], cols = w->dims()[2];
  const auto gates = static_cast<int64_t>(gate_order.size());
  if (w->nbytes() != static_cast<size_t>(dirs * rows * cols)) c.invalid("the weights hold " + std::to_string(w->nbytes()) + " bytes, not dirs * in * 4 * hidden");
  if (gates == 0 || cols % gates != 0) c.invalid("the weights' last dim " + std::to_string(cols) + " is not " + std::to_string(gates) + " gates wide");
  const int64_t block = cols / gates;
  // Output column k (OpenVINO's gate order) reads input column source(k) (ONNX's).
  auto source = [&](int64_t k) { return gate_order[static_cast<size_t>(k / block)] * block + k % block; };
  // The int8 bytes transposed here to LSTM's [dirs, 4 * hidden, in] with the gate blocks already
  // in `gate_order` (a copy, one byte per weight), so that the IR has no Transpose and no gate
  // Split/Concat behind the decompression.
  std::vector<uint8_t> t(w->nbytes());
  const uint8_t* src = w->data();
  for (int64_t d = 0; d < dirs; ++d)
    for (int64_t k = 0; k < cols; ++k)
      for (int64_t i = 0; i < rows; ++i) t[static_cast<size_t>((d * cols + k) * rows + i)] = src[(d * rows + i) * cols + source(k)];
  const ElemType qt = w->dtype() == DataType::kInt8 ? ElemType::kI8 : ElemType::kU8;
  // Per direction [dirs] or per direction and gate column [dirs, 4 * hidden]: broadcast over `in`;
  // a per-column one has its columns reordered like the weights.
  auto param = [&](size_t i) -> PortRef {
    PortRef p = c.input_keep_precision(i);
    if (c.input_rank(i) == 1) {
      if (auto k = c.reshaped_constant(p, {dirs, 1, 1})) return *k;
      return c.op("Reshape", "opset1", {p, c.const_i64({dirs, 1, 1})}, {{"special_zero", "false"}});
    }
    const Tensor* k = c.const_input(i);
    if (k && k->data() && k->element_count() == static_cast<uint64_t>(dirs * cols)) {
      const size_t width = k->nbytes() / static_cast<size_t>(dirs * cols);
      std::vector<uint8_t> bytes(k->nbytes());
      for (int64_t d = 0; d < dirs; ++d)
        for (int64_t col = 0; col < cols; ++col)
          std::memcpy(bytes.data() + static_cast<size_t>(d * cols + col) * width, k->data() + static_cast<size_t>(d * cols + source(col)) * width, width);
      return c.const_bytes(c.type(p), {dirs, cols, 1}, std::move(bytes));
    }
    Ints order(static_cast<size_t>(cols));
    for (int64_t col = 0; col < cols; ++col) order[static_cast<size_t>(col)] = source(col);
    PortRef reordered = c.op("Gather", "opset8", {p, c.const_i64(order), c.scalar_i64(1)}, {{"batch_dims", "0"}});
    return c.op("Reshape", "opset1", {reordered, c.const_i64({dirs, cols, 1})}, {{"special_zero", "false"}});
  };
  PortRef y = c.convert(c.const_bytes(qt, {dirs, cols, rows}, std::move(t)), ElemType::kF32);
  const Tensor* z = c.has_input(zi) ? c.const_input(zi) : nullptr;
  bool zero = nn::all_zero_bytes(z);
  if (c.has_input(zi) && !zero) y = bin(c, "Subtract", y, c.convert(param(zi), ElemType::kF32));
  return bin(c, "Multiply", y, c.convert(param(si), ElemType::kF32));
}

void register_quant_contrib_ops(LowerRegistry& r) {
  const std::string ms = "com.microsoft";
  r.add("QLinearAdd", [](NodeContext& c) { lower_qlinear_binary(c, "Add"); }, ms);
  r.add("QLinearMul", [](NodeContext& c) { lower_qlinear_binary(c, "Multiply"); }, ms);
  r.add("QLinearSigmoid", lower_qlinear_sigmoid, ms);
  r.add("QLinearGlobalAveragePool", lower_qlinear_global_average_pool, ms);
  r.add("QGemm", lower_qgemm, ms);
  r.add("MatMulIntegerToFloat", lower_matmul_integer_to_float, ms);
  r.add("DynamicQuantizeMatMul", lower_dynamic_quantize_matmul, ms);
  r.add("MatMulNBits", lower_matmul_nbits, ms);
}

}  // namespace irforge::ov
