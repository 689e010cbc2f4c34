#include "passes/legalize/upgrade_opset.h"

#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

const std::set<std::string> kReduceWithAxesAttr = {"ReduceMax",  "ReduceMin",    "ReduceMean",      "ReduceProd",     "ReduceL1",
                                                   "ReduceL2",   "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};

bool default_domain(const Node& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// The first node (in any graph) that blocks the upgrade from `from`, or "".
std::string blocker(const Graph& g, int64_t from) {
  for (const auto& n : g.nodes()) {
    if (default_domain(*n)) {
      if (n->op_type() == "GroupNormalization" && from < 21) return n->describe() + ": GroupNormalization's scale/bias changed meaning in opset 21";
      if (n->op_type() == "DFT" && from < 20) return n->describe() + ": DFT's axis became an input in opset 20";
    }
    for (Graph* sub : n->subgraphs()) {
      std::string why = blocker(*sub, from);
      if (!why.empty()) return why;
    }
  }
  return "";
}

void rewrite(Graph& g, int64_t from, NameGen& names) {
  for (const auto& up : g.nodes()) {
    Node& n = *up;
    for (Graph* sub : n.subgraphs()) rewrite(*sub, from, names);
    if (!default_domain(n)) continue;
    auto& attrs = n.attributes();
    if (from < 18 && kReduceWithAxesAttr.count(n.op_type())) {
      for (size_t i = 0; i < attrs.size(); ++i) {
        if (attrs[i].name != "axes") continue;
        std::vector<int64_t> axes = attrs[i].ints;
        attrs.erase(attrs.begin() + static_cast<long>(i));
        auto t = std::make_shared<Tensor>(names.fresh(n.name().empty() ? n.op_type() + "_axes" : n.name() + "_axes"), DataType::kInt64,
                                          std::vector<int64_t>{static_cast<int64_t>(axes.size())});
        std::vector<uint8_t> bytes(axes.size() * 8);
        if (!axes.empty()) std::memcpy(bytes.data(), axes.data(), bytes.size());
        t->set_owned(std::move(bytes));
        n.add_input(g.add_initializer(t));
        break;
      }
    } else if (from < 18 && n.op_type() == "Split") {
      if (!n.input(1) && !n.attr("num_outputs")) {
        Attribute a;
        a.name = "num_outputs";
        a.kind = AttrKind::kInt;
        a.i = static_cast<int64_t>(n.num_outputs());
        attrs.push_back(std::move(a));
      }
    } else if (from < 16 && n.op_type() == "RoiAlign") {
      if (!n.attr("coordinate_transformation_mode")) {
        Attribute a;
        a.name = "coordinate_transformation_mode";
        a.kind = AttrKind::kString;
        a.s = "output_half_pixel";
        attrs.push_back(std::move(a));
      }
    } else if (from < 20 && n.op_type() == "GridSample") {
      if (Attribute* a = n.attr("mode")) {
        if (a->s == "bilinear") a->s = "linear";
        else if (a->s == "bicubic") a->s = "cubic";
      }
    }
  }
}

}  // namespace

std::string upgrade_default_opset(Model& model, int64_t target) {
  int64_t from = model.opset_version("");
  if (from >= target) return "";
  if (!model.graph) return "the model has no graph";
  if (from < 13) return "its opset " + std::to_string(from) + " is older than 13";
  for (const auto& f : model.functions)
    for (const auto& o : f.opset_imports)
      if (o.domain.empty() || o.domain == "ai.onnx") return "its local function '" + f.name + "' imports the default opset";
  std::string why = blocker(*model.graph, from);
  if (!why.empty()) return why;
  NameGen names(model);
  rewrite(*model.graph, from, names);
  bool found = false;
  for (auto& o : model.opset_imports)
    if (o.domain.empty() || o.domain == "ai.onnx") {
      o.version = target;
      found = true;
    }
  if (!found) model.opset_imports.push_back(OpsetImport{"", target});
  // IR version each opset needs (onnx.helper.VERSION_TABLE): opset 19-20 → IR 9, 21-22 → 10.
  int64_t ir = target >= 21 ? 10 : target >= 19 ? 9 : 8;
  if (model.ir_version < ir) model.ir_version = ir;
  return "";
}

}  // namespace irforge::passes
