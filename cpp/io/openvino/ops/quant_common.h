// Helpers of the quantization lowerings (ops/quant.cc) that onnxruntime's com.microsoft
// quantization ops (ops/quant_contrib.cc) share.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "io/openvino/lowering.h"

namespace irforge::ov {

// (q - zp) * s as f32 for input `q` with scale input `si` and zero point input `zi` (optional; an
// all-zero constant one subtracts nothing), the pair broadcast along `axis` of a rank-`rank` q
// when 1-D.
PortRef dequantize_f32(NodeContext& c, size_t q, size_t si, size_t zi, int64_t axis, int64_t rank);
// When `p` is a result requantized by set_requantized and the scale / zero point at inputs `si` /
// `zi` are constants per tensor: its dequantized value as one FakeQuantize (ops/quant.cc).
std::optional<PortRef> dequantized_requantization(NodeContext& c, PortRef p, size_t si, size_t zi);
// Sets output 0 to f32 `y` requantized with the scale / zero point at inputs `si`, `zi` (per
// tensor; without a zero point, to input 0's type with zero point 0).
void set_requantized(NodeContext& c, PortRef y, size_t si, size_t zi);
// Dynamic quantization of f32 `x` to u8 as DynamicQuantizeLinear: {y, scale, zero point}, y and
// the zero point as whole f32 values (convert_exact them to u8 where a u8 tensor is needed).
std::array<PortRef, 3> dynamic_quantize(NodeContext& c, PortRef x);

// DynamicQuantizeLSTM's int8 weights W [dirs, in, 4 * hidden] (input `wi`, scale `si`, zero
// point `zi`: per direction or per direction and column) as f32 [dirs, 4 * hidden, in] with the
// gate blocks reordered on the bytes: output block k is ONNX's block gate_order[k].
PortRef lstm_quantized_weights(NodeContext& c, size_t wi, size_t si, size_t zi, const std::vector<int>& gate_order);

}  // namespace irforge::ov
