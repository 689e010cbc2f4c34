// compress_weights: data-free INT8/INT4 weight compression, as nncf.compress_weights does it.
//
// What: every eligible float weight W (MatMul / Gemm B, Gather embedding tables, Conv kernels;
// f32, f16 or bf16 initializers; a MatMul B may be Transpose(perm=[1,0]) of W, and a MatMul B or
// embedding a Cast to float of an f16/bf16 W, each used once: how checkpoints store weights) becomes
//     Q (u8/i8/u4/i4 initializer) ──┐
//     scale (W's float type) ───────┼─► DequantizeLinear(axis, block_size) ─► (W's old users)
//     zero point (asym: Q's type) ──┘
// the canonical ONNX form both writers understand: the OpenVINO writer lowers it to the
// decompression chain the CPU plugin runs compressed kernels on, the ONNX writer writes it as is
// (raising the opset to 21 when int4 or blocks need it, see upgrade_opset.h).
//
// Memory: nothing is read here (except with ratio < 1, which measures int8 errors). Q, the scales
// and the zero points are ComputedStorage: when the writer reaches a weight, its scales are
// computed and it is quantized right away while its pages are resident, then those pages are
// released. So each weight is read once per save, one weight at a time, and no second copy of
// the model ever exists. A NaN / Inf weight is reported (naming it) when it is written.
//
// Which weights get what (NNCF's data-free defaults):
//   int8 modes: every eligible weight, per output channel.
//   int4 modes: the ratio-defining weights are the MatMul/Gemm weights except the last one in
//     graph order (the LM head) — embeddings join them only with all_layers. Of those, a `ratio`
//     share (counted in elements) is int4 with groups of `group_size` along the reduction axis;
//     NNCF's criterion picks them: sort by 1 / (max over channels of the int8_asym per-channel
//     mean squared error + eps), ascending, and take weights while the int4 share stays below
//     `ratio`. Everything else eligible (embeddings, LM head, Conv kernels, the rest of the
//     ratio) gets the backup mode (int8_asym per channel by default, or stays float).
//   A reduction axis the group size does not divide: "adjust" (default, NNCF's ADJUST) uses the
//     largest power of two that divides it if that is >= 32, else the backup mode; "ignore"
//     keeps the weight float (NNCF's IGNORE); "error" fails naming the weights.
//   Conv kernels reduce over several axes, so they are always per channel (int8), as in NNCF.
//   Ignored scope: nodes or weights whose name is listed or matches a regular expression
//     (ECMAScript, searched anywhere in the name), or whose op type is listed, stay float.
//   A weight read by several eligible nodes is compressed once, for the first of them.
// When it must not fire: weights that are graph inputs or outputs, integer weights, weights of
// rank the consumer cannot reduce along one axis (MatMul B of rank != 2), subgraph bodies.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/quant/weight_quant.h"

namespace irforge::passes {

struct CompressOptions {
  quant::Scheme mode = quant::Scheme::kInt8Asym;
  int64_t group_size = 128;  // int4 modes; -1 = per channel
  double ratio = 1.0;
  bool all_layers = false;
  std::optional<quant::Scheme> backup = quant::Scheme::kInt8Asym;  // nullopt: keep float
  std::string group_size_fallback = "adjust";                     // "adjust", "ignore", "error"
  std::vector<std::string> ignored_names, ignored_patterns, ignored_types;
};

class QuantizedWeight;

struct CompressedWeight {
  std::string weight, node, op_type;
  std::vector<int64_t> shape;
  std::string mode;        // "int4_asym", ..., or "float" (left unchanged)
  int64_t group_size = 0;  // -1 per channel
  std::string reason;      // why this mode (e.g. "lm head: backup mode", "ignored scope")
  uint64_t original_bytes = 0, compressed_bytes = 0;  // compressed: Q + scales + zero points
  std::shared_ptr<const QuantizedWeight> data;         // null when left float
};

struct CompressResult {
  std::vector<CompressedWeight> weights;  // graph order
  int64_t opset_before = 0, opset_after = 0;
  std::string onnx_note;  // why ONNX output is not possible (opset could not be raised), or ""
};

CompressResult compress_weights(Model& model, const CompressOptions& options);

// Relative reconstruction error ||dq - w|| / ||w|| of a compressed weight (reads the weight).
double relative_error(const QuantizedWeight& q);

}  // namespace irforge::passes
