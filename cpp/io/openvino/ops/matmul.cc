// Matrix products: MatMul, MatMulInteger, Gemm, Einsum. OpenVINO's MatMul already follows
// numpy semantics for 1-D operands and batch broadcasting, as ONNX MatMul does.
#include <algorithm>
#include <string>

#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

namespace {

using namespace nn;

PortRef matmul(NodeContext& c, PortRef a, PortRef b, bool ta = false, bool tb = false) {
  return c.op("MatMul", "opset1", {a, b}, {{"transpose_a", fmt_bool(ta)}, {"transpose_b", fmt_bool(tb)}});
}

// Whether ONNX node `t` is a Transpose that swaps the last two axes of an operand of rank >= 2.
bool swaps_last_two(const Node& t) {
  if (t.op_type() != "Transpose" || !t.domain().empty() || t.num_outputs() != 1) return false;
  Ints perm = t.attr_ints("perm");
  if (!t.attr("perm")) return false;  // reversed dims: a swap only at rank 2, unknown here
  if (perm.size() < 2) return false;
  for (size_t k = 0; k + 2 < perm.size(); ++k)
    if (perm[k] != static_cast<int64_t>(k)) return false;
  return perm[perm.size() - 2] == static_cast<int64_t>(perm.size()) - 1 && perm.back() == static_cast<int64_t>(perm.size()) - 2;
}

// Operand i of a matrix product and whether the product reads it transposed. A Transpose of the
// last two axes in front of it becomes the product's flag (as in OpenVINO's own IR); a constant
// operand that another initializer holds transposed reads that initializer, so the weight is
// stored once (`b_side`: only the right-hand operand, where weights sit).
std::pair<PortRef, bool> operand(NodeContext& c, size_t i, bool transposed, bool b_side) {
  const Value* v = c.node().inputs()[i];
  const Node* t = v->producer();
  if (t && t->graph() == c.node().graph() && swaps_last_two(*t) && t->inputs().size() == 1 && t->inputs()[0]) {
    v = t->inputs()[0];
    transposed = !transposed;
  }
  if (b_side && v->graph() == c.node().graph())
    if (const Value* twin = c.lowering().transposed_twin(v)) {
      v = twin;
      transposed = !transposed;
    }
  return {c.lowering().port_of(v), transposed};
}

void lower_matmul(NodeContext& c) {
  // A 1-D operand is never transposed (numpy semantics): only then may flags change.
  auto a = c.input_rank(0).value_or(0) >= 2 ? operand(c, 0, false, false) : std::pair{c.input(0), false};
  auto b = c.input_rank(1).value_or(0) >= 2 ? operand(c, 1, false, true) : std::pair{c.input(1), false};
  c.set_output(0, matmul(c, a.first, b.first, a.second, b.second));
}

// MatMulInteger: (A - a_zero_point) x (B - b_zero_point) in int32. A per-row a_zero_point [M]
// must broadcast along A's rows, so it becomes [M, 1]; a per-column b_zero_point [N] already
// broadcasts along B's last axis.
void lower_matmul_integer(NodeContext& c) {
  PortRef a = c.convert(c.input(0), ElemType::kI32);
  PortRef b = c.convert(c.input_keep_precision(1), ElemType::kI32);
  if (c.has_input(2)) {
    PortRef zp = c.convert(c.input_keep_precision(2), ElemType::kI32);
    if (c.input_rank(2).value_or(0) == 1) zp = c.op("Unsqueeze", "opset1", {zp, c.const_i64({-1})});
    a = binary(c, "Subtract", a, zp);
  }
  // A symmetric weight zero point (quantize_dynamic's int8 0) subtracts nothing.
  const Tensor* bz = c.has_input(3) ? c.const_input(3) : nullptr;
  bool zero_bz = all_zero_bytes(bz);
  if (c.has_input(3) && !zero_bz) b = binary(c, "Subtract", b, c.convert(c.input_keep_precision(3), ElemType::kI32));
  c.set_output(0, matmul(c, a, b));
}

// Gemm: alpha * A' x B' + beta * C, C optional (since opset 11) and unidirectionally
// broadcast to the product (numpy broadcasting covers it).
void lower_gemm(NodeContext& c) {
  auto a = operand(c, 0, c.attr_int("transA", 0) != 0, false);
  auto b = operand(c, 1, c.attr_int("transB", 0) != 0, true);
  PortRef y = matmul(c, a.first, b.first, a.second, b.second);
  ElemType t = c.type(y);
  double alpha = c.attr_float("alpha", 1.f), beta = c.attr_float("beta", 1.f);
  if (alpha != 1.0) y = binary(c, "Multiply", y, c.scalar(t, alpha));
  if (c.has_input(2) && beta != 0.0) {
    PortRef bias = c.input(2);
    if (beta != 1.0) bias = binary(c, "Multiply", bias, c.scalar(t, beta));
    y = binary(c, "Add", y, bias);
  }
  c.set_output(0, y);
}

// OpenVINO's Einsum takes the same equation syntax without blanks.
void lower_einsum(NodeContext& c) {
  std::string eq;
  for (char ch : c.attr_string("equation")) if (ch != ' ') eq += ch;
  std::vector<PortRef> inputs;
  for (size_t i = 0; i < c.num_inputs(); ++i) inputs.push_back(c.input(i));
  c.set_output(0, c.op("Einsum", "opset7", inputs, {{"equation", eq}}));
}

}  // namespace

void register_matmul_ops(LowerRegistry& r) {
  r.add("MatMul", lower_matmul);
  r.add("MatMulInteger", lower_matmul_integer);
  r.add("Gemm", lower_gemm);
  r.add("Einsum", lower_einsum);
}

}  // namespace irforge::ov
