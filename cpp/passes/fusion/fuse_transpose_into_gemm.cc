#include "passes/fusion/fuse_transpose_into_gemm.h"

#include <vector>

#include "passes/fusion/weight_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

using namespace fusion;

// The input of a Transpose that swaps the two axes of a rank-2 tensor; nullptr otherwise.
Value* swapped_2d(const Value* v, const Node* user) {
  Node* t = local_producer(v, user);
  if (!is_op(t, "Transpose") || !t->input(0) || known_rank(t->input(0)) != 2) return nullptr;
  if (t->attr("perm") && t->attr_ints("perm") != std::vector<int64_t>{1, 0}) return nullptr;
  return t->input(0);
}

bool float_type(const Value* v) {
  const Tensor* c = constant_of(v);
  DataType t = c ? c->dtype() : v->type().is_tensor() ? v->type().elem_type : DataType::kUndefined;
  return t == DataType::kFloat || t == DataType::kFloat16 || t == DataType::kDouble || t == DataType::kBfloat16;
}

void drop_if_dead(Graph& g, Value* transposed) {
  Node* t = transposed->producer();
  if (!transposed->has_uses() && !transposed->is_graph_output()) g.remove_node(t);
}

bool fuse_one(Graph& g, Node* n, int64_t opset) {
  const bool gemm = is_op(n, "Gemm"), matmul = is_op(n, "MatMul");
  if ((!gemm && !matmul) || n->inputs().size() < 2 || !n->input(0) || !n->input(1)) return false;
  if (!float_type(n->input(0)) || !float_type(n->input(1))) return false;
  // Gemm's C is optional from opset 11; before, a MatMul cannot become one.
  if (matmul && (opset < 11 || known_rank(n->input(0)) != 2 || known_rank(n->input(1)) != 2)) return false;
  Value* a = swapped_2d(n->input(0), n);
  Value* b = swapped_2d(n->input(1), n);
  if (!a && !b) return false;
  if (matmul) n->set_op_type("Gemm");  // alpha = beta = 1, no C: exactly the 2-D MatMul
  for (size_t i = 0; i < 2; ++i) {
    Value* src = i == 0 ? a : b;
    if (!src) continue;
    Value* transposed = n->input(i);
    const char* flag = i == 0 ? "transA" : "transB";
    set_int_attr(n, flag, n->attr_int(flag, 0) ? 0 : 1);
    n->set_input(i, src);
    drop_if_dead(g, transposed);
  }
  return true;
}

}  // namespace

PassResult FuseTransposeIntoGemm::run(Model& model, const PassOptions&) {
  if (!model.graph) return {};
  const int64_t opset = model.opset_version();
  return rewrite_model(model, [opset](Graph& g, Node* n) -> int64_t { return fuse_one(g, n, opset) ? 1 : 0; });
}

}  // namespace irforge::passes
