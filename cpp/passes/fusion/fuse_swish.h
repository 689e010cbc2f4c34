// fuse-swish — recognises SiLU / Swish, x * sigmoid(beta * x), and replaces it by one Swish
// (ONNX opset 24, attribute alpha = beta; ONNX output below 24 expands it back). OpenVINO gets
// its Swish op.
//
//   x ─┬─ Sigmoid ─┐
//      └────────── Mul ─ y        ⇒  x ─ Swish(alpha=1) ─ y
//   x ─┬─ Mul(beta) ─ Sigmoid ─┐
//      └────────────────────── Mul ─ y   ⇒  x ─ Swish(alpha=beta) ─ y
//
// Must not fire when: the Sigmoid (or the beta Mul) output is used elsewhere or is a graph
// output; the Sigmoid's input is not x (or x times a one-element constant); beta's rank would
// broadcast x.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class FuseSwish final : public Pass {
 public:
  const char* name() const override { return "fuse-swish"; }
  const char* summary() const override { return "recognise x*Sigmoid(x) and x*Sigmoid(beta*x) as one Swish op"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
