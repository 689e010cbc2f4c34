#include "passes/registry.h"

#include <functional>
#include <map>
#include <mutex>

#include "passes/cleanup/common_subexpression_elimination.h"
#include "passes/cleanup/dead_code_elimination.h"
#include "passes/cleanup/dedupe_weights.h"
#include "passes/cleanup/remove_identity_ops.h"
#include "passes/cleanup/simplify_layout_chains.h"
#include "passes/fold/constant_folding.h"
#include "passes/fusion/fuse_attention.h"
#include "passes/fold/prune_if.h"
#include "passes/fusion/fuse_batchnorm_into_conv.h"
#include "passes/fusion/fuse_gelu.h"
#include "passes/fusion/fuse_hard_sigmoid.h"
#include "passes/fusion/fuse_hard_swish.h"
#include "passes/fusion/fuse_layer_norm.h"
#include "passes/fusion/fuse_mish.h"
#include "passes/fusion/fuse_rms_norm.h"
#include "passes/fusion/fuse_swish.h"
#include "passes/fusion/fuse_batchnorm_into_linear.h"
#include "passes/fusion/fuse_batchnorm_into_next_linear.h"
#include "passes/fusion/fuse_mul_add_into_linear.h"
#include "passes/fusion/fuse_pad_into_conv.h"
#include "passes/fusion/fuse_split_convs.h"
#include "passes/fusion/fuse_transpose_into_gemm.h"
#include "passes/shape/infer_shapes.h"
#include "passes/shape/clear_reshape_allowzero.h"
#include "passes/shape/split_sizes_from_static_dim.h"
#include "passes/shape/merge_reshape_transpose_reshape.h"
#include "passes/shape/remove_shape_cast_roundtrip.h"
#include "passes/shape/merge_rebuilt_shape.h"
#include "passes/shape/shape_of_range.h"
#include "passes/simplify/merge_unstack_concat.h"
#include "support/error.h"
#include "passes/shape/simplify_shapes.h"
#include "passes/simplify/merge_concat_constants.h"
#include "passes/simplify/remove_matmul_flatten.h"
#include "passes/simplify/remove_neutral_elements.h"
#include "passes/simplify/sink_transposes.h"

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
      {"fuse-attention", [] { return std::make_unique<FuseAttention>(); }},
      {"cse", [] { return std::make_unique<CommonSubexpressionElimination>(); }},
      {"dedupe-weights", [] { return std::make_unique<DedupeWeights>(); }},
      {"simplify-shapes", [] { return std::make_unique<SimplifyShapes>(); }},
      {"prune-if", [] { return std::make_unique<PruneIf>(); }},
      {"simplify-layout", [] { return std::make_unique<SimplifyLayoutChains>(); }},
      {"fuse-batchnorm-into-linear", [] { return std::make_unique<FuseBatchNormIntoLinear>(); }},
      {"fuse-mul-add-into-linear", [] { return std::make_unique<FuseMulAddIntoLinear>(); }},
      {"fuse-transpose-into-gemm", [] { return std::make_unique<FuseTransposeIntoGemm>(); }},
      {"fuse-pad-into-conv", [] { return std::make_unique<FusePadIntoConv>(); }},
      {"fuse-split-convs", [] { return std::make_unique<FuseSplitConvs>(); }},
      {"remove-neutral-elements", [] { return std::make_unique<RemoveNeutralElements>(); }},
      {"remove-matmul-flatten", [] { return std::make_unique<RemoveMatMulFlatten>(); }},
      {"sink-transposes", [] { return std::make_unique<SinkTransposes>(); }},
      {"merge-concat-constants", [] { return std::make_unique<MergeConcatConstants>(); }},
      {"fuse-batchnorm-into-next-linear", [] { return std::make_unique<FuseBatchNormIntoNextLinear>(); }},
      {"clear-reshape-allowzero", [] { return std::make_unique<ClearReshapeAllowzero>(); }},
      {"split-sizes-from-static-dim", [] { return std::make_unique<SplitSizesFromStaticDim>(); }},
      {"merge-reshape-transpose-reshape", [] { return std::make_unique<MergeReshapeTransposeReshape>(); }},
      {"remove-shape-cast-roundtrip", [] { return std::make_unique<RemoveShapeCastRoundtrip>(); }},
      {"merge-rebuilt-shape", [] { return std::make_unique<MergeRebuiltShape>(); }},
      {"shape-of-range", [] { return std::make_unique<ShapeOfRange>(); }},
      {"merge-unstack-concat", [] { return std::make_unique<MergeUnstackConcat>(); }},
  };
  return kEntries;
}

struct External {
  std::string summary;
  std::function<std::unique_ptr<Pass>()> make;
};
// Run-time registrations; the only mutable registry state, guarded by its mutex.
std::mutex g_external_mutex;
std::map<std::string, External>& externals() {
  static auto* table = new std::map<std::string, External>();
  return *table;
}

}  // namespace

std::vector<PassInfo> list_passes() {
  std::vector<PassInfo> out;
  for (const auto& e : entries()) {
    auto p = e.make();
    out.push_back({p->name(), p->summary()});
  }
  std::lock_guard<std::mutex> lock(g_external_mutex);
  for (const auto& [name, ext] : externals()) out.push_back({name, ext.summary});
  return out;
}

std::unique_ptr<Pass> create_pass(const std::string& name) {
  for (const auto& e : entries())
    if (name == e.name) return e.make();
  std::lock_guard<std::mutex> lock(g_external_mutex);
  auto it = externals().find(name);
  return it == externals().end() ? nullptr : it->second.make();
}

void register_external_pass(const std::string& name, const std::string& summary, std::function<std::unique_ptr<Pass>()> make) {
  for (const auto& e : entries())
    if (name == e.name) fail(ErrorKind::kUnsupported, "cannot register pass '" + name + "': a built-in pass has that name");
  if (name.empty() || name == "default" || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != std::string::npos)
    fail(ErrorKind::kUnsupported, "cannot register pass '" + name + "': names are letters, digits, '-' and '_'");
  std::lock_guard<std::mutex> lock(g_external_mutex);
  externals()[name] = External{summary, std::move(make)};
}

bool unregister_external_pass(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_external_mutex);
  return externals().erase(name) > 0;
}

// Cleanup first so fusions see the real producer/consumer pairs; shapes are inferred early
// because folding Shape and matching fusions need them. Folding makes more shapes static (a
// Reshape by a now-constant shape) and inference then lets more Shape nodes fold, so the two
// run as a capped fixed-point group, with dce dropping the inputs folding left unused. Fusions
// come after folding because they need constant operands; they leave the replaced weights
// unused, so dce runs again at the end.
// remove-identity runs inside the group: a Cast is a no-op only once inference knows its input
// type (torch's `.float()` on float32 tensors), such Casts hide patterns (Llama's RMSNorm
// weight), and Ifs inlined by prune-if may leave Identities. simplify-shapes turns
// Shape-computed Reshape/Expand targets into constants (what fold can't do with dynamic dims);
// prune-if inlines Ifs whose condition folding made constant. dedupe-weights and cse run inside
// the group: folding creates equal constants (merged by bytes), equal constants make equal nodes
// (merged by cse), and merged nodes fold further.
// clear-reshape-allowzero comes first in the group: the rewrites after it that make Reshape
// targets constant (0 = copy) or drop no-op Reshapes need allowzero=0, which the dynamo
// exporter never writes. split-sizes-from-static-dim needs the split axis' size from inference,
// merge-reshape-transpose-reshape the (symbolic) dims of the three ops' values, merge-unstack-concat
// the static size of the unstacked axis (a bidirectional RNN's 2).
// remove-shape-cast-roundtrip needs inferred types (int64 dims) and comes before simplify-shapes
// and fold, which then see the sizes without the Cast pair in between; merge-rebuilt-shape
// follows it, as the Concat of Shape slices it matches is behind such a pair in Paddle exports;
// shape-of-range (a Range's length is its dim limit) needs the int64 types inference gives.
// remove-neutral-elements (x+0, x*1, no-op Expand/Reshape/Slice, ...), remove-matmul-flatten and
// merge-concat-constants (after simplify-shapes, which turns shape pieces into constants) run
// inside the group too: both need inferred shapes and folded constants (a zero bias is often
// a folded expression), and what they remove unblocks folding and shape simplification (the
// Shape/Concat that rebuilt an unflatten target becomes dead).
// sink-transposes runs after the fusions that match around Transposes (fuse-attention expects
// the scale Mul after the key's Transpose, and fails once the Transpose has moved past it), and
// with a second simplify-layout that cancels the Transpose pairs it brings together, as a capped
// group: a cancelled pair can leave a Transpose with one user fewer (a residual branch's), which
// then sinks in the next round;
// fuse-mul-add-into-linear comes after both, so an NHWC bias/scale that was between a Conv's
// back-Transpose and the next one folds into the Conv.
// The activation/normalization fusions need shapes (ranks, weight dims) and folded constants
// (the 0.5, sqrt 2, eps they compare), so they run after the group. fuse-layer-norm runs before
// fuse-rms-norm (whose pattern is LayerNorm's centred inner part), fuse-hard-sigmoid before
// fuse-hard-swish (which then also sees x * HardSigmoid(x)). fuse-attention needs folded scalar
// scales and causal masks, and the ranks/dims infer-shapes found.
// fuse-batchnorm-into-next-linear comes after the two BN fusions that fold into the op before:
// a BN between two linear ops goes to the one before, which has no padding condition.
// The layout/weight fusions (simplify-layout ... fuse-split-convs) follow; fuse-transpose-into-gemm
// and fuse-mul-add-into-linear come last, after the activation/normalization/attention fusions:
// folding GELU's trailing *0.5 or RMSNorm's weight into the next MatMul would break those patterns.
const char* default_pipeline() {
  return "remove-identity,dce,(infer-shapes,clear-reshape-allowzero,split-sizes-from-static-dim,remove-shape-cast-roundtrip,merge-rebuilt-shape,shape-of-range,remove-identity,remove-neutral-elements,remove-matmul-flatten,merge-reshape-transpose-reshape,merge-unstack-concat,simplify-shapes,merge-concat-constants,fold,prune-if,dedupe-weights,cse,dce)*4,"
         "simplify-layout,fuse-pad-into-conv,fuse-batchnorm-into-conv,fuse-batchnorm-into-linear,fuse-batchnorm-into-next-linear,fuse-split-convs,"
         "fuse-gelu,fuse-layer-norm,fuse-rms-norm,fuse-swish,fuse-hard-sigmoid,fuse-hard-swish,fuse-mish,fuse-attention,"
         "(sink-transposes,simplify-layout)*4,fuse-transpose-into-gemm,fuse-mul-add-into-linear,dce";
}

}  // namespace irforge::passes
