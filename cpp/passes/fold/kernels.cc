// The kernel table and the helpers every kernel family shares.
#include "passes/fold/kernels.h"

#include <algorithm>

#include "passes/fold/kernels_util.h"

namespace irforge::passes::fold {

// ---- Evaluation ----------------------------------------------------------------------------------

bool Evaluation::reserve(DataType dtype, const std::vector<int64_t>& dims) {
  uint64_t count = 1;
  constexpr uint64_t kMaxCount = uint64_t{1} << 60;
  for (int64_t d : dims) {
    if (d < 0) return false;
    if (d != 0 && count > kMaxCount / static_cast<uint64_t>(d)) return false;
    count *= static_cast<uint64_t>(d);
  }
  size_t es = elem_bytes(dtype);
  if (es == 0) return false;
  if (count > kMaxCount / es) return false;
  uint64_t bytes = count * es;
  if (bytes > budget_ || reserved_ > budget_ - bytes) return false;
  reserved_ += bytes;
  return true;
}

void Evaluation::emit(DataType dtype, std::vector<int64_t> dims, std::vector<uint8_t> bytes) {
  auto t = std::make_shared<Tensor>("", dtype, std::move(dims));
  t->set_owned(std::move(bytes));
  outputs_.push_back(std::move(t));
}

void Evaluation::emit_view(const Tensor& src, std::vector<int64_t> dims) {
  auto t = std::make_shared<Tensor>("", src.dtype(), std::move(dims));
  if (src.storage()) t->set_view(src.storage(), src.storage_offset(), src.nbytes());
  outputs_.push_back(std::move(t));
}

// ---- shared helpers ------------------------------------------------------------------------------

std::optional<std::vector<int64_t>> tensor_ints(const Tensor* t) {
  if (!t) return std::nullopt;
  uint64_t n = t->element_count();
  std::vector<int64_t> out(n);
  if (t->dtype() == DataType::kInt64) {
    for (uint64_t i = 0; i < n; ++i) out[i] = Elem<int64_t>::load(t->data(), i);
  } else if (t->dtype() == DataType::kInt32) {
    for (uint64_t i = 0; i < n; ++i) out[i] = Elem<int32_t>::load(t->data(), i);
  } else {
    return std::nullopt;
  }
  return out;
}

uint64_t numel(const std::vector<int64_t>& dims) {
  uint64_t n = 1;
  for (int64_t d : dims) n *= static_cast<uint64_t>(d);
  return n;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) s[d - 1] = s[d] * dims[d];
  return s;
}

std::optional<int64_t> normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

std::optional<std::vector<int64_t>> attr_ints_opt(const Node& n, const std::string& name) {
  const Attribute* a = n.attr(name);
  if (!a) return std::nullopt;
  if (a->kind == AttrKind::kInts) return a->ints;
  if (a->kind == AttrKind::kInt) return std::vector<int64_t>{a->i};
  return std::nullopt;
}

std::optional<std::vector<int64_t>> broadcast_shapes(const std::vector<const std::vector<int64_t>*>& shapes) {
  size_t rank = 0;
  for (const auto* s : shapes) rank = std::max(rank, s->size());
  std::vector<int64_t> out(rank, 1);
  for (const auto* s : shapes) {
    for (size_t j = 0; j < s->size(); ++j) {
      size_t d = rank - s->size() + j;
      int64_t v = (*s)[j];
      if (v == out[d] || v == 1) continue;
      if (out[d] != 1) return std::nullopt;
      out[d] = v;
    }
  }
  return out;
}

BroadcastCursor::BroadcastCursor(const std::vector<int64_t>& out, const std::vector<const std::vector<int64_t>*>& ins)
    : out_(out), off_(ins.size(), 0), idx_(out.size(), 0) {
  for (const auto* s : ins) same_ = same_ && *s == out;
  if (same_) return;
  const size_t rank = out.size();
  strides_.assign(ins.size(), std::vector<int64_t>(rank, 0));
  for (size_t k = 0; k < ins.size(); ++k) {
    const auto& s = *ins[k];
    int64_t st = 1;
    for (size_t j = s.size(); j-- > 0;) {
      strides_[k][rank - s.size() + j] = s[j] == 1 ? 0 : st;
      st *= s[j];
    }
  }
}

BroadcastCursor::~BroadcastCursor() = default;

void BroadcastCursor::next() {
  const size_t n = off_.size();
  if (same_) {
    for (size_t k = 0; k < n; ++k) ++off_[k];
    return;
  }
  for (size_t d = out_.size(); d-- > 0;) {
    ++idx_[d];
    for (size_t k = 0; k < n; ++k) off_[k] += static_cast<uint64_t>(strides_[k][d]);
    if (idx_[d] < out_[d]) return;
    for (size_t k = 0; k < n; ++k) off_[k] -= static_cast<uint64_t>(strides_[k][d] * out_[d]);
    idx_[d] = 0;
  }
}

void strided_copy(const uint8_t* src, uint8_t* dst, size_t es, const std::vector<int64_t>& out_dims,
                  const std::vector<int64_t>& src_strides, int64_t base) {
  const size_t rank = out_dims.size();
  const uint64_t count = numel(out_dims);
  if (count == 0) return;
  std::vector<int64_t> idx(rank, 0);
  int64_t off = base;
  for (uint64_t i = 0; i < count; ++i) {
    std::memcpy(dst + i * es, src + static_cast<uint64_t>(off) * es, es);
    for (size_t d = rank; d-- > 0;) {
      ++idx[d];
      off += src_strides[d];
      if (idx[d] < out_dims[d]) break;
      off -= src_strides[d] * out_dims[d];
      idx[d] = 0;
    }
  }
}

// ---- the table -----------------------------------------------------------------------------------

namespace {
const KernelTable& table() {
  static const KernelTable kTable = [] {
    KernelTable t;
    add_elementwise_kernels(t);
    add_cast_kernels(t);
    add_movement_kernels(t);
    add_reduce_kernels(t);
    return t;
  }();
  return kTable;
}
}  // namespace

Kernel find_kernel(const std::string& op_type) {
  auto it = table().find(op_type);
  return it == table().end() ? nullptr : it->second;
}

std::vector<std::string> kernel_op_types() {
  std::vector<std::string> out;
  for (const auto& [name, k] : table()) out.push_back(name);
  return out;
}

}  // namespace irforge::passes::fold
