// A bounds-checked view of a flatbuffer: the little of the flatbuffers wire format the TFLite
// reader needs (tables through vtables, vectors, strings, unions), written by hand so reading a
// .tflite needs no generated code and no TensorFlow.
//
// Wire format: a table at position T starts with an int32 `soffset`; its vtable is at T - soffset
// and holds uint16 [vtable size, table size, field offset 0, field offset 1, ...]. Field k lives
// at T + (field offset k) when that offset is present and non-zero; otherwise it takes its
// default. Offset fields (tables, vectors, strings) hold a uint32 relative to their own position.
// A vector is a uint32 length followed by its elements; a vector of tables holds uint32 offsets.
//
// Every read is checked against the buffer, so garbage (a fuzzer's, or a damaged file) ends in
// Error(kInvalidModel) naming what was being read, never in a read outside the buffer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "support/error.h"

namespace irforge::flatbuf {

class Buffer {
 public:
  Buffer(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t size() const { return size_; }
  const uint8_t* data() const { return data_; }

  // Throws unless [pos, pos + n) lies inside the buffer.
  void need(uint64_t pos, uint64_t n, const char* what) const {
    if (pos > size_ || n > size_ - pos)
      fail_invalid(std::string("flatbuffer ") + what + " at byte " + std::to_string(pos) + " (" + std::to_string(n) +
                   " bytes) is past the end of the file (" + std::to_string(size_) + " bytes)");
  }
  template <typename T>
  T read(uint64_t pos, const char* what) const {
    need(pos, sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos, sizeof(T));  // little-endian hosts only (x86, arm)
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

class Table;

// A vector of scalars, offsets or tables at `pos` (its length word).
class Vector {
 public:
  Vector() = default;
  Vector(const Buffer* buf, uint64_t pos, uint32_t elem_size, const char* what) : buf_(buf), what_(what) {
    if (!buf) return;
    length_ = buf->read<uint32_t>(pos, what);
    start_ = pos + 4;
    buf->need(start_, uint64_t{length_} * elem_size, what);
  }
  uint32_t size() const { return length_; }
  bool empty() const { return length_ == 0; }
  uint64_t start() const { return start_; }
  template <typename T>
  T at(uint32_t i) const {
    check(i);
    return buf_->read<T>(start_ + uint64_t{i} * sizeof(T), what_);
  }
  Table table(uint32_t i) const;

 private:
  void check(uint32_t i) const {
    if (i >= length_) fail_invalid(std::string("flatbuffer ") + what_ + ": index " + std::to_string(i) + " out of range");
  }
  const Buffer* buf_ = nullptr;
  uint64_t start_ = 0;
  uint32_t length_ = 0;
  const char* what_ = "";
};

class Table {
 public:
  Table() = default;
  Table(const Buffer* buf, uint64_t pos, const char* what) : buf_(buf), pos_(pos), what_(what) {
    int32_t soff = buf->read<int32_t>(pos, what);
    int64_t vt = static_cast<int64_t>(pos) - soff;
    if (vt < 0) fail_invalid(std::string("flatbuffer ") + what + ": vtable offset points before the file");
    vtable_ = static_cast<uint64_t>(vt);
    vt_size_ = buf->read<uint16_t>(vtable_, what);
    if (vt_size_ < 4 || (vt_size_ & 1)) fail_invalid(std::string("flatbuffer ") + what + ": bad vtable size " + std::to_string(vt_size_));
    buf->need(vtable_, vt_size_, what);
  }
  bool valid() const { return buf_ != nullptr; }
  const char* what() const { return what_; }

  // Position of field `slot` (the vtable offset 4 + 2 * field index), or 0 when absent.
  uint64_t field(uint16_t slot) const {
    if (!buf_ || slot + 2u > vt_size_) return 0;
    uint16_t off = buf_->read<uint16_t>(vtable_ + slot, what_);
    return off ? pos_ + off : 0;
  }
  bool has(uint16_t slot) const { return field(slot) != 0; }
  template <typename T>
  T scalar(uint16_t slot, T fallback) const {
    uint64_t p = field(slot);
    return p ? buf_->read<T>(p, what_) : fallback;
  }
  // Target of an offset field, or 0 when absent.
  uint64_t target(uint16_t slot) const {
    uint64_t p = field(slot);
    if (!p) return 0;
    uint32_t rel = buf_->read<uint32_t>(p, what_);
    if (rel == 0) fail_invalid(std::string("flatbuffer ") + what_ + ": a zero offset");
    return p + rel;
  }
  Table table(uint16_t slot, const char* what) const {
    uint64_t t = target(slot);
    return t ? Table(buf_, t, what) : Table();
  }
  Vector vector(uint16_t slot, uint32_t elem_size, const char* what) const {
    uint64_t t = target(slot);
    return t ? Vector(buf_, t, elem_size, what) : Vector();
  }
  std::string string(uint16_t slot) const {
    uint64_t t = target(slot);
    if (!t) return {};
    uint32_t n = buf_->read<uint32_t>(t, what_);
    buf_->need(t + 4, n, what_);
    return std::string(reinterpret_cast<const char*>(buf_->data() + t + 4), n);
  }

 private:
  const Buffer* buf_ = nullptr;
  uint64_t pos_ = 0, vtable_ = 0;
  uint16_t vt_size_ = 0;
  const char* what_ = "";
};

inline Table Vector::table(uint32_t i) const {
  check(i);
  uint64_t p = start_ + uint64_t{i} * 4;
  uint32_t rel = buf_->read<uint32_t>(p, what_);
  if (rel == 0) fail_invalid(std::string("flatbuffer ") + what_ + ": a zero offset");
  return Table(buf_, p + rel, what_);
}

}  // namespace irforge::flatbuf
