// clear-reshape-allowzero — drops allowzero=1 from Reshapes whose target can hold no 0 that
// allowzero would read differently.
//
// Why: the dynamo exporter writes every `view` as Reshape(x, Concat(x.shape[0], x.shape[1], -1,
// 64)) with allowzero=1. With allowzero=1 a run-time 0 is a size, with 0 (the default) it copies
// x's dim at that index; simplify-shapes and remove-matmul-flatten turn such targets into
// constants with 0 = "copy", which needs allowzero=0, so on dynamo exports none of them fired
// (GPT-2: a Shape → Concat per view, and views back to x's own shape kept).
// The math: allowzero only changes entries whose run-time value is 0. An entry that is x's own
// dim at the same index (the same named dim, by infer-shapes' symbolic contents) reads the same
// under both: a copy of a 0 is a 0. A static entry other than 0 is never read as a copy. (With
// a -1 in the target, a run-time 0 is already invalid under allowzero=1 — ONNX forbids a 0 and
// a -1 together there — so only inputs the original may not be given behave differently.)
//    Reshape(x[b,s,768], Concat(Shape(x)[0:1], Shape(x)[1:2], [-1, 64]), allowzero=1)
//      -> the same with allowzero=0   (simplify-shapes then makes the target [0, 0, -1, 64])
// Must not fire: a static 0 entry, an entry of unknown content, a named dim at another index
// than x's (x[b, s] viewed as [s, b]) — a run-time 0 there would be copied from x instead.
#pragma once

#include "passes/pass.h"

namespace irforge::passes {

class ClearReshapeAllowzero final : public Pass {
 public:
  const char* name() const override { return "clear-reshape-allowzero"; }
  const char* summary() const override { return "drop Reshape's allowzero=1 where no target entry can be a 0 it would change"; }
  PassResult run(Model& model, const PassOptions& options) override;
};

}  // namespace irforge::passes
