#include "passes/legalize/onnx_output.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "ir/clone.h"
#include "passes/legalize/expand_fused_ops.h"
#include "support/error.h"

namespace irforge::passes {

namespace {

enum class OpChange { kIntroduced, kCompatible, kRemovedAttr, kChangedDefault, kOutputsFrom, kBreaking };

struct OpVersion {
  const char* op;
  int64_t since;
  OpChange change;
  const char* attr;
};

const OpVersion kOpVersions[] = {
#include "passes/legalize/onnx_op_versions.inc"
};

const std::pair<int64_t, int64_t> kOpsetIrVersions[] = {IRFORGE_OPSET_IR_VERSIONS};

bool is_default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// First version of `op` (0 if the onnx package does not know it).
int64_t introduced(const std::string& op) {
  for (const auto& v : kOpVersions)
    if (op == v.op && v.change == OpChange::kIntroduced) return v.since;
  return 0;
}

int64_t ir_version_for(int64_t opset) {
  int64_t ir = 0;
  for (const auto& [o, v] : kOpsetIrVersions)
    if (o <= opset) ir = v;
  return ir;
}

void check_graph(const Graph& g, int64_t from, int64_t to) {
  for (const auto& n : g.nodes()) {
    for (Graph* sub : n->subgraphs()) check_graph(*sub, from, to);
    if (!is_default_domain(n->domain()) || needs_expansion(*n, to)) continue;
    std::string problem = opset_raise_problem(*n, from, to);
    if (!problem.empty())
      fail(ErrorKind::kUnsupported, "cannot raise the ONNX opset from " + std::to_string(from) + " to " + std::to_string(to) + ": " +
                                        n->describe() + " " + problem + "; write it at opset " + std::to_string(from) +
                                        " (no target_opset) or convert the model to the newer opset first");
  }
}

}  // namespace

std::string opset_raise_problem(const Node& n, int64_t from, int64_t to) {
  int64_t first = introduced(n.op_type());
  // Ops newer than the model's opset were created by irforge's fusions with their newest meaning.
  if (first == 0 || first > from) return {};
  for (const auto& v : kOpVersions) {
    if (n.op_type() != v.op || v.since <= from || v.since > to) continue;
    std::string at = " in opset " + std::to_string(v.since);
    switch (v.change) {
      case OpChange::kIntroduced:
      case OpChange::kCompatible:
        break;
      case OpChange::kRemovedAttr:
        if (n.attr(v.attr)) return "uses attribute '" + std::string(v.attr) + "', which was removed or changed" + at;
        break;
      case OpChange::kChangedDefault:
        if (!n.attr(v.attr)) return "relies on the default of attribute '" + std::string(v.attr) + "', which changed" + at;
        break;
      case OpChange::kOutputsFrom:
        if (static_cast<int64_t>(n.num_outputs()) > std::stoll(v.attr)) return "has outputs whose meaning changed" + at;
        break;
      case OpChange::kBreaking:
        return "changed meaning" + at;
    }
  }
  return {};
}

std::unique_ptr<Model> legalize_for_onnx(const Model& model, int64_t target_opset) {
  if (!model.graph) return nullptr;
  int64_t base = model.opset_version("");
  int64_t target = target_opset > 0 ? target_opset : base;
  if (target_opset > 0 && base > 0 && target_opset < base)
    fail(ErrorKind::kUnsupported, "target_opset " + std::to_string(target_opset) + " is lower than the model's opset " + std::to_string(base) +
                                      "; irforge raises opsets but does not lower them");
  bool raise = base > 0 && target > base;
  if (raise) check_graph(*model.graph, base, target);
  bool expand = false;
  for_each_graph(*model.graph, [&](Graph& g) {
    for (const auto& n : g.nodes()) expand = expand || needs_expansion(*n, target);
  });
  if (!raise && !expand) return nullptr;
  std::unique_ptr<Model> out = clone_model(model);
  if (expand) expand_ops_above_opset(*out, target);
  if (raise) {
    for (auto& o : out->opset_imports)
      if (is_default_domain(o.domain)) o.version = target;
    out->ir_version = std::max(out->ir_version, ir_version_for(target));
  }
  return out;
}

}  // namespace irforge::passes
