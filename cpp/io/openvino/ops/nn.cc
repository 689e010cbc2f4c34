// ONNX ops of the nn family: Softmax, LogSoftmax, Hardmax and Dropout, plus the helpers the
// other nn files share (nn_common.h). Convolutions are in conv.cc, MatMul/Gemm/Einsum in
// matmul.cc, normalizations in norm.cc, pooling in pool.cc.
#include <algorithm>

#include "io/openvino/ops/nn_common.h"

namespace irforge::ov {

namespace nn {

bool constant_all(NodeContext& c, size_t i, double v) {
  auto vals = c.const_floats(i);
  if (!vals || vals->empty()) return false;
  for (double d : *vals)
    if (d != v) return false;
  return true;
}

bool all_zero_bytes(const Tensor* t) {
  if (!t || t->computed() || !t->data()) return false;
  return std::all_of(t->data(), t->data() + t->nbytes(), [](uint8_t b) { return b == 0; });
}

PortRef shape_of(NodeContext& c, PortRef x) { return c.op("ShapeOf", "opset3", {x}, {{"output_type", "i64"}}, ElemType::kI64); }

PortRef binary(NodeContext& c, const char* type, PortRef a, PortRef b) { return c.op(type, "opset1", {a, b}, kNumpy); }

PortRef reshape(NodeContext& c, PortRef x, PortRef target, bool special_zero) {
  return c.op("Reshape", "opset1", {x, target}, {{"special_zero", fmt_bool(special_zero)}});
}

PortRef reshape(NodeContext& c, PortRef x, const Ints& target, bool special_zero) {
  // A constant (bias, grouped weights) is re-created in the target shape instead, as OpenVINO
  // would fold it: no Reshape layer and no shape constant in the IR.
  PShape s = c.shape(x);
  if (s && std::all_of(s->begin(), s->end(), [](int64_t d) { return d >= 0; })) {
    Ints dims = target;
    int64_t known = 1, infer = -1;
    bool ok = true;
    for (size_t i = 0; i < dims.size() && ok; ++i) {
      if (dims[i] == 0 && special_zero) {
        if (i >= s->size()) ok = false;
        else dims[i] = (*s)[i];
      }
      if (dims[i] == -1) {
        if (infer >= 0) ok = false;
        infer = static_cast<int64_t>(i);
      } else if (dims[i] < 0) {
        ok = false;
      } else if (__builtin_mul_overflow(known, dims[i], &known)) {
        ok = false;  // declared dims past int64: leave it to the run-time Reshape
      }
    }
    int64_t total = 1;
    for (int64_t d : *s) ok = ok && !__builtin_mul_overflow(total, d, &total);
    if (ok && infer >= 0) {
      if (known == 0 || total % known != 0) ok = false;
      else dims[static_cast<size_t>(infer)] = total / known;
    }
    if (ok)
      if (auto p = c.reshaped_constant(x, dims)) return *p;
  }
  return reshape(c, x, c.const_i64(target), special_zero);
}

PortRef reduce(NodeContext& c, const char* type, PortRef x, PortRef axes, bool keep_dims) {
  std::string t = type;
  const char* version = t == "ReduceL1" || t == "ReduceL2" ? "opset4" : "opset1";
  return c.op(t, version, {x, axes}, {{"keep_dims", fmt_bool(keep_dims)}});
}

namespace {
// The rank of `x` as a 1-element i64 tensor.
PortRef rank_of(NodeContext& c, PortRef x) { return shape_of(c, shape_of(c, x)); }
}  // namespace

PortRef trailing_axes(NodeContext& c, size_t i, int64_t start) {
  auto rank = c.input_rank(i);
  // A negative start counts from the back: below -rank (a malformed axis attribute; with the
  // rank unknown, below the largest rank a tensor may have) the loop below would not end soon.
  constexpr int64_t kMaxRank = 64;
  if (start < -rank.value_or(kMaxRank))
    c.invalid("axis " + std::to_string(start) + " is outside the input's rank " + (rank ? std::to_string(*rank) : "(at most 64)"));
  if (start < 0 || rank) {
    int64_t end = start < 0 ? 0 : *rank;
    Ints axes;
    for (int64_t a = start; a < end; ++a) axes.push_back(a);
    return c.const_i64(axes);
  }
  PortRef r = c.op("Squeeze", "opset1", {rank_of(c, c.input(i)), c.const_i64({0})});
  return c.op("Range", "opset4", {c.scalar_i64(start), r, c.scalar_i64(1)}, {{"output_type", "i64"}}, ElemType::kI64);
}

PortRef per_channel(NodeContext& c, PortRef v, std::optional<int64_t> rank, size_t like_input) {
  if (!rank) rank = c.input_rank(like_input);
  if (rank) {
    if (*rank < 2) c.invalid("the input has rank " + std::to_string(*rank) + ", no channel dim (it must be N, C, ...)");
    Ints target(static_cast<size_t>(*rank), 1);
    target[1] = -1;
    return reshape(c, v, target);
  }
  // [1, -1] followed by rank-2 ones.
  PortRef spatial = binary(c, "Subtract", rank_of(c, c.input(like_input)), c.const_i64({2}));
  PortRef ones = c.op("Broadcast", "opset3", {c.const_i64({1}), spatial}, {{"mode", "numpy"}});
  return reshape(c, v, c.op("Concat", "opset1", {c.const_i64({1, -1}), ones}, {{"axis", "0"}}));
}

int64_t spatial_rank(NodeContext& c, std::optional<size_t> weights) {
  Ints k = c.attr_ints("kernel_shape");
  if (!k.empty()) return static_cast<int64_t>(k.size());
  if (weights)
    if (auto r = c.input_rank(*weights)) return *r - 2;
  if (auto r = c.input_rank(0)) return *r - 2;
  c.unsupported("the number of spatial dimensions is unknown (no kernel_shape and unknown input rank)");
}

Window window_attrs(NodeContext& c, int64_t n) {
  Window w;
  auto ints_or = [&](const char* name, int64_t dflt, size_t count) {
    Ints v = c.attr_ints(name);
    if (v.empty()) v.assign(count, dflt);
    if (v.size() != count) c.unsupported(std::string("attribute '") + name + "' has " + std::to_string(v.size()) + " values, expected " + std::to_string(count));
    return v;
  };
  auto un = static_cast<size_t>(n);
  if (n < 1) c.invalid("the window has " + std::to_string(n) + " spatial axes; it needs at least one");
  w.kernel = c.attr_ints("kernel_shape");
  w.strides = ints_or("strides", 1, un);
  w.dilations = ints_or("dilations", 1, un);
  Ints pads = ints_or("pads", 0, 2 * un);
  // Values the CPU plugin would divide by or refuse at compile time.
  auto at_least = [&](const Ints& v, const char* name, int64_t min) {
    for (int64_t x : v)
      if (x < min) c.invalid(std::string(name) + " [" + join_ints(v) + "] has " + std::to_string(x) + "; each must be at least " + std::to_string(min));
  };
  at_least(w.kernel, "kernel_shape", 1);
  at_least(w.strides, "strides", 1);
  at_least(w.dilations, "dilations", 1);
  at_least(pads, "pads", 0);
  // The pool lowerings compute window spans and padded sizes from these; far beyond any real
  // window, a malformed value would overflow that arithmetic.
  constexpr int64_t kMaxWindowValue = int64_t{1} << 31;
  for (const auto& [v, name] : {std::pair{&w.kernel, "kernel_shape"}, {&w.strides, "strides"}, {&w.dilations, "dilations"}, {&pads, "pads"}})
    for (int64_t x : *v)
      if (x > kMaxWindowValue) c.invalid(std::string(name) + " [" + join_ints(*v) + "] has " + std::to_string(x) + "; each must be at most 2^31");
  w.pads_begin.assign(pads.begin(), pads.begin() + n);
  w.pads_end.assign(pads.begin() + n, pads.end());
  std::string ap = c.attr_string("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty()) w.auto_pad = "explicit";
  else if (ap == "SAME_UPPER") w.auto_pad = "same_upper";
  else if (ap == "SAME_LOWER") w.auto_pad = "same_lower";
  else if (ap == "VALID") w.auto_pad = "valid";
  else c.invalid("auto_pad '" + ap + "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  if (w.auto_pad != "explicit") {
    // OpenVINO ignores explicit pads with an auto_pad mode but still wants well-formed ones.
    w.pads_begin.assign(un, 0);
    w.pads_end.assign(un, 0);
  }
  return w;
}

NodeContext::Attrs conv_attrs(const Window& w) {
  return {{"strides", join_ints(w.strides)},
          {"dilations", join_ints(w.dilations)},
          {"pads_begin", join_ints(w.pads_begin)},
          {"pads_end", join_ints(w.pads_end)},
          {"auto_pad", w.auto_pad}};
}

ElemType stash_type(NodeContext& c, ElemType input_type, bool has_stash_attr) {
  if (!has_stash_attr) return input_type;
  auto t = from_onnx(static_cast<DataType>(c.attr_int("stash_type", 1)));
  if (!t || !is_float(*t)) c.unsupported("stash_type must be a floating-point type");
  return *t;
}

}  // namespace nn

namespace {

using namespace nn;

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

// One-hot of the first maximum along `axis` (TopK with stable ties picks the lowest index).
// OneHot runs on TopK's indices with the reduced axis kept as 1 (the CPU plugin rejects
// scalar indices), inserting the depth axis just before it; that 1 is then squeezed away.
PortRef hardmax(NodeContext& c, PortRef x, int64_t axis) {
  auto topk = c.op_multi("TopK", "opset11", {x, c.scalar_i64(1)},
                         {{"axis", std::to_string(axis)}, {"mode", "max"}, {"sort", "value"}, {"index_element_type", "i64"}, {"stable", "true"}},
                         {c.type(x), ElemType::kI64});
  PortRef depth = c.op("Gather", "opset8", {shape_of(c, x), c.scalar_i64(axis), c.scalar_i64(0)}, {{"batch_dims", "0"}});
  ElemType t = c.type(x);
  int64_t depth_axis = axis < 0 ? axis - 1 : axis;
  PortRef y = c.op("OneHot", "opset1", {topk[1], depth, c.scalar(t, 1.0), c.scalar(t, 0.0)}, {{"axis", std::to_string(depth_axis)}}, t);
  return c.op("Squeeze", "opset1", {y, c.const_i64({axis < 0 ? axis : axis + 1})});
}

PortRef softmax_on(NodeContext& c, SoftmaxKind kind, PortRef x, int64_t axis) {
  switch (kind) {
    case SoftmaxKind::kSoftmax: return c.op("SoftMax", "opset8", {x}, {{"axis", std::to_string(axis)}});
    case SoftmaxKind::kLogSoftmax: return c.op("LogSoftmax", "opset5", {x}, {{"axis", std::to_string(axis)}});
    case SoftmaxKind::kHardmax: return hardmax(c, x, axis);
  }
  return x;
}

LowerFn softmax_like(SoftmaxKind kind) {
  return [kind](NodeContext& c) {
    PortRef x = c.input(0);
    auto rank = c.input_rank(0);
    // The reader's validator checks the axis only against a declared rank; the Hardmax and
    // pre-13 lowerings size vectors by it and shift it.
    constexpr int64_t kMaxRank = 64;
    int64_t bound = rank.value_or(kMaxRank), given = c.attr_int("axis", c.opset() >= 13 ? -1 : 1);
    if (given < -bound || given >= bound)
      c.invalid("axis " + std::to_string(given) + " is outside the input's rank " + (rank ? std::to_string(*rank) : "(at most 64)"));
    if (c.opset() >= 13) {
      int64_t axis = c.attr_int("axis", -1);
      c.set_output(0, softmax_on(c, kind, x, rank ? norm_axis(axis, *rank) : axis));
      return;
    }
    // Before opset 13 the input is coerced to 2-D [d0*..*d(axis-1), d(axis)*..*d(n-1)] and the
    // op runs on its rows: flatten the trailing dims into one, run on the last axis, restore.
    int64_t axis = c.attr_int("axis", 1);
    if (axis < 0) {
      if (!rank && axis != -1) c.unsupported("a negative axis before opset 13 needs a known input rank");
      axis = rank ? norm_axis(axis, *rank) : axis;
    }
    if (axis == -1 || (rank && axis == *rank - 1)) {
      c.set_output(0, softmax_on(c, kind, x, axis));
      return;
    }
    Ints target(static_cast<size_t>(axis), 0);
    target.push_back(-1);
    PortRef flat = reshape(c, x, target, true);
    PortRef y = softmax_on(c, kind, flat, axis);
    c.set_output(0, reshape(c, y, shape_of(c, x)));
  };
}

// Inference Dropout is the identity and its mask all true. Training mode (opset 12+, a
// training_mode input that is true) with a non-zero ratio drops at random: unsupported.
// Dropout: the identity in inference. In training mode (an input from opset 12) it zeroes each
// element with probability `ratio` and scales the rest by 1 / (1 - ratio); a constant false
// training_mode or a constant zero ratio keeps the identity, otherwise the mask is drawn with
// RandomUniform (seeded by `seed` when given) and applied where training_mode holds at run time.
// Random masks cannot equal another runtime's draws, but a run-time ratio of 0 gives x exactly.
void lower_dropout(NodeContext& c) {
  PortRef x = c.input(0);
  ElemType mt = ElemType::kBoolean;  // the mask is bool since opset 10; before, the data's type
  if (auto t = c.num_outputs() > 1 ? from_onnx(c.node().output(1)->type().elem_type) : std::nullopt) mt = *t;
  else if (c.opset() < 10) mt = c.type(x);
  bool may_train = false;
  if (c.opset() >= 12 && c.has_input(2)) {
    auto training = c.const_ints(2);
    may_train = !training || (!training->empty() && (*training)[0] != 0);
    if (may_train && c.has_input(1)) {
      auto r = c.const_floats(1);
      if (r && !r->empty() && (*r)[0] == 0.0) may_train = false;
    }
  }
  PortRef ones = c.op("Broadcast", "opset3", {c.scalar(mt, 1.0), shape_of(c, x)}, {{"mode", "numpy"}}, mt);
  if (!may_train) {
    c.set_output(0, x);
    if (c.output_used(1)) c.set_output(1, ones);
    return;
  }
  ElemType t = c.type(x);
  PortRef ratio = c.has_input(1) ? c.convert(c.input_keep_precision(1), t) : c.scalar(t, 0.5);
  int64_t seed = c.attr_int("seed", 0);
  PortRef u = c.op("RandomUniform", "opset8", {shape_of(c, x), c.scalar(t, 0.0), c.scalar(t, 1.0)},
                   {{"output_type", elem_name(t)}, {"global_seed", std::to_string(seed)}, {"op_seed", std::to_string(seed)}}, t);
  PortRef keep = c.op("GreaterEqual", "opset1", {u, ratio}, kNumpy, ElemType::kBoolean);
  PortRef scale = binary(c, "Divide", c.scalar(t, 1.0), binary(c, "Subtract", c.scalar(t, 1.0), ratio));
  PortRef dropped = binary(c, "Multiply", c.op("Select", "opset1", {keep, x, c.scalar(t, 0.0)}, kNumpy, t), scale);
  PortRef training = c.has_input(2) ? c.convert(c.input_keep_precision(2), ElemType::kBoolean) : c.scalar(ElemType::kBoolean, 1.0);
  c.set_output(0, c.op("Select", "opset1", {training, dropped, x}, kNumpy, t));
  if (c.output_used(1))
    c.set_output(1, c.op("Select", "opset1", {training, c.convert(keep, mt), ones}, kNumpy, mt));
}

}  // namespace

void register_nn_ops(LowerRegistry& r) {
  r.add("Softmax", softmax_like(SoftmaxKind::kSoftmax));
  r.add("LogSoftmax", softmax_like(SoftmaxKind::kLogSoftmax));
  r.add("Hardmax", softmax_like(SoftmaxKind::kHardmax));
  r.add("Dropout", lower_dropout);
}

}  // namespace irforge::ov
