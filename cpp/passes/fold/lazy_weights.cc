#include "passes/fold/lazy_weights.h"

#include <algorithm>
#include <cstring>

#include "ir/dtype.h"

namespace irforge::passes {

void read_tensor_bytes(const Tensor& t, size_t offset, size_t n, uint8_t* out) {
  if (n == 0) return;
  if (const ComputedStorage* c = t.computed()) {
    c->produce(t.storage_offset() + offset, n, out);
    return;
  }
  std::memcpy(out, t.data() + offset, n);
}

namespace {

// Computed bytes made element by element: produce() rounds its byte range out to whole
// elements, so writers may ask for any range.
class ElementwiseBytes : public ComputedStorage {
 public:
  ElementwiseBytes(size_t count, size_t width) : ComputedStorage(count * width), width_(width) {}
  void produce(size_t offset, size_t n, uint8_t* out) const override {
    if (n == 0) return;
    size_t first = offset / width_, last = (offset + n + width_ - 1) / width_;
    if (offset % width_ == 0 && n % width_ == 0) {
      elements(first, last - first, out);
      return;
    }
    std::vector<uint8_t> buf((last - first) * width_);
    elements(first, last - first, buf.data());
    std::memcpy(out, buf.data() + (offset - first * width_), n);
  }

 protected:
  // Elements [first, first + count) into out (count * width bytes).
  virtual void elements(size_t first, size_t count, uint8_t* out) const = 0;
  size_t width_;
};

class TransposedBytes final : public ElementwiseBytes {
 public:
  TransposedBytes(std::shared_ptr<const Tensor> src, const std::vector<int64_t>& perm, size_t width)
      : ElementwiseBytes(src->element_count(), width), src_(std::move(src)) {
    const auto& d = src_->dims();
    std::vector<size_t> in_stride(d.size(), 1);
    for (size_t k = d.size(); k-- > 1;) in_stride[k - 1] = in_stride[k] * static_cast<size_t>(d[k]);
    for (int64_t p : perm) {
      out_dims_.push_back(static_cast<size_t>(d[static_cast<size_t>(p)]));
      stride_.push_back(in_stride[static_cast<size_t>(p)] * width);  // source bytes per step along each output dim
    }
  }

 protected:
  void elements(size_t first, size_t count, uint8_t* out) const override {
    const uint8_t* src = src_->data();  // mapped or owned (computed sources are not made lazy)
    size_t rank = out_dims_.size();
    std::vector<size_t> idx(rank, 0);
    size_t rest = first, pos = 0;
    for (size_t k = rank; k-- > 0;) {
      idx[k] = rest % out_dims_[k];
      rest /= out_dims_[k];
      pos += idx[k] * stride_[k];
    }
    for (size_t i = 0; i < count; ++i) {
      std::memcpy(out + i * width_, src + pos, width_);
      for (size_t k = rank; k-- > 0;) {  // odometer step over the output's index
        pos += stride_[k];
        if (++idx[k] < out_dims_[k]) break;
        pos -= stride_[k] * out_dims_[k];
        idx[k] = 0;
      }
    }
    // The source's pages go back once read: a streamed weight leaves nothing resident.
    if (src_->is_mapped()) src_->storage()->mapping()->release_around(src, src_->nbytes());
  }

 private:
  std::shared_ptr<const Tensor> src_;
  std::vector<size_t> out_dims_, stride_;
};

class ScaledF32 final : public ElementwiseBytes {
 public:
  ScaledF32(std::shared_ptr<const Tensor> src, std::vector<double> scale, std::function<size_t(size_t)> channel)
      : ElementwiseBytes(src->element_count(), 4), src_(std::move(src)), scale_(std::move(scale)), channel_(std::move(channel)) {}

 protected:
  void elements(size_t first, size_t count, uint8_t* out) const override {
    read_tensor_bytes(*src_, first * 4, count * 4, out);
    for (size_t i = 0; i < count; ++i) {
      float w;
      std::memcpy(&w, out + 4 * i, 4);
      float v = static_cast<float>(w * scale_[channel_(first + i)]);
      std::memcpy(out + 4 * i, &v, 4);
    }
    if (src_->is_mapped()) src_->storage()->mapping()->release_around(src_->data() + first * 4, count * 4);
  }

 private:
  std::shared_ptr<const Tensor> src_;
  std::vector<double> scale_;
  std::function<size_t(size_t)> channel_;
};

}  // namespace

std::shared_ptr<Tensor> lazy_transpose(std::shared_ptr<const Tensor> src, const std::vector<int64_t>& perm,
                                       const std::string& name) {
  if (!src || src->computed() || src->dtype() == DataType::kString) return nullptr;
  auto bytes = raw_bytes_for(src->dtype(), 1);
  const auto& d = src->dims();
  if (!bytes || *bytes == 0 || perm.size() != d.size()) return nullptr;
  auto expected = raw_bytes_for(src->dtype(), src->element_count());
  if (!expected || *expected != src->nbytes() || *expected != *bytes * src->element_count() || !src->data()) return nullptr;
  std::vector<bool> seen(d.size(), false);
  std::vector<int64_t> out_dims;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(d.size()) || seen[static_cast<size_t>(p)]) return nullptr;
    seen[static_cast<size_t>(p)] = true;
    out_dims.push_back(d[static_cast<size_t>(p)]);
  }
  auto storage = std::make_shared<TransposedBytes>(src, perm, *bytes);
  auto t = std::make_shared<Tensor>(name, src->dtype(), out_dims);
  t->set_view(storage, 0, storage->size());
  return t;
}

std::shared_ptr<Tensor> lazy_scaled_f32(std::shared_ptr<const Tensor> src, std::vector<double> scale,
                                        std::function<size_t(size_t)> channel, const std::string& name) {
  auto storage = std::make_shared<ScaledF32>(src, std::move(scale), std::move(channel));
  auto t = std::make_shared<Tensor>(name, DataType::kFloat, src->dims());
  t->set_view(storage, 0, storage->size());
  return t;
}

}  // namespace irforge::passes
