// ONNX indexing ops: Gather*, Scatter*, TensorScatter, Slice, Split, Compress, OneHot, NonZero,
// Unique, ReverseSequence. Starts, ends, split lengths and indices may be computed at run time.
#include "io/openvino/ops/tensor_util.h"

namespace irforge::ov {

namespace {

using namespace tensor_util;

PortRef gather(NodeContext& c, PortRef data, PortRef indices, int64_t axis) {
  return c.op("Gather", "opset8", {data, indices, c.scalar_i64(axis)}, {{"batch_dims", "0"}});
}

bool all_non_negative(const std::optional<Ints>& v) {
  if (!v) return false;
  for (int64_t x : *v)
    if (x < 0) return false;
  return true;
}

// Negative indices count from the end of a dim of size `dim` (same element type as `idx`).
PortRef wrap_negative(NodeContext& c, PortRef idx, PortRef dim) {
  PortRef neg = binop(c, "Less", idx, c.scalar(c.type(idx), 0.0), ElemType::kBoolean);
  return c.op("Select", "opset1", {neg, binop(c, "Add", idx, dim), idx}, kNumpy, c.type(idx));
}

void lower_gather(NodeContext& c) {
  // Gather-8 accepts negative indices, as ONNX does.
  c.set_output(0, gather(c, c.input(0), c.input(1), c.attr_int("axis", 0)));
}

void lower_gather_elements(NodeContext& c) {
  PortRef data = c.input(0), idx = c.input(1);
  int64_t axis = c.attr_int("axis", 0);
  if (!all_non_negative(c.const_ints(1))) idx = wrap_negative(c, idx, c.convert_like(dim_of(c, data, axis), idx));
  c.set_output(0, c.op("GatherElements", "opset6", {data, idx}, {{"axis", std::to_string(axis)}}));
}

void lower_gather_nd(NodeContext& c) {
  int64_t batch_dims = c.attr_int("batch_dims", 0);
  c.set_output(0, c.op("GatherND", "opset8", {c.input(0), c.input(1)}, {{"batch_dims", std::to_string(batch_dims)}}));
}

std::string scatter_reduction(NodeContext& c) {
  std::string r = c.attr_string("reduction", "none");
  if (r == "none") return "none";
  if (r == "add") return "sum";
  if (r == "mul") return "prod";
  if (r == "max" || r == "min") return r;
  c.unsupported("unknown reduction '" + r + "'");
}

void lower_scatter_elements(NodeContext& c) {
  // Also the deprecated Scatter (opsets 9-10), which is ScatterElements without reduction.
  PortRef data = c.input(0);
  c.set_output(0, c.op("ScatterElementsUpdate", "opset12", {data, c.input(1), c.convert_like(c.input(2), data), c.scalar_i64(c.attr_int("axis", 0))},
                       {{"reduction", scatter_reduction(c)}, {"use_init_val", "true"}}));
}

void lower_scatter_nd(NodeContext& c) {
  PortRef data = c.input(0);
  c.set_output(0, c.op("ScatterNDUpdate", "opset15", {data, c.input(1), c.convert_like(c.input(2), data)}, {{"reduction", scatter_reduction(c)}}));
}

void lower_tensor_scatter(NodeContext& c) {
  // present = past with update written along `axis` at write_indices[batch] + i (mod the cache
  // length in circular mode): ScatterElementsUpdate with those positions broadcast over `update`.
  PortRef past = c.input(0), update = c.input(1);
  auto rank = rank_of_port(c, past);
  if (!rank) rank = c.input_rank(0);
  if (!rank) c.unsupported("TensorScatter needs the rank of past_cache");
  int64_t axis = norm_axis(c.attr_int("axis", -2), *rank);
  if (axis <= 0 || axis >= *rank) c.unsupported("axis must be a non-batch dim");
  auto shape_with = [&](int64_t at) {
    Ints s(*rank, 1);
    s[at] = -1;
    return c.const_i64(s);
  };
  PortRef seq = c.op("Range", "opset4", {c.scalar_i64(0), dim_of(c, update, axis), c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
  PortRef pos = c.op("Reshape", "opset1", {seq, shape_with(axis)}, {{"special_zero", "false"}});
  if (c.has_input(2)) {
    PortRef start = c.op("Reshape", "opset1", {i64(c, c.input(2)), shape_with(0)}, {{"special_zero", "false"}});
    pos = binop(c, "Add", pos, start);
  }
  std::string mode = c.attr_string("mode", "linear");
  if (mode == "circular") pos = binop(c, "FloorMod", pos, dim_of(c, past, axis));
  else if (mode != "linear") c.unsupported("unknown mode '" + mode + "'");
  pos = c.op("Broadcast", "opset3", {pos, shape_of(c, update)}, {{"mode", "numpy"}});
  c.set_output(0, c.op("ScatterElementsUpdate", "opset12", {past, pos, update, c.scalar_i64(axis)}, {{"reduction", "none"}, {"use_init_val", "true"}}));
}

void lower_slice(NodeContext& c) {
  PortRef x = c.input(0);
  PortRef starts, ends;
  std::optional<PortRef> axes, steps;
  if (c.opset() < 10) {
    // Slice-1: starts/ends/axes are attributes and there are no steps.
    starts = c.const_i64(c.attr_ints("starts"));
    ends = c.const_i64(c.attr_ints("ends"));
    if (c.has_attr("axes")) axes = c.const_i64(c.attr_ints("axes"));
  } else {
    starts = i64(c, c.input(1));
    ends = i64(c, c.input(2));
    if (c.has_input(3)) axes = i64(c, c.input(3));
    if (c.has_input(4)) steps = i64(c, c.input(4));
  }
  // OpenVINO's Slice requires steps; ONNX defaults them to 1. Clamping of out-of-range starts and
  // ends is the same in both.
  // Constant starts: constant steps (no ShapeOf + Broadcast in the IR).
  if (!steps && c.opset() >= 10)
    if (auto known = c.const_ints(1)) steps = c.const_i64(Ints(known->size(), 1));
  if (!steps) steps = c.op("Broadcast", "opset3", {c.scalar_i64(1), shape_of(c, starts)}, {{"mode", "numpy"}});
  std::vector<PortRef> inputs = {x, starts, ends, *steps};
  if (axes) inputs.push_back(*axes);
  c.set_output(0, c.op("Slice", "opset8", inputs));
}

void lower_split(NodeContext& c) {
  PortRef x = c.input(0);
  int64_t axis = c.attr_int("axis", 0);
  size_t n = c.num_outputs();
  ElemType t = c.type(x);
  std::vector<ElemType> types(n, t);
  auto emit = [&](const std::vector<PortRef>& outs) {
    for (size_t i = 0; i < n; ++i) c.set_output(i, outs[i]);
  };
  auto variadic = [&](PortRef lengths) { emit(c.op_multi("VariadicSplit", "opset1", {x, c.scalar_i64(axis), lengths}, {}, types)); };
  // Split lengths: the `split` attribute before opset 13 (Split-1 also took an input), an input
  // from 13 on.
  if (c.opset() < 13 && c.has_attr("split")) return variadic(c.const_i64(c.attr_ints("split")));
  if (c.has_input(1)) {
    auto lengths = c.const_ints(1);
    return variadic(lengths ? c.const_i64(*lengths) : i64(c, c.input(1)));
  }
  if (!c.has_attr("num_outputs")) {
    emit(c.op_multi("Split", "opset1", {x, c.scalar_i64(axis)}, {{"num_splits", std::to_string(n)}}, types));
    return;
  }
  // Split-18 num_outputs: chunks of ceil(dim / n), the last one smaller when dim is uneven.
  int64_t parts = c.attr_int("num_outputs", static_cast<int64_t>(n));
  if (parts < 1 || parts != static_cast<int64_t>(n)) c.invalid("num_outputs " + std::to_string(parts) + " does not match the " + std::to_string(n) + " outputs");
  if (auto s = static_shape(c, x)) {
    int64_t rank = static_cast<int64_t>(s->size());
    if (axis < -rank || axis >= rank) c.invalid("axis " + std::to_string(axis) + " is outside the input's rank " + std::to_string(rank));
    int64_t dim = (*s)[norm_axis(axis, rank)];
    int64_t chunk = dim / parts + (dim % parts != 0);  // ceil without dim + parts overflowing
    if (chunk * parts == dim) {
      emit(c.op_multi("Split", "opset1", {x, c.scalar_i64(axis)}, {{"num_splits", std::to_string(n)}}, types));
      return;
    }
    Ints lengths(parts, chunk);
    lengths.back() = dim - chunk * (parts - 1);
    return variadic(c.const_i64(lengths));
  }
  PortRef dim = c.op("Unsqueeze", "opset1", {dim_of(c, x, axis), c.const_i64({0})});
  PortRef chunk = binop(c, "Divide", binop(c, "Add", dim, c.scalar_i64(parts - 1)), c.scalar_i64(parts));
  PortRef head = c.op("Broadcast", "opset3", {chunk, c.const_i64({parts - 1})}, {{"mode", "numpy"}});
  PortRef last = binop(c, "Subtract", dim, binop(c, "Multiply", chunk, c.scalar_i64(parts - 1)));
  variadic(concat(c, {head, last}, 0));
}

void lower_compress(NodeContext& c) {
  // Gather the positions where the condition is true; without an axis, from the flattened input.
  PortRef x = c.input(0);
  PortRef idx = to_1d(c, c.op("NonZero", "opset3", {c.input(1)}, {{"output_type", "i64"}}, ElemType::kI64));
  if (!c.has_attr("axis")) {
    c.set_output(0, gather(c, to_1d(c, x), idx, 0));
    return;
  }
  c.set_output(0, gather(c, x, idx, c.attr_int("axis", 0)));
}

void lower_one_hot(NodeContext& c) {
  // ONNX indices and depth may be any numeric type; values is [off, on]. Indices in
  // [-depth, -1] count from the end ("normalize"), others out of range give all-off rows.
  PortRef indices = c.input(0);
  if (!is_integer(c.type(indices))) indices = c.convert(indices, ElemType::kI64);
  PortRef depth = to_scalar(c, c.convert(c.input_keep_precision(1), ElemType::kI64));
  PortRef values = c.input(2);
  PortRef off = gather(c, values, c.scalar_i64(0), 0), on = gather(c, values, c.scalar_i64(1), 0);
  c.set_output(0, c.op("OneHot", "opset16", {indices, depth, on, off},
                       {{"axis", std::to_string(c.attr_int("axis", -1))}, {"negative_indices_mode", "normalize"}}, c.type(values)));
}

void lower_nonzero(NodeContext& c) {
  c.set_output(0, c.op("NonZero", "opset3", {c.input(0)}, {{"output_type", "i64"}}, ElemType::kI64));
}

void lower_unique(NodeContext& c) {
  // Outputs match ONNX's: unique values, first-occurrence indices, inverse indices, counts.
  std::vector<PortRef> inputs = {c.input(0)};
  if (c.has_attr("axis")) inputs.push_back(c.scalar_i64(c.attr_int("axis", 0)));
  auto outs = c.op_multi("Unique", "opset10", inputs,
                         {{"sorted", c.attr_int("sorted", 1) ? "true" : "false"}, {"index_element_type", "i64"}, {"count_element_type", "i64"}},
                         {c.type(inputs[0]), ElemType::kI64, ElemType::kI64, ElemType::kI64});
  for (size_t i = 0; i < 4; ++i) c.set_output(i, outs[i]);
}

void lower_reverse_sequence(NodeContext& c) {
  c.set_output(0, c.op("ReverseSequence", "opset1", {c.input(0), c.input(1)},
                       {{"batch_axis", std::to_string(c.attr_int("batch_axis", 1))}, {"seq_axis", std::to_string(c.attr_int("time_axis", 0))}}));
}

}  // namespace

void register_indexing_ops(LowerRegistry& r) {
  r.add("Gather", lower_gather);
  r.add("GatherElements", lower_gather_elements);
  r.add("GatherND", lower_gather_nd);
  r.add("Scatter", lower_scatter_elements);
  r.add("ScatterElements", lower_scatter_elements);
  r.add("ScatterND", lower_scatter_nd);
  r.add("TensorScatter", lower_tensor_scatter);
  r.add("Slice", lower_slice);
  r.add("Split", lower_split);
  r.add("Compress", lower_compress);
  r.add("OneHot", lower_one_hot);
  r.add("NonZero", lower_nonzero);
  r.add("Unique", lower_unique);
  r.add("ReverseSequence", lower_reverse_sequence);
}

}  // namespace irforge::ov
