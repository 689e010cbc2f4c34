// Protobuf wire format, just enough for ONNX's messages: a bounds-checked field reader over a
// byte span, and a Rope writer whose large pieces stay views into tensor storage, so that
// serialising a model never copies its weights.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/error.h"

namespace irforge::wire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

// The float / double a fixed32 / fixed64 field's raw value (Field::varint) holds.
inline float fixed_f32(uint64_t raw) {
  uint32_t bits = static_cast<uint32_t>(raw);
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}
inline double fixed_f64(uint64_t raw) {
  double v;
  std::memcpy(&v, &raw, 8);
  return v;
}

struct Field {
  uint32_t number = 0;
  WireType type = kVarint;
  uint64_t varint = 0;  // kVarint, kFixed32, kFixed64 hold their value here
  const uint8_t* data = nullptr;  // kLengthDelimited payload
  size_t size = 0;
  const uint8_t* begin = nullptr;  // whole field including its tag (to keep unknown fields)
  const uint8_t* end = nullptr;

  std::string str() const { return std::string(reinterpret_cast<const char*>(data), size); }
  std::string raw() const { return std::string(reinterpret_cast<const char*>(begin), end - begin); }
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  explicit Reader(const Field& f) : p_(f.data), end_(f.data + f.size) {}
  bool done() const { return p_ >= end_; }

  // Reads the next field; throws Error(kInvalidModel) on truncated or malformed input.
  bool next(Field& f) {
    if (p_ >= end_) return false;
    f.begin = p_;
    uint64_t tag = varint();
    f.number = static_cast<uint32_t>(tag >> 3);
    f.type = static_cast<WireType>(tag & 7);
    if (f.number == 0 || (tag >> 3) > 0x1fffffff) bad("invalid field number");
    switch (f.type) {
      case kVarint: f.varint = varint(); break;
      case kFixed64: need(8); std::memcpy(&f.varint, p_, 8); p_ += 8; break;
      case kFixed32: {
        need(4);
        uint32_t v;
        std::memcpy(&v, p_, 4);
        f.varint = v;
        p_ += 4;
        break;
      }
      case kLengthDelimited: {
        uint64_t len = varint();
        if (len > static_cast<uint64_t>(end_ - p_))
          bad("field " + std::to_string(f.number) + " declares " + std::to_string(len) + " bytes but only " +
              std::to_string(end_ - p_) + " remain in its message");
        f.data = p_;
        f.size = static_cast<size_t>(len);
        p_ += len;
        break;
      }
      case kStartGroup: skip_group(f.number, 0); break;
      default: bad("unsupported wire type " + std::to_string(static_cast<int>(f.type)));
    }
    f.end = p_;
    return true;
  }

  uint64_t varint() {
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ >= end_) bad("truncated varint");
      uint8_t b = *p_++;
      if (shift == 63 && (b & 0x7e)) bad("varint overflows 64 bits");
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
    }
    bad("varint longer than 10 bytes");
  }

 private:
  [[noreturn]] void bad(const std::string& what) { fail_invalid("malformed protobuf: " + what); }
  void need(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) bad("truncated fixed-width field");
  }
  void skip_group(uint32_t number, int depth) {
    if (depth > 64) bad("groups nested too deeply");
    while (true) {
      if (p_ >= end_) bad("unterminated group");
      uint64_t tag = varint();
      uint32_t type = tag & 7;
      if (type == kEndGroup) {
        if ((tag >> 3) != number) bad("mismatched end-group tag");
        return;
      }
      switch (type) {
        case kVarint: varint(); break;
        case kFixed64: need(8); p_ += 8; break;
        case kFixed32: need(4); p_ += 4; break;
        case kLengthDelimited: {
          uint64_t len = varint();
          if (len > static_cast<uint64_t>(end_ - p_)) bad("truncated group field");
          p_ += len;
          break;
        }
        case kStartGroup: skip_group(static_cast<uint32_t>(tag >> 3), depth + 1); break;
        default: bad("unsupported wire type in group");
      }
    }
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

// Repeated scalar fields arrive packed (one length-delimited field) or unpacked (one field per
// element); both must be accepted. `read` decodes one element from a Reader over packed bytes.
template <typename T, typename Fn>
void read_repeated(const Field& f, std::vector<T>& out, Fn&& from_scalar, WireType scalar_type) {
  if (f.type == kLengthDelimited) {
    if (scalar_type == kFixed32 || scalar_type == kFixed64) {
      size_t width = scalar_type == kFixed32 ? 4 : 8;
      if (f.size % width) fail_invalid("malformed protobuf: packed fixed-width field size is not a multiple of its width");
      size_t n = f.size / width;
      size_t base = out.size();
      out.resize(base + n);
      for (size_t k = 0; k < n; ++k) {
        uint64_t raw = 0;
        std::memcpy(&raw, f.data + k * width, width);
        out[base + k] = from_scalar(raw);
      }
    } else {
      Reader r(f.data, f.size);
      while (!r.done()) out.push_back(from_scalar(r.varint()));
    }
  } else if (f.type == scalar_type) {
    out.push_back(from_scalar(f.varint));
  } else {
    fail_invalid("malformed protobuf: repeated field " + std::to_string(f.number) + " has wire type " +
                 std::to_string(static_cast<int>(f.type)));
  }
}

// ---- writing ----------------------------------------------------------------------------------

// A serialized message as a list of pieces: owned bytes, or views into storage that must stay
// alive until the rope is written out (the model holds it).
class Rope {
 public:
  struct Piece {
    std::string owned;          // used when view == nullptr
    const uint8_t* view = nullptr;
    size_t view_size = 0;
    const void* mapping = nullptr;  // MappedFile* for views into a mapping (pages can be released)
    // Computed bytes (a ComputedStorage*, bytes [computed_offset, +view_size)): produced while
    // writing, never held in full. view is nullptr for such pieces.
    const void* computed = nullptr;
    size_t computed_offset = 0;
  };

  size_t size() const { return size_; }
  const std::vector<Piece>& pieces() const { return pieces_; }

  void bytes(const void* p, size_t n) {
    tail().append(static_cast<const char*>(p), n);
    size_ += n;
  }
  void varint(uint64_t v) {
    uint8_t buf[10];
    size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<uint8_t>(v | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<uint8_t>(v);
    bytes(buf, n);
  }
  void tag(uint32_t field, WireType type) { varint((static_cast<uint64_t>(field) << 3) | type); }

  void field_varint(uint32_t field, uint64_t v) { tag(field, kVarint); varint(v); }
  void field_int64(uint32_t field, int64_t v) { field_varint(field, static_cast<uint64_t>(v)); }
  void field_float(uint32_t field, float v) { tag(field, kFixed32); bytes(&v, 4); }
  void field_string(uint32_t field, const std::string& s) {
    tag(field, kLengthDelimited);
    varint(s.size());
    bytes(s.data(), s.size());
  }
  void field_string_if(uint32_t field, const std::string& s) {
    if (!s.empty()) field_string(field, s);
  }
  // A length-delimited field whose payload is a view (tensor bytes): not copied.
  void field_view(uint32_t field, const uint8_t* p, size_t n, const void* mapping) {
    tag(field, kLengthDelimited);
    varint(n);
    if (n < 4096) {
      bytes(p, n);  // small payloads are cheaper inline
      return;
    }
    Piece piece;
    piece.view = p;
    piece.view_size = n;
    piece.mapping = mapping;
    pieces_.push_back(std::move(piece));
    size_ += n;
  }
  // A length-delimited field whose payload is produced at write time (see Piece::computed).
  void field_computed(uint32_t field, const void* computed, size_t offset, size_t n) {
    tag(field, kLengthDelimited);
    varint(n);
    Piece piece;
    piece.computed = computed;
    piece.computed_offset = offset;
    piece.view_size = n;
    pieces_.push_back(std::move(piece));
    size_ += n;
  }
  void field_message(uint32_t field, Rope&& child) {
    tag(field, kLengthDelimited);
    varint(child.size_);
    append(std::move(child));
  }
  void raw(const std::string& encoded) { bytes(encoded.data(), encoded.size()); }
  void packed_int64(uint32_t field, const std::vector<int64_t>& v) {
    if (v.empty()) return;
    Rope body;
    for (int64_t x : v) body.varint(static_cast<uint64_t>(x));
    field_message(field, std::move(body));
  }
  void packed_float(uint32_t field, const std::vector<float>& v) {
    if (v.empty()) return;
    tag(field, kLengthDelimited);
    varint(v.size() * 4);
    bytes(v.data(), v.size() * 4);
  }

  void append(Rope&& other) {
    for (auto& p : other.pieces_) {
      if (!p.view && !p.computed && !pieces_.empty() && !pieces_.back().view && !pieces_.back().computed) {
        pieces_.back().owned += p.owned;
      } else {
        pieces_.push_back(std::move(p));
      }
    }
    size_ += other.size_;
    other.pieces_.clear();
    other.size_ = 0;
  }

 private:
  std::string& tail() {
    if (pieces_.empty() || pieces_.back().view || pieces_.back().computed) pieces_.emplace_back();
    return pieces_.back().owned;
  }
  std::vector<Piece> pieces_;
  size_t size_ = 0;
};

}  // namespace irforge::wire
