#include "io/tensorflow/bundle.h"

#include <cstdio>
#include <cstring>

#include "io/onnx/wire.h"
#include "support/error.h"
#include "support/mapped_file.h"

namespace irforge::tf {

namespace {

constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;  // LevelDB table footer magic
constexpr size_t kFooterSize = 48;                       // two padded BlockHandles + magic
constexpr size_t kBlockTrailerSize = 5;                  // compression type byte + crc32c
constexpr size_t kMaxEntries = size_t{1} << 22;

[[noreturn]] void corrupt(const std::string& what, const std::string& why) {
  fail_invalid(what + ": corrupt tensor-bundle index (SSTable): " + why);
}

struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  const std::string& what;
  uint64_t varint() {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) corrupt(what, "truncated varint");
      uint8_t b = *p++;
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
    }
    corrupt(what, "varint longer than 10 bytes");
  }
};

struct BlockHandle {
  uint64_t offset = 0, size = 0;
};

BlockHandle read_handle(Cursor& c) {
  BlockHandle h;
  h.offset = c.varint();
  h.size = c.varint();
  return h;
}

// Block contents (uncompressed), checked against the file's bounds.
std::string block_contents(const uint8_t* data, size_t size, BlockHandle h, const std::string& what) {
  if (h.offset > size || h.size > size - h.offset || size - h.offset - h.size < kBlockTrailerSize)
    corrupt(what, "a block at offset " + std::to_string(h.offset) + " of " + std::to_string(h.size) +
                      " bytes runs past the end of the file (" + std::to_string(size) + " bytes)");
  const uint8_t* block = data + h.offset;
  uint8_t type = block[h.size];
  if (type == 0) return std::string(reinterpret_cast<const char*>(block), h.size);
  if (type == 1) return snappy_uncompress(block, h.size, what);
  corrupt(what, "a block uses compression type " + std::to_string(type) + " (only none and snappy exist)");
}

// Prefix-compressed entries of one block, appended to `out`.
void read_block(const std::string& block, const std::string& what, std::vector<std::pair<std::string, std::string>>& out) {
  if (block.size() < 4) corrupt(what, "a block shorter than its restart count");
  uint32_t restarts;
  std::memcpy(&restarts, block.data() + block.size() - 4, 4);
  if (restarts > (block.size() - 4) / 4) corrupt(what, "a block declares more restart points than it has bytes");
  size_t limit = block.size() - 4 - size_t{restarts} * 4;
  const uint8_t* base = reinterpret_cast<const uint8_t*>(block.data());
  Cursor c{base, base + limit, what};
  std::string key;
  while (c.p < c.end) {
    uint64_t shared = c.varint(), unshared = c.varint(), value_len = c.varint();
    if (shared > key.size()) corrupt(what, "an entry shares more key bytes than the previous key has");
    if (unshared > static_cast<uint64_t>(c.end - c.p) || value_len > static_cast<uint64_t>(c.end - c.p) - unshared)
      corrupt(what, "an entry runs past the end of its block");
    key.resize(shared);
    key.append(reinterpret_cast<const char*>(c.p), unshared);
    c.p += unshared;
    out.emplace_back(key, std::string(reinterpret_cast<const char*>(c.p), value_len));
    c.p += value_len;
    if (out.size() > kMaxEntries) fail(ErrorKind::kResourceLimit, what + ": more than 2^22 entries in a tensor-bundle index");
  }
}

TfShape shape_field(const wire::Field& f) {
  if (f.type != wire::kLengthDelimited) fail_invalid("malformed protobuf: shape is not a message");
  return decode_shape(f.data, f.size);
}

}  // namespace

std::string snappy_uncompress(const uint8_t* data, size_t size, const std::string& what) {
  Cursor c{data, data + size, what};
  uint64_t length = c.varint();
  if (length > (uint64_t{1} << 32)) corrupt(what, "a snappy block declares more than 4 GiB");
  std::string out;
  out.reserve(std::min<uint64_t>(length, size * 64));
  while (c.p < c.end) {
    uint8_t tag = *c.p++;
    uint64_t len = 0, offset = 0;
    switch (tag & 3) {
      case 0: {  // literal
        len = (tag >> 2) + 1;
        if (len > 60) {
          size_t extra = len - 60;
          if (static_cast<size_t>(c.end - c.p) < extra) corrupt(what, "truncated snappy literal length");
          len = 0;
          for (size_t k = 0; k < extra; ++k) len |= static_cast<uint64_t>(c.p[k]) << (8 * k);
          len += 1;
          c.p += extra;
        }
        if (len > static_cast<uint64_t>(c.end - c.p)) corrupt(what, "a snappy literal runs past the block");
        if (out.size() + len > length) corrupt(what, "snappy data longer than declared");
        out.append(reinterpret_cast<const char*>(c.p), len);
        c.p += len;
        continue;
      }
      case 1:
        if (c.p >= c.end) corrupt(what, "truncated snappy copy");
        len = 4 + ((tag >> 2) & 7);
        offset = (static_cast<uint64_t>(tag >> 5) << 8) | *c.p++;
        break;
      case 2:
        if (c.end - c.p < 2) corrupt(what, "truncated snappy copy");
        len = 1 + (tag >> 2);
        offset = c.p[0] | (static_cast<uint64_t>(c.p[1]) << 8);
        c.p += 2;
        break;
      default:
        if (c.end - c.p < 4) corrupt(what, "truncated snappy copy");
        len = 1 + (tag >> 2);
        offset = c.p[0] | (static_cast<uint64_t>(c.p[1]) << 8) | (static_cast<uint64_t>(c.p[2]) << 16) |
                 (static_cast<uint64_t>(c.p[3]) << 24);
        c.p += 4;
        break;
    }
    if (offset == 0 || offset > out.size()) corrupt(what, "a snappy copy reaches before the start of the data");
    if (out.size() + len > length) corrupt(what, "snappy data longer than declared");
    size_t from = out.size() - offset;
    for (uint64_t k = 0; k < len; ++k) out.push_back(out[from + k]);  // copies may overlap
  }
  if (out.size() != length) corrupt(what, "snappy data shorter than declared");
  return out;
}

std::vector<std::pair<std::string, std::string>> read_sstable(const uint8_t* data, size_t size, const std::string& what) {
  if (size < kFooterSize) corrupt(what, "the file (" + std::to_string(size) + " bytes) is shorter than a table footer");
  uint64_t magic;
  std::memcpy(&magic, data + size - 8, 8);
  if (magic != kTableMagic) corrupt(what, "the table footer has no SSTable magic number");
  Cursor footer{data + size - kFooterSize, data + size - 8, what};
  read_handle(footer);  // metaindex: unused by tensor bundles
  BlockHandle index = read_handle(footer);
  std::vector<std::pair<std::string, std::string>> index_entries, out;
  read_block(block_contents(data, size, index, what), what, index_entries);
  for (const auto& [last_key, handle_bytes] : index_entries) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(handle_bytes.data());
    Cursor hc{p, p + handle_bytes.size(), what};
    read_block(block_contents(data, size, read_handle(hc), what), what, out);
  }
  return out;
}

std::unique_ptr<Bundle> Bundle::parse_index(const uint8_t* data, size_t size, const std::string& what) {
  auto b = std::make_unique<Bundle>();
  b->index_path_ = what;
  for (const auto& [key, value] : read_sstable(data, size, what)) {
    try {
      wire::Reader r(reinterpret_cast<const uint8_t*>(value.data()), value.size());
      wire::Field f;
      if (key.empty()) {  // BundleHeaderProto
        while (r.next(f)) {
          if (f.number == 1 && f.type == wire::kVarint) b->num_shards_ = static_cast<int32_t>(f.varint);
          else if (f.number == 2 && f.type == wire::kVarint && f.varint != 0)
            fail(ErrorKind::kUnsupported, "the bundle is big-endian");
        }
        if (b->num_shards_ < 1 || b->num_shards_ > 100000)
          fail_invalid("the bundle header declares " + std::to_string(b->num_shards_) + " shards");
        continue;
      }
      BundleEntry e;
      while (r.next(f)) {
        switch (f.number) {
          case 1: e.dtype = static_cast<int32_t>(f.varint); break;
          case 2: e.shape = shape_field(f); break;
          case 3: e.shard = static_cast<int32_t>(f.varint); break;
          case 4: e.offset = f.varint; break;
          case 5: e.size = f.varint; break;
          case 7: e.sliced = true; break;
          default: break;
        }
      }
      b->entries_[key] = std::move(e);
    } catch (const Error& e) {
      throw Error(e.kind(), what + ": entry '" + key + "': " + e.what());
    }
  }
  return b;
}

std::unique_ptr<Bundle> Bundle::open(const std::string& prefix) {
  std::string index_path = prefix + ".index";
  auto index = MappedFile::open(index_path);
  auto b = parse_index(index->data(), index->size(), index_path);
  b->prefix_ = prefix;
  b->shards_.resize(b->num_shards_);
  return b;
}

std::string Bundle::shard_path(int32_t shard) const {
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".data-%05d-of-%05d", shard, num_shards_);
  return prefix_ + suffix;
}

std::shared_ptr<const Storage> Bundle::shard(int32_t shard) const {
  if (shard < 0 || shard >= num_shards_) fail_invalid(index_path_ + ": shard " + std::to_string(shard) + " does not exist");
  auto& slot = const_cast<std::shared_ptr<const Storage>&>(shards_[shard]);
  if (!slot) {
    std::string path = shard_path(shard);
    try {
      slot = std::make_shared<MappedStorage>(MappedFile::open(path));
    } catch (const Error& e) {
      throw Error(ErrorKind::kFile, index_path_ + ": data shard " + std::to_string(shard) + " of the bundle is missing or unreadable: " + e.what());
    }
  }
  return slot;
}

const BundleEntry& Bundle::checked_entry(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) fail_invalid(index_path_ + ": no tensor '" + key + "' in the bundle");
  const BundleEntry& e = it->second;
  std::string who = index_path_ + ": tensor '" + key + "': ";
  if (e.sliced) fail_invalid(who + "is a partitioned variable, stored as slices: read through its slice entries");
  size_t width = dtype_size(e.dtype);
  if (width == 0) fail(ErrorKind::kUnsupported, who + "holds " + dtype_name(e.dtype) + " values, which are not supported");
  if (e.shape.unknown_rank) fail_invalid(who + "has no shape");
  uint64_t count = 1;
  for (int64_t d : e.shape.dims) {
    if (d < 0) fail_invalid(who + "has an unknown dimension");
    if (d != 0 && count > (uint64_t{1} << 40) / static_cast<uint64_t>(d)) fail(ErrorKind::kResourceLimit, who + "has more than 2^40 elements");
    count *= static_cast<uint64_t>(d);
  }
  if (count * width != e.size)
    fail_invalid(who + "declares " + std::to_string(e.size) + " bytes but " + dtype_name(e.dtype) + " x " +
                 std::to_string(count) + " elements need " + std::to_string(count * width));
  auto data = shard(e.shard);
  if (e.offset > data->size() || e.size > data->size() - e.offset)
    fail_invalid(who + "bytes [" + std::to_string(e.offset) + ", " + std::to_string(e.offset + e.size) + ") lie outside its shard " +
                 shard_path(e.shard) + " (" + std::to_string(data->size()) + " bytes)");
  return e;
}

namespace {

// OrderedCode::WriteNumIncreasing: a length byte, then the big-endian bytes without leading zeros.
void write_num_increasing(std::string& out, uint64_t v) {
  unsigned char buf[8];
  int n = 0;
  for (; v != 0; v >>= 8) buf[n++] = static_cast<unsigned char>(v & 0xff);
  out.push_back(static_cast<char>(n));
  while (n > 0) out.push_back(static_cast<char>(buf[--n]));
}

// OrderedCode::WriteString: 0x00 -> 00 ff, 0xff -> ff 00, terminated by 00 01.
void write_string(std::string& out, const std::string& s) {
  for (char ch : s) {
    out.push_back(ch);
    if (ch == '\0') out.push_back('\xff');
    else if (ch == '\xff') out.push_back('\0');
  }
  out.append("\0\x01", 2);
}

// OrderedCode::WriteSignedNumIncreasing: len bytes whose leading len+1 bits (after the sign)
// give the length; small values (|v| < 64) take one byte.
void write_signed_num_increasing(std::string& out, int64_t v) {
  static const uint8_t kHeader[11][2] = {{0, 0}, {0x80, 0}, {0xc0, 0}, {0xe0, 0}, {0xf0, 0}, {0xf8, 0},
                                         {0xfc, 0}, {0xfe, 0}, {0xff, 0}, {0xff, 0x80}, {0xff, 0xc0}};
  uint64_t x = v < 0 ? ~static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  if (x < 64) {
    out.push_back(static_cast<char>(kHeader[1][0] ^ static_cast<uint8_t>(v)));
    return;
  }
  int bits = 0;
  for (uint64_t t = x; t != 0; t >>= 1) ++bits;
  int len = bits / 7 + 1;
  unsigned char buf[10];
  unsigned char sign = v < 0 ? 0xff : 0;
  buf[0] = buf[1] = sign;
  for (int i = 0; i < 8; ++i) buf[2 + i] = static_cast<unsigned char>(static_cast<uint64_t>(v) >> (56 - 8 * i));
  unsigned char* begin = buf + 10 - len;
  begin[0] ^= kHeader[len][0];
  begin[1] ^= kHeader[len][1];
  out.append(reinterpret_cast<const char*>(begin), static_cast<size_t>(len));
}

int64_t parse_int(const std::string& text, const std::string& what) {
  size_t digits = !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() <= digits || text.size() > 18 || text.find_first_not_of("0123456789", digits) != std::string::npos)
    fail_invalid(what + ": '" + text + "' is not a number");
  return std::stoll(text);
}

}  // namespace

std::string Bundle::slice_key(const std::string& name, const std::vector<std::pair<int64_t, int64_t>>& extents) {
  std::string key;
  write_num_increasing(key, 0);
  write_string(key, name);
  write_num_increasing(key, extents.size());
  for (const auto& [start, length] : extents) {
    write_signed_num_increasing(key, start);
    write_signed_num_increasing(key, length);
  }
  return key;
}

const BundleEntry& Bundle::checked_slice_entry(const std::string& name, const std::string& shape_and_slice) const {
  std::string what = index_path_ + ": tensor '" + name + "' slice '" + shape_and_slice + "'";
  auto full = entries_.find(name);
  if (full == entries_.end() || !full->second.sliced) fail_invalid(what + ": the bundle has no partitioned tensor of that name");
  size_t space = shape_and_slice.rfind(' ');
  if (space == std::string::npos) fail_invalid(what + ": expected the full shape, a space and the slice");
  std::vector<std::pair<int64_t, int64_t>> extents;
  std::string spec = shape_and_slice.substr(space + 1);
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t end = spec.find(':', pos);
    if (end == std::string::npos) end = spec.size();
    std::string dim = spec.substr(pos, end - pos);
    if (dim == "-") {
      extents.emplace_back(0, -1);
    } else {
      size_t comma = dim.find(',');
      if (comma == std::string::npos) fail_invalid(what + ": a dim is neither 'start,length' nor '-'");
      int64_t start = parse_int(dim.substr(0, comma), what), length = parse_int(dim.substr(comma + 1), what);
      if (start < 0 || length < 0) fail_invalid(what + ": a negative start or length");
      extents.emplace_back(start, length);
    }
    if (extents.size() > 64) fail_invalid(what + ": more than 64 dims");
    pos = end + 1;
  }
  std::string key = slice_key(name, extents);
  if (entries_.find(key) == entries_.end()) fail_invalid(what + ": the bundle holds no such slice");
  return checked_entry(key);
}

}  // namespace irforge::tf
