// Tensors: dtype + dims + bytes. The bytes are a view into a Storage, which either owns them
// or is a memory-mapped file, so reading a model never copies weights.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/dtype.h"
#include "support/mapped_file.h"

namespace irforge {

using StringPairs = std::vector<std::pair<std::string, std::string>>;

class ComputedStorage;

class Storage {
 public:
  virtual ~Storage() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  // The mapping behind the bytes, or nullptr when the storage owns heap memory.
  virtual const MappedFile* mapping() const { return nullptr; }
  // Non-null when the bytes are computed on demand (see ComputedStorage).
  virtual const ComputedStorage* computed() const { return nullptr; }
  // True when the bytes belong to someone outside the Model (a framework's live tensor, viewed by
  // a frontend): they stay in memory whatever the Model does, so a transformed copy of them is a
  // second copy of the weight.
  virtual bool borrowed() const { return false; }
};

// Bytes derived from other data when they are needed (e.g. weights quantized while the writer
// streams them), so a transformed model never holds a second copy of its weights. Writers call
// produce() piece by piece; data() materializes and caches the whole buffer for the rare reader
// that needs it at once (folding, bindings).
class ComputedStorage : public Storage {
 public:
  explicit ComputedStorage(size_t size) : size_(size) {}
  size_t size() const override { return size_; }
  const ComputedStorage* computed() const override { return this; }
  const uint8_t* data() const override {
    std::call_once(once_, [this] {
      cache_.resize(size_);
      produce(0, size_, cache_.data());
    });
    return cache_.data();
  }
  // Writes bytes [offset, offset + n) to out. Must be a pure function of the range.
  virtual void produce(size_t offset, size_t n, uint8_t* out) const = 0;

  // Produces bytes [offset, offset + n) in pieces of at most 1 MiB through one bounded buffer,
  // passing each to sink(bytes, length): how writers stream computed bytes to a file. The piece
  // is small because a sink may hold two more buffers of its size (f32 -> f16 conversion): with
  // 16 MiB pieces ResNet-50's BN-folded 3x3 kernels cost 23 MiB of peak RSS while written.
  template <typename Sink>
  void stream(size_t offset, size_t n, Sink&& sink) const {
    constexpr size_t kChunk = size_t{1} << 20;
    std::vector<uint8_t> buf(std::min(n, kChunk));
    for (size_t done = 0; done < n; done += kChunk) {
      size_t len = std::min(kChunk, n - done);
      produce(offset + done, len, buf.data());
      sink(buf.data(), len);
    }
  }

 private:
  size_t size_;
  mutable std::once_flag once_;
  mutable std::vector<uint8_t> cache_;
};

class OwnedStorage final : public Storage {
 public:
  explicit OwnedStorage(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  const uint8_t* data() const override { return bytes_.data(); }
  size_t size() const override { return bytes_.size(); }

 private:
  std::vector<uint8_t> bytes_;
};

class MappedStorage final : public Storage {
 public:
  explicit MappedStorage(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {}
  const uint8_t* data() const override { return file_->data(); }
  size_t size() const override { return file_->size(); }
  const MappedFile* mapping() const override { return file_.get(); }

 private:
  std::shared_ptr<MappedFile> file_;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::string name, DataType dtype, std::vector<int64_t> dims)
      : name_(std::move(name)), dtype_(dtype), dims_(std::move(dims)) {}

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  DataType dtype() const { return dtype_; }
  void set_dtype(DataType t) { dtype_ = t; }
  const std::vector<int64_t>& dims() const { return dims_; }
  void set_dims(std::vector<int64_t> d) { dims_ = std::move(d); }
  // Product of dims (1 for a scalar). Callers validated dims when the tensor was read.
  uint64_t element_count() const;

  // Raw little-endian bytes (sub-byte types packed, as ONNX raw_data). Empty for strings.
  const uint8_t* data() const { return storage_ ? storage_->data() + offset_ : nullptr; }
  size_t nbytes() const { return nbytes_; }
  const std::shared_ptr<const Storage>& storage() const { return storage_; }
  size_t storage_offset() const { return offset_; }
  void set_view(std::shared_ptr<const Storage> storage, size_t offset, size_t nbytes) {
    storage_ = std::move(storage);
    offset_ = offset;
    nbytes_ = nbytes;
  }
  void set_owned(std::vector<uint8_t> bytes) {
    size_t n = bytes.size();
    set_view(std::make_shared<OwnedStorage>(std::move(bytes)), 0, n);
  }
  // True when the bytes live in a memory-mapped file rather than on the heap.
  bool is_mapped() const { return storage_ && storage_->mapping() != nullptr; }
  // The producer of computed bytes (their range starts at storage_offset()), or nullptr.
  const ComputedStorage* computed() const { return storage_ ? storage_->computed() : nullptr; }

  std::vector<std::string>& strings() { return strings_; }
  const std::vector<std::string>& strings() const { return strings_; }

  std::string& doc_string() { return doc_string_; }
  const std::string& doc_string() const { return doc_string_; }
  StringPairs& metadata_props() { return metadata_props_; }
  const StringPairs& metadata_props() const { return metadata_props_; }
  // Fields we do not model (e.g. `segment`), kept as encoded protobuf bytes and written back.
  std::string& unknown_fields() { return unknown_fields_; }
  const std::string& unknown_fields() const { return unknown_fields_; }

 private:
  std::string name_;
  DataType dtype_ = DataType::kUndefined;
  std::vector<int64_t> dims_;
  std::shared_ptr<const Storage> storage_;
  size_t offset_ = 0;
  size_t nbytes_ = 0;
  std::vector<std::string> strings_;
  std::string doc_string_;
  StringPairs metadata_props_;
  std::string unknown_fields_;
};

// The values of a numeric tensor as doubles (float, double, float16, all integer types, bool);
// nullopt for other types. For reading small constants (shapes, axes, scalars).
std::optional<std::vector<double>> tensor_as_doubles(const Tensor& t);

struct SparseTensor {
  Tensor values;
  Tensor indices;
  std::vector<int64_t> dims;
};

}  // namespace irforge
