// TensorFlow's tensor bundle (the `variables/variables.index` + `.data-NNNNN-of-NNNNN` of a
// SavedModel, and TF1 checkpoints `model.ckpt.index` + data): the index is a LevelDB-style
// SSTable (footer -> index block -> data blocks, prefix-compressed keys, optional snappy)
// mapping each tensor's checkpoint key to a BundleEntryProto (dtype, shape, shard, offset,
// size). Shards are memory-mapped; entries are views into them, never copied.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/tensorflow/proto.h"
#include "ir/tensor.h"

namespace irforge::tf {

struct BundleEntry {
  int32_t dtype = 0;
  TfShape shape;
  int32_t shard = 0;
  uint64_t offset = 0, size = 0;
  bool sliced = false;  // a partitioned variable: its data is in per-slice entries
};

// Key -> value pairs of an SSTable held in `data`; `what` names the file in messages.
std::vector<std::pair<std::string, std::string>> read_sstable(const uint8_t* data, size_t size, const std::string& what);

// Decodes a snappy block (raw format, no framing). Throws kInvalidModel on corrupt input.
std::string snappy_uncompress(const uint8_t* data, size_t size, const std::string& what);

class Bundle {
 public:
  // `prefix` is the path without ".index" (".../variables/variables"). Throws kFile when the
  // index or a shard is missing, kInvalidModel when they are corrupt.
  static std::unique_ptr<Bundle> open(const std::string& prefix);
  // Parses an index held in memory (fuzzing, tests); shards are not opened.
  static std::unique_ptr<Bundle> parse_index(const uint8_t* data, size_t size, const std::string& what);

  const std::map<std::string, BundleEntry>& entries() const { return entries_; }
  int32_t num_shards() const { return num_shards_; }
  std::string shard_path(int32_t shard) const;
  // The mapped shard holding `key`'s bytes, with the entry checked against the shard's size
  // and against dtype x shape. Throws naming the index file and the key.
  std::shared_ptr<const Storage> shard(int32_t shard) const;
  const BundleEntry& checked_entry(const std::string& key) const;
  // The entry of one saved slice of a partitioned variable: `shape_and_slice` as RestoreV2
  // takes it ("10 3 0,4:-": the full shape, then start,length or "-" per dim).
  const BundleEntry& checked_slice_entry(const std::string& name, const std::string& shape_and_slice) const;
  // TensorFlow's key of a slice (checkpoint::EncodeTensorNameSlice, OrderedCode): a 0, the
  // name, the rank, then start and length (-1: the whole dim) per dim.
  static std::string slice_key(const std::string& name, const std::vector<std::pair<int64_t, int64_t>>& extents);
  const std::string& index_path() const { return index_path_; }

 private:
  std::string prefix_, index_path_;
  int32_t num_shards_ = 1;
  std::map<std::string, BundleEntry> entries_;
  std::vector<std::shared_ptr<const Storage>> shards_;
};

}  // namespace irforge::tf
