// Reference kernels for constant folding: plain C++ over Tensors (raw little-endian bytes), one
// function per ONNX op, correctness before speed. They follow the ONNX operator specification
// (numpy semantics where the spec defers to numpy: broadcasting, integer wrap-around, Python-like
// Mod with fmod=0) and are checked against the onnx package's node test cases
// (tests/passes/test_fold_kernels.py).
//
// A kernel never fails the pass: when it meets something it does not handle (a type, an
// attribute form, an invalid or undefined-behaviour input such as an integer division by zero
// or a float→int cast out of range) or when its outputs would not fit the output budget, it
// returns false and the node stays as it is. The budget is checked from the output shapes
// before anything is computed or allocated.
//
// Types: float32, float64, float16 and bfloat16 (computed in float32; results are correctly
// rounded for + - * /), int8/16/32/64, uint8/16/32/64 and bool where the op allows them.
// Data-movement ops (Reshape, Transpose, Gather, Slice, Concat, ...) copy bytes and take any
// type of whole bytes per element; strings and sub-byte types are not folded.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace irforge::passes::fold {

// One evaluation of a node on constant inputs.
class Evaluation {
 public:
  // `inputs[i]` is nullptr where an optional input is omitted. Inputs are well-formed tensors
  // (nbytes matches dtype and dims), except that a Shape/Size input may carry dims only.
  Evaluation(const Node& node, std::vector<const Tensor*> inputs, uint64_t output_budget)
      : node_(node), inputs_(std::move(inputs)), budget_(output_budget) {}

  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  const Tensor* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const { return node_.num_outputs(); }

  // Accounts for an output of this type and shape before it is computed: false when a dim is
  // negative, the size overflows, the type has no fixed byte size, or all outputs together
  // would exceed the budget.
  bool reserve(DataType dtype, const std::vector<int64_t>& dims);
  // Appends an output that owns `bytes` (reserve() it first).
  void emit(DataType dtype, std::vector<int64_t> dims, std::vector<uint8_t> bytes);
  // Appends an output sharing the bytes of `src` (no copy; reserve() it first).
  void emit_view(const Tensor& src, std::vector<int64_t> dims);
  // Appends a ready-made tensor (Constant's value, string tensors).
  void emit_tensor(std::shared_ptr<Tensor> t) { outputs_.push_back(std::move(t)); }

  std::vector<std::shared_ptr<Tensor>>& outputs() { return outputs_; }

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  uint64_t budget_;
  uint64_t reserved_ = 0;
  std::vector<std::shared_ptr<Tensor>> outputs_;
};

// Computes the node's outputs into `ev`; false = do not fold.
using Kernel = bool (*)(Evaluation& ev);

// The kernel of a default-domain op type, nullptr when there is none. Only deterministic ops
// have kernels (never RandomNormal, Bernoulli, ...).
Kernel find_kernel(const std::string& op_type);
// Every op type with a kernel, sorted.
std::vector<std::string> kernel_op_types();

}  // namespace irforge::passes::fold
