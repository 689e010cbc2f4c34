// sink-transposes — moves Transposes towards the outputs, through ops that do not care about
// the order of axes, so pairs meet and cancel (simplify-layout then merges them):
//   U(Transpose_p(a))                  → Transpose_p(U(a))        U unary elementwise (Relu, Cast, …)
//   U(Transpose_p(a), c)               → Transpose_p(U(a, c'))    U broadcasting elementwise (Add,
//                                                                 Mul, Where, PRelu, …); c a constant,
//                                                                 c' = c with inverse-permuted axes
//   U(Transpose_p(a), Transpose_p(b))  → Transpose_p(U(a, b))
//   Concat_k(Transpose_p(a_i) | c_i)   → Transpose_p(Concat_{p[k]}(a_i | c_i'))
//   Softmax_k / LogSoftmax_k           → axis p[k]                (opset >= 13)
//   Reduce*_A(Transpose_p(a))          → Transpose_p'(Reduce*_{p[A]}(a))   (p' drops reduced axes
//                                                                 when keepdims = 0)
//   Pad(Transpose_p(a), pads)          → Transpose_p(Pad(a, pads permuted))
//   Transpose_inv(p)(Split_k(Transpose_p(a)))  → Split_{p[k]}(a)  (every output read only by
//                                                 inverse Transposes, which all go)
//
// Why: TensorFlow/TFLite models are NHWC; their frontends wrap every NCHW op (Conv, pooling) in
// "Transpose → op → Transpose", so an unoptimized model has two Transposes per layer. Sunk past
// the activations, biases and residual Adds between layers, each back-Transpose meets the next
// forward one and the pair cancels, leaving Transposes only at the model's boundaries.
// Exact: these ops compute the same values per element (Reduce* may sum in another order: fp32
// rounding).
// Never increases the number of non-constant Transposes: it moves only a Transpose whose output
// has a single use (the op it sinks through), and the other operands are constants (permuted
// here, not by an extra layer) or Transposes with the same perm.
// Must not fire when: the perm or the rank is unknown; the Transpose's output has other uses or
// is a graph output; the op's output is a graph output (the interface keeps its layout); a
// constant operand has a higher rank than the Transpose (broadcasting would add axes) or is
// larger than the fold size limit; axes/pads are not constants; a Reduce reduces all axes.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class SinkTransposes final : public Pass {
 public:
  const char* name() const override { return "sink-transposes"; }
  const char* summary() const override { return "move Transposes through elementwise ops, Concat, Softmax, Reduce* and Pad so pairs cancel"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
