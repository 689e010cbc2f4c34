// A read-only memory mapping of a whole file. Tensors view into it instead of copying, so
// reading a multi-GB model costs address space, not RAM. Pages that a streaming writer has
// consumed can be handed back with release(), which keeps peak RSS bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace irforge {

class MappedFile {
 public:
  // Throws Error(kFile) naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Drops resident pages fully inside [ptr, ptr+len); later reads fault them in again from disk.
  void release(const uint8_t* ptr, size_t len) const;
  // Drops every resident page of the 2 MiB-aligned blocks that [ptr, ptr+len) touches. Safe
  // because the mapping is read-only (no private copies to lose); used after reading small
  // tensors, since one read fault maps a whole page-cache folio (2 MiB on this project's kernels).
  void release_around(const uint8_t* ptr, size_t len) const;

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace irforge
