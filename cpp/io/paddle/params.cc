#include "io/paddle/params.h"

#include <cstring>

#include "io/onnx/wire.h"
#include "io/paddle/program.h"
#include "support/error.h"

namespace irforge::paddle {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 40;
constexpr uint64_t kMaxLodBytes = uint64_t{1} << 32;

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& label) : data_(data), size_(size), label_(label) {}
  size_t pos() const { return pos_; }
  bool done() const { return pos_ >= size_; }
  size_t remaining() const { return size_ - pos_; }
  void need(size_t n, const std::string& what) {
    if (n > remaining())
      fail_invalid(label_ + ": " + what + " needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
                   " but the file ends after " + std::to_string(remaining()) + " (truncated?)");
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  const uint8_t* take(size_t n, const std::string& what) {
    need(n, what);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& label_;
};

void decode_tensor_desc(const uint8_t* p, size_t n, PdParam& out, const std::string& where) {
  bool have_type = false;
  try {
    wire::Reader r(p, n);
    wire::Field f;
    while (r.next(f)) {
      if (f.number == 1 && f.type == wire::kVarint) {
        out.dtype = static_cast<int32_t>(f.varint);
        have_type = true;
      } else if (f.number == 2) {
        wire::read_repeated(f, out.dims, [](uint64_t v) { return static_cast<int64_t>(v); }, wire::kVarint);
        if (out.dims.size() > kMaxRank) fail(ErrorKind::kResourceLimit, where + ": more than 64 dims");
      }
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInvalidModel) throw;
    fail_invalid(where + ": its TensorDesc is not valid: " + e.what());
  }
  if (!have_type) fail_invalid(where + ": its TensorDesc has no data_type");
}

}  // namespace

std::vector<PdParam> scan_params(const uint8_t* data, size_t size, const std::vector<std::string>& names,
                                 const std::string& label) {
  std::vector<PdParam> out;
  out.reserve(names.size());
  Cursor c(data, size, label);
  for (const std::string& name : names) {
    const std::string where = label + ": variable '" + name + "' (tensor " + std::to_string(out.size()) + " of " +
                              std::to_string(names.size()) + ")";
    // The messages name the variable; Cursor's name the file and offset.
    auto what = [&](const char* part) { return std::string("variable '") + name + "' " + part; };
    uint32_t version = c.read<uint32_t>(what("version"));
    if (version != 0) fail_invalid(where + ": unknown tensor stream version " + std::to_string(version) + " (expected 0)");
    uint64_t lod_levels = c.read<uint64_t>(what("LoD level count"));
    if (lod_levels > c.remaining() / 8) fail_invalid(where + ": declares " + std::to_string(lod_levels) + " LoD levels, more than the file holds");
    for (uint64_t l = 0; l < lod_levels; ++l) {
      uint64_t bytes = c.read<uint64_t>(what("LoD level size"));
      if (bytes > kMaxLodBytes || bytes > c.remaining())
        fail_invalid(where + ": LoD level " + std::to_string(l) + " declares " + std::to_string(bytes) + " bytes, more than the file holds");
      c.take(static_cast<size_t>(bytes), what("LoD level"));
    }
    uint32_t tensor_version = c.read<uint32_t>(what("tensor version"));
    if (tensor_version != 0) fail_invalid(where + ": unknown tensor version " + std::to_string(tensor_version) + " (expected 0)");
    int32_t desc_size = c.read<int32_t>(what("TensorDesc size"));
    if (desc_size < 0 || static_cast<size_t>(desc_size) > c.remaining())
      fail_invalid(where + ": TensorDesc size " + std::to_string(desc_size) + " does not fit in the file");
    PdParam p;
    p.name = name;
    const uint8_t* desc = c.take(static_cast<size_t>(desc_size), what("TensorDesc"));
    decode_tensor_desc(desc, static_cast<size_t>(desc_size), p, where);
    size_t width = element_size(p.dtype);
    if (!width) fail(ErrorKind::kUnsupported, where + ": unsupported data type " + std::to_string(p.dtype));
    int64_t n = 1;
    for (int64_t d : p.dims) {
      if (d < 0) fail_invalid(where + ": negative dimension " + std::to_string(d));
      if (d != 0 && n > kMaxElements / d) fail(ErrorKind::kResourceLimit, where + ": more than 2^40 elements");
      n *= d;
    }
    uint64_t nbytes = static_cast<uint64_t>(n) * width;
    if (nbytes > c.remaining())
      fail_invalid(where + ": its shape needs " + std::to_string(nbytes) + " bytes of data but only " + std::to_string(c.remaining()) +
                   " remain in the file (truncated, or shape and data disagree)");
    p.offset = c.pos();
    p.nbytes = static_cast<size_t>(nbytes);
    c.take(p.nbytes, what("data"));
    out.push_back(std::move(p));
  }
  if (!c.done())
    fail_invalid(label + ": " + std::to_string(c.remaining()) + " bytes left after the " + std::to_string(names.size()) +
                 " persistable variables of the program (the parameter file does not belong to this program, or a tensor's "
                 "shape disagrees with its data)");
  return out;
}

}  // namespace irforge::paddle
