#include "io/safetensors/reader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/json.h"
#include "support/error.h"
#include "support/mapped_file.h"

namespace irforge::safetensors {

namespace {

constexpr int64_t kMaxDims = 64;
constexpr uint64_t kMaxElements = uint64_t{1} << 40;  // as the other readers (README: Reliability)

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

DataType dtype_from_name(const std::string& name) {
  static const std::map<std::string, DataType> kNames = {
      {"F64", DataType::kDouble},  {"F32", DataType::kFloat},  {"F16", DataType::kFloat16},  {"BF16", DataType::kBfloat16},
      {"I64", DataType::kInt64},   {"I32", DataType::kInt32},  {"I16", DataType::kInt16},    {"I8", DataType::kInt8},
      {"U64", DataType::kUint64},  {"U32", DataType::kUint32}, {"U16", DataType::kUint16},   {"U8", DataType::kUint8},
      {"BOOL", DataType::kBool},   {"F8_E4M3", DataType::kFloat8E4M3FN}, {"F8_E5M2", DataType::kFloat8E5M2}};
  auto it = kNames.find(name);
  return it == kNames.end() ? DataType::kUndefined : it->second;
}

Header parse_header(const uint8_t* data, uint64_t file_size, const std::string& label) {
  if (file_size < 8) fail_invalid(label + ": truncated safetensors file (" + std::to_string(file_size) + " bytes, the header length alone takes 8)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxHeaderBytes)
    fail(ErrorKind::kResourceLimit, label + ": safetensors header of " + std::to_string(n) + " bytes is beyond the limit of " +
                                        std::to_string(kMaxHeaderBytes));
  if (n > file_size - 8)
    fail_invalid(label + ": truncated safetensors file: the header declares " + std::to_string(n) + " bytes but the file has " +
                 std::to_string(file_size - 8) + " after the length");
  json::Value root = json::parse(std::string_view(reinterpret_cast<const char*>(data + 8), n), label + ": safetensors header");
  if (root.kind != json::Value::Kind::kObject) fail_invalid(label + ": the safetensors header is not a JSON object");
  const uint64_t data_start = 8 + n, data_size = file_size - data_start;
  Header h;
  for (size_t m = 0; m < root.keys.size(); ++m) {
    const std::string& name = root.keys[m];
    const json::Value& entry = root.values[m];
    if (name == "__metadata__") {
      if (entry.kind != json::Value::Kind::kObject) fail_invalid(label + ": __metadata__ is not an object");
      for (size_t i = 0; i < entry.keys.size(); ++i) {
        const std::string& k = entry.keys[i];
        const json::Value& v = entry.values[i];
        if (v.kind != json::Value::Kind::kString) fail_invalid(label + ": __metadata__ value " + quoted(k) + " is not a string");
        h.metadata[k] = v.string;
      }
      continue;
    }
    std::string where = label + ": tensor " + quoted(name);
    if (entry.kind != json::Value::Kind::kObject) fail_invalid(where + ": its header entry is not an object");
    const json::Value* dtype = entry.find("dtype");
    const json::Value* shape = entry.find("shape");
    const json::Value* offsets = entry.find("data_offsets");
    if (!dtype || dtype->kind != json::Value::Kind::kString) fail_invalid(where + ": 'dtype' is missing or not a string");
    if (!shape || shape->kind != json::Value::Kind::kArray) fail_invalid(where + ": 'shape' is missing or not a list");
    if (!offsets || offsets->kind != json::Value::Kind::kArray || offsets->array.size() != 2)
      fail_invalid(where + ": 'data_offsets' is missing or not a list of two integers");
    TensorInfo t;
    t.name = name;
    t.dtype = dtype_from_name(dtype->string);
    if (t.dtype == DataType::kUndefined) fail(ErrorKind::kUnsupported, where + ": unknown or unsupported dtype " + quoted(dtype->string));
    if (static_cast<int64_t>(shape->array.size()) > kMaxDims)
      fail(ErrorKind::kResourceLimit, where + ": more than " + std::to_string(kMaxDims) + " dims");
    uint64_t count = 1;
    for (const json::Value& d : shape->array) {
      if (d.kind != json::Value::Kind::kNumber || !d.is_int || d.integer < 0) fail_invalid(where + ": a dim of 'shape' is not an integer >= 0");
      t.dims.push_back(d.integer);
      if (d.integer != 0 && count > kMaxElements / static_cast<uint64_t>(d.integer))
        fail(ErrorKind::kResourceLimit, where + ": more than 2^40 elements");
      count *= static_cast<uint64_t>(d.integer);
    }
    const json::Value &b = offsets->array[0], &e = offsets->array[1];
    if (b.kind != json::Value::Kind::kNumber || e.kind != json::Value::Kind::kNumber || !b.is_int || !e.is_int || b.integer < 0 ||
        e.integer < b.integer)
      fail_invalid(where + ": 'data_offsets' must be two integers 0 <= begin <= end");
    auto expected = raw_bytes_for(t.dtype, count);
    uint64_t size = static_cast<uint64_t>(e.integer - b.integer);
    if (!expected || *expected != size)
      fail_invalid(where + ": data_offsets span " + std::to_string(size) + " bytes but " + dtype->string + " " + "of " +
                   std::to_string(count) + " elements takes " + (expected ? std::to_string(*expected) : std::string("more")));
    if (static_cast<uint64_t>(e.integer) > data_size)
      fail_invalid(where + ": data_offsets [" + std::to_string(b.integer) + ", " + std::to_string(e.integer) +
                   ") run past the end of the data (" + std::to_string(data_size) + " bytes; a truncated file?)");
    t.offset = data_start + static_cast<uint64_t>(b.integer);
    t.nbytes = size;
    h.tensors.push_back(std::move(t));
  }
  // Overlapping ranges mean a corrupt header (the format forbids them).
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : h.tensors)
    if (t.nbytes) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->offset + by_offset[i - 1]->nbytes > by_offset[i]->offset)
      fail_invalid(label + ": tensors " + quoted(by_offset[i - 1]->name) + " and " + quoted(by_offset[i]->name) + " overlap in the data section");
  return h;
}

std::shared_ptr<File> File::open(const std::string& path) {
  auto mapped = MappedFile::open(path);
  auto f = std::shared_ptr<File>(new File());
  f->path_ = path;
  f->header_ = parse_header(mapped->data(), mapped->size(), path);
  // The header pages are not needed again.
  if (mapped->size()) mapped->release_around(mapped->data(), std::min<size_t>(mapped->size(), 8 + kMaxHeaderBytes));
  for (size_t i = 0; i < f->header_.tensors.size(); ++i) f->index_[f->header_.tensors[i].name] = i;
  f->storage_ = std::make_shared<MappedStorage>(std::move(mapped));
  return f;
}

const TensorInfo* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

std::shared_ptr<Checkpoint> Checkpoint::open(const std::string& folder) {
  namespace fs = std::filesystem;
  auto c = std::shared_ptr<Checkpoint>(new Checkpoint());
  c->folder_ = folder;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) fail(ErrorKind::kFile, folder + ": not a folder");
  fs::path index_path = fs::path(folder) / "model.safetensors.index.json";
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::vector<std::string> shard_names;
  if (fs::exists(index_path, ec)) {
    std::ifstream in(index_path, std::ios::binary);
    if (!in) fail(ErrorKind::kFile, index_path.string() + ": cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > kMaxHeaderBytes) fail(ErrorKind::kResourceLimit, index_path.string() + ": larger than 100 MiB");
    json::Value root = json::parse(text.str(), index_path.string());
    const json::Value* map = root.kind == json::Value::Kind::kObject ? root.find("weight_map") : nullptr;
    if (!map || map->kind != json::Value::Kind::kObject) fail_invalid(index_path.string() + ": no 'weight_map' object");
    for (size_t i = 0; i < map->keys.size(); ++i) {
      const std::string& tensor = map->keys[i];
      const json::Value& shard = map->values[i];
      if (shard.kind != json::Value::Kind::kString) fail_invalid(index_path.string() + ": the shard of tensor " + quoted(tensor) + " is not a string");
      fs::path p(shard.string);
      // A shard is a plain file name beside the index, never a path that leaves the folder.
      if (shard.string.empty() || p.has_parent_path() || p.is_absolute() || shard.string == "." || shard.string == "..")
        fail_invalid(index_path.string() + ": tensor " + quoted(tensor) + " names shard " + quoted(shard.string) + ", which is not a file name in the folder");
      weight_map[tensor] = shard.string;
      if (std::find(shard_names.begin(), shard_names.end(), shard.string) == shard_names.end()) shard_names.push_back(shard.string);
    }
  } else {
    for (const auto& e : fs::directory_iterator(folder, ec))
      if (e.path().extension() == ".safetensors") shard_names.push_back(e.path().filename().string());
    if (ec) fail(ErrorKind::kFile, folder + ": cannot list the folder (" + ec.message() + ")");
  }
  std::sort(shard_names.begin(), shard_names.end());
  if (shard_names.empty()) fail(ErrorKind::kFile, folder + ": no .safetensors file and no model.safetensors.index.json");
  for (const std::string& name : shard_names) {
    std::string path = (fs::path(folder) / name).string();
    if (!fs::exists(path, ec)) fail(ErrorKind::kFile, path + ": shard listed in model.safetensors.index.json is missing");
    c->files_.push_back(File::open(path));
  }
  for (const auto& f : c->files_)
    for (const TensorInfo& t : f->header().tensors) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(t.name);
        // A tensor the index does not list (or lists in another shard) is not part of the model.
        if (it == weight_map.end() || (fs::path(folder) / it->second).string() != f->path()) continue;
      }
      auto [pos, inserted] = c->tensors_.emplace(t.name, Entry{f.get(), &t});
      if (!inserted) fail_invalid(f->path() + ": tensor " + quoted(t.name) + " is also in " + pos->second.file->path());
    }
  for (const auto& [tensor, shard] : weight_map)
    if (!c->tensors_.count(tensor))
      fail_invalid((fs::path(folder) / shard).string() + ": tensor " + quoted(tensor) + ", listed in model.safetensors.index.json, is not in this shard");
  return c;
}

const Checkpoint::Entry* Checkpoint::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace irforge::safetensors
