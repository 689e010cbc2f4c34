// The smallest pass interface: a name, a one-line summary, and run() that transforms the model
// and says truthfully whether it changed anything. Passes are addressed by stable kebab-case
// names and composed as pipeline text shared by the CLI, Python and C++ (see pass_manager.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ir/graph.h"

namespace irforge::passes {

struct PassOptions {
  // Constant folding never creates a tensor larger than this (bytes), so folding cannot bloat
  // the model (e.g. expanding a broadcast into a huge constant).
  uint64_t fold_size_limit = uint64_t{1} << 20;
  // ONNX output may use fused standard ops only when the model's opset has them; a higher
  // target opset (0 = keep the model's) allows them.
  int64_t target_opset = 0;
};

struct PassResult {
  bool changed = false;
  int64_t rewrites = 0;  // how many places changed (nodes removed, patterns fused, ...)
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual const char* name() const = 0;
  virtual const char* summary() const = 0;
  virtual PassResult run(Model& model, const PassOptions& options) = 0;
};

}  // namespace irforge::passes
