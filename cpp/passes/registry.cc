#include "passes/registry.h"

#include <functional>

#include "passes/cleanup/dead_code_elimination.h"
#include "passes/cleanup/remove_identity_ops.h"
#include "passes/cleanup/simplify_layout_chains.h"
#include "passes/fold/constant_folding.h"
#include "passes/fusion/fuse_batchnorm_into_conv.h"
#include "passes/fusion/fuse_batchnorm_into_linear.h"
#include "passes/fusion/fuse_mul_add_into_linear.h"
#include "passes/fusion/fuse_pad_into_conv.h"
#include "passes/fusion/fuse_split_convs.h"
#include "passes/fusion/fuse_transpose_into_gemm.h"
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
      {"infer-shapes", [] { return std::make_unique<InferShapes>(); }},
      {"simplify-layout", [] { return std::make_unique<SimplifyLayoutChains>(); }},
      {"fuse-batchnorm-into-linear", [] { return std::make_unique<FuseBatchNormIntoLinear>(); }},
      {"fuse-mul-add-into-linear", [] { return std::make_unique<FuseMulAddIntoLinear>(); }},
      {"fuse-transpose-into-gemm", [] { return std::make_unique<FuseTransposeIntoGemm>(); }},
      {"fuse-pad-into-conv", [] { return std::make_unique<FusePadIntoConv>(); }},
      {"fuse-split-convs", [] { return std::make_unique<FuseSplitConvs>(); }},
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
// unused, so dce runs again at the end. Layout chains are simplified first (a merged Reshape or
// cancelled Transpose pair exposes producer/consumer pairs to the fusions). BatchNorm folds
// before the Mul/Add fusion, so a Conv → BN → Mul chain ends in one weight; Transposes become
// Gemm flags before it, so a resulting Gemm can take a following per-channel Mul/Add too.
const char* default_pipeline() {
  return "remove-identity,dce,(infer-shapes,fold,dce)*4,simplify-layout,fuse-pad-into-conv,fuse-batchnorm-into-conv,"
         "fuse-batchnorm-into-linear,fuse-split-convs,fuse-transpose-into-gemm,fuse-mul-add-into-linear,dce";
}

}  // namespace irforge::passes
