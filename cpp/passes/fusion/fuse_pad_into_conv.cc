#include "passes/fusion/fuse_pad_into_conv.h"

#include <cmath>
#include <limits>
#include <vector>

#include "passes/fusion/weight_util.h"
#include "passes/util.h"

namespace irforge::passes {

namespace {

using namespace fusion;
using Ints = std::vector<int64_t>;

// A Pad's [begin..., end...] over all `rank` axes and its constant value; nullopt when any of
// it is not a constant or the mode is not "constant".
struct PadSpec {
  Ints begin, end;
  double value = 0.0;
};

std::optional<PadSpec> pad_spec(const Node* pad) {
  if (pad->attr_string("mode", "constant") != "constant" || !pad->input(0)) return std::nullopt;
  Ints pads;
  double value = 0.0;
  std::optional<Ints> axes;
  if (pad->attr("pads")) {  // before opset 11
    pads = pad->attr_ints("pads");
    value = pad->attr_float("value", 0.f);
  } else {
    auto p = pad->input(1) ? constant_ints(pad->input(1)) : std::nullopt;
    if (!p) return std::nullopt;
    pads = *p;
    if (pad->input(2)) {
      auto v = constant_doubles(pad->input(2));
      if (!v || v->size() != 1) return std::nullopt;
      value = (*v)[0];
    }
    if (pad->input(3)) {
      axes = constant_ints(pad->input(3));
      if (!axes) return std::nullopt;
    }
  }
  int64_t rank = known_rank(pad->input(0));
  if (!axes) {
    if (pads.size() % 2) return std::nullopt;
    if (rank >= 0 && static_cast<int64_t>(pads.size()) != 2 * rank) return std::nullopt;
    rank = static_cast<int64_t>(pads.size() / 2);
    axes = Ints(static_cast<size_t>(rank));
    for (int64_t i = 0; i < rank; ++i) (*axes)[i] = i;
  }
  if (rank < 0 || pads.size() != 2 * axes->size()) return std::nullopt;
  PadSpec s;
  s.begin.assign(static_cast<size_t>(rank), 0);
  s.end.assign(static_cast<size_t>(rank), 0);
  s.value = value;
  for (size_t k = 0; k < axes->size(); ++k) {
    int64_t a = (*axes)[k] < 0 ? (*axes)[k] + rank : (*axes)[k];
    if (a < 0 || a >= rank) return std::nullopt;
    s.begin[a] += pads[k];
    s.end[a] += pads[k + axes->size()];
  }
  return s;
}

bool fuse_one(Graph& g, Node* op) {
  const bool conv = is_op(op, "Conv"), avg = is_op(op, "AveragePool"), max = is_op(op, "MaxPool");
  if ((!conv && !avg && !max) || !op->input(0)) return false;
  Node* pad = local_producer(op->input(0), op);
  if (!used_only_by(op->input(0), op)) return false;
  // NHWC exports (TensorFlow, TFLite) pad before the Transpose to NCHW: Pad → Transpose → Conv.
  // The Transpose moves the pads with the axes; the Pad then goes and the Transpose stays.
  Node* transpose = nullptr;
  if (is_op(pad, "Transpose") && pad->input(0)) {
    transpose = pad;
    pad = local_producer(transpose->input(0), transpose);
    if (!used_only_by(transpose->input(0), transpose)) return false;
  }
  if (!is_op(pad, "Pad")) return false;
  auto spec = pad_spec(pad);
  if (!spec || spec->begin.size() < 3) return false;
  if (transpose) {
    const size_t rank = spec->begin.size();
    Ints perm = transpose->attr_ints("perm");
    if (!transpose->attr("perm"))
      for (size_t i = rank; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    if (perm.size() != rank) return false;
    PadSpec moved = *spec;
    std::vector<bool> seen(rank, false);
    for (size_t i = 0; i < rank; ++i) {  // output axis i is input axis perm[i]
      if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(perm[i])]) return false;
      seen[static_cast<size_t>(perm[i])] = true;
      moved.begin[i] = spec->begin[static_cast<size_t>(perm[i])];
      moved.end[i] = spec->end[static_cast<size_t>(perm[i])];
    }
    spec = moved;
  }
  const size_t n = spec->begin.size() - 2;  // spatial dims
  for (size_t a = 0; a < spec->begin.size(); ++a) {
    if (spec->begin[a] < 0 || spec->end[a] < 0) return false;
    if (a < 2 && (spec->begin[a] || spec->end[a])) return false;
  }
  const std::string auto_pad = op->attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") return false;
  if (conv || avg) {
    if (spec->value != 0.0) return false;
  } else if (!(std::isinf(spec->value) && spec->value < 0)) {
    return false;
  }
  if (avg && op->attr_int("count_include_pad", 0) == 0) return false;
  if ((avg || max) && op->attr_int("ceil_mode", 0) != 0) return false;
  if (max && op->num_outputs() > 1 && (op->output(1)->has_uses() || op->output(1)->is_graph_output())) return false;
  Ints pads = auto_pad == "VALID" ? Ints(2 * n, 0) : op->attr_ints("pads");
  if (pads.empty()) pads.assign(2 * n, 0);
  if (pads.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    pads[i] += spec->begin[i + 2];
    pads[i + n] += spec->end[i + 2];
  }
  if (avg || max) {  // pools require every pad below the (dilated) kernel extent
    Ints k = op->attr_ints("kernel_shape"), d = op->attr_ints("dilations");
    if (k.size() != n) return false;
    for (size_t i = 0; i < n; ++i) {
      int64_t extent = (k[i] - 1) * (d.size() == n ? d[i] : 1) + 1;
      if (pads[i] >= extent || pads[i + n] >= extent) return false;
    }
  }
  set_ints_attr(op, "pads", pads);
  if (Attribute* a = op->attr("auto_pad")) a->s = "NOTSET";
  Node* reader = transpose ? transpose : op;
  Value* padded = reader->input(0);
  reader->set_input(0, pad->input(0));
  if (!padded->has_uses()) g.remove_node(pad);
  return true;
}

}  // namespace

PassResult FusePadIntoConv::run(Model& model, const PassOptions&) {
  return rewrite_model(model, [](Graph& g, Node* n) -> int64_t { return fuse_one(g, n) ? 1 : 0; });
}

}  // namespace irforge::passes
