// Hugging Face safetensors checkpoints, read without copying a weight.
//
// A .safetensors file is an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {...}, "<tensor>": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ...}
// and the tensor bytes, [b, e) counted from byte 8 + N. The file is memory-mapped and each
// tensor is a view of it (Builder::constant over the mapping), so a checkpoint costs address
// space, not RAM. Offsets need not be aligned: every consumer of tensor bytes loads through
// memcpy. A sharded checkpoint lists its tensors in model.safetensors.index.json
// ({"weight_map": {"<tensor>": "<shard file>"}}).
//
// Everything a file declares is checked before it is used: header length within the file and
// at most kMaxHeaderBytes, known dtypes, dims >= 0 whose byte size equals e - b, ranges inside
// the data section and not overlapping, shard names that stay inside the folder.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/dtype.h"
#include "ir/tensor.h"

namespace irforge::safetensors {

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // the safetensors library's own limit

struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> dims;
  uint64_t offset = 0;  // absolute, from the start of the file
  uint64_t nbytes = 0;
};

// One parsed header: the tensors (in header order) and __metadata__.
struct Header {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses the header of a file of `file_size` bytes whose first bytes are `data` (at least
// min(file_size, 8 + N) of them). `label` names the file in errors. Pure: the fuzzer's entry.
Header parse_header(const uint8_t* data, uint64_t file_size, const std::string& label);

class File {
 public:
  // Maps and parses `path`. Throws kFile when it cannot be opened, kInvalidModel when malformed.
  static std::shared_ptr<File> open(const std::string& path);
  const std::string& path() const { return path_; }
  const Header& header() const { return header_; }
  const TensorInfo* find(const std::string& name) const;
  // The mapping, for Builder::constant (it keeps the file mapped as long as a constant lives).
  std::shared_ptr<const Storage> storage() const { return storage_; }

 private:
  std::string path_;
  Header header_;
  std::map<std::string, size_t> index_;
  std::shared_ptr<const Storage> storage_;
};

// A checkpoint folder: model.safetensors.index.json and its shards, or else the *.safetensors
// files of the folder. A tensor name must be unique across shards.
class Checkpoint {
 public:
  static std::shared_ptr<Checkpoint> open(const std::string& folder);
  struct Entry {
    const File* file;
    const TensorInfo* info;
  };
  // Tensors in a stable order (sorted by name).
  const std::map<std::string, Entry>& tensors() const { return tensors_; }
  const Entry* find(const std::string& name) const;
  const std::vector<std::shared_ptr<File>>& files() const { return files_; }
  const std::string& folder() const { return folder_; }

 private:
  std::string folder_;
  std::vector<std::shared_ptr<File>> files_;
  std::map<std::string, Entry> tensors_;
};

// Parses a safetensors dtype name ("BF16"); kUndefined when unknown.
DataType dtype_from_name(const std::string& name);

}  // namespace irforge::safetensors
