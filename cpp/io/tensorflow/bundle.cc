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
  if (e.sliced) fail(ErrorKind::kUnsupported, who + "a partitioned (sliced) variable; save it unpartitioned");
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

}  // namespace irforge::tf
