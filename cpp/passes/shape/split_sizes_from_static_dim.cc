#include "passes/shape/split_sizes_from_static_dim.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "passes/util.h"

namespace irforge::passes {

namespace {

// The chunk sizes, or nothing (and no side effect) when the rewrite must not fire.
std::optional<std::vector<int64_t>> sizes_for(const Node& n) {
  if (n.op_type() != "Split" || !n.domain().empty() || !n.attr("num_outputs") || n.inputs().size() != 1 || !n.input(0))
    return std::nullopt;
  int64_t parts = n.attr_int("num_outputs", 0);
  if (parts < 1 || parts != static_cast<int64_t>(n.num_outputs())) return std::nullopt;
  const Type& t = n.input(0)->type();
  if (!t.is_tensor() || !t.shape) return std::nullopt;
  int64_t rank = static_cast<int64_t>(t.shape->size()), axis = n.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return std::nullopt;
  const Dim& d = (*t.shape)[axis];
  if (!d.is_static() || d.value < 0) return std::nullopt;
  int64_t chunk = d.value / parts + (d.value % parts != 0);
  int64_t last = d.value - chunk * (parts - 1);
  if (last < 0) return std::nullopt;
  std::vector<int64_t> sizes(parts, chunk);
  sizes.back() = last;
  return sizes;
}

}  // namespace

PassResult SplitSizesFromStaticDim::run(Model& model, const PassOptions&) {
  if (model.opset_version("") < 18) return {};  // num_outputs is Split-18's
  NameGen names(model);
  return rewrite_model(model, [&](Graph& g, Node* n) -> int64_t {
    auto sizes = sizes_for(*n);
    if (!sizes) return 0;
    auto t = std::make_shared<Tensor>(names.fresh(n->output(0)->name() + "_sizes"), DataType::kInt64,
                                      std::vector<int64_t>{static_cast<int64_t>(sizes->size())});
    std::vector<uint8_t> bytes(sizes->size() * 8);
    std::memcpy(bytes.data(), sizes->data(), bytes.size());
    t->set_owned(std::move(bytes));
    n->add_input(g.add_initializer(std::move(t)));
    auto& attrs = n->attributes();
    attrs.erase(std::remove_if(attrs.begin(), attrs.end(), [](const Attribute& a) { return a.name == "num_outputs"; }), attrs.end());
    return 1;
  });
}

}  // namespace irforge::passes
