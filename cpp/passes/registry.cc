#include "passes/registry.h"

#include <functional>

#include "passes/cleanup/dead_code_elimination.h"
#include "passes/cleanup/remove_identity_ops.h"
#include "passes/fold/constant_folding.h"
#include "passes/fusion/fuse_batchnorm_into_conv.h"
#include "passes/fusion/fuse_gelu.h"
#include "passes/fusion/fuse_hard_sigmoid.h"
#include "passes/fusion/fuse_hard_swish.h"
#include "passes/fusion/fuse_layer_norm.h"
#include "passes/fusion/fuse_mish.h"
#include "passes/fusion/fuse_rms_norm.h"
#include "passes/fusion/fuse_swish.h"
#include "passes/shape/infer_shapes.h"

namespace irforge::passes {

namespace {

struct Entry {
  const char* name;
  std::function<std::unique_ptr<Pass>()> make;
};

// Every pass, in one list.
const std::vector<Entry>& entries() {
  static const std::vector<Entry> kEntries = {
      {"dce", [] { return std::make_unique<DeadCodeElimination>(); }},
      {"remove-identity", [] { return std::make_unique<RemoveIdentityOps>(); }},
      {"fold", [] { return std::make_unique<ConstantFolding>(); }},
      {"fuse-batchnorm-into-conv", [] { return std::make_unique<FuseBatchNormIntoConv>(); }},
      {"fuse-gelu", [] { return std::make_unique<FuseGelu>(); }},
      {"fuse-layer-norm", [] { return std::make_unique<FuseLayerNorm>(); }},
      {"fuse-rms-norm", [] { return std::make_unique<FuseRmsNorm>(); }},
      {"fuse-swish", [] { return std::make_unique<FuseSwish>(); }},
      {"fuse-hard-sigmoid", [] { return std::make_unique<FuseHardSigmoid>(); }},
      {"fuse-hard-swish", [] { return std::make_unique<FuseHardSwish>(); }},
      {"fuse-mish", [] { return std::make_unique<FuseMish>(); }},
      {"infer-shapes", [] { return std::make_unique<InferShapes>(); }},
  };
  return kEntries;
}

}  // namespace

std::vector<PassInfo> list_passes() {
  std::vector<PassInfo> out;
  for (const auto& e : entries()) {
    auto p = e.make();
    out.push_back({p->name(), p->summary()});
  }
  return out;
}

std::unique_ptr<Pass> create_pass(const std::string& name) {
  for (const auto& e : entries())
    if (name == e.name) return e.make();
  return nullptr;
}

// Cleanup first so fusions see the real producer/consumer pairs; shapes are inferred early
// because folding Shape and matching fusions need them. Folding makes more shapes static (a
// Reshape by a now-constant shape) and inference then lets more Shape nodes fold, so the two
// run as a capped fixed-point group, with dce dropping the inputs folding left unused. Fusions
// come after folding because they need constant operands; they leave the replaced weights
// unused, so dce runs again at the end.
// remove-identity runs inside the group too: a Cast is a no-op only once inference knows its
// input type (torch's `.float()` on float32 tensors), and such Casts hide patterns (Llama's
// RMSNorm weight). The activation/normalization fusions need shapes (ranks, weight dims) and
// folded constants (the 0.5, sqrt 2, eps they compare), so they run after the group.
// fuse-layer-norm runs before fuse-rms-norm (whose pattern is LayerNorm's centred inner part),
// fuse-hard-sigmoid before fuse-hard-swish (which then also sees x * HardSigmoid(x)).
const char* default_pipeline() {
  return "remove-identity,dce,(infer-shapes,remove-identity,fold,dce)*4,fuse-batchnorm-into-conv,"
         "fuse-gelu,fuse-layer-norm,fuse-rms-norm,fuse-swish,fuse-hard-sigmoid,fuse-hard-swish,fuse-mish,dce";
}

}  // namespace irforge::passes
