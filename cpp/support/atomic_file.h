// A file written under a temporary name beside its destination and renamed into place by
// commit(); if commit() is never reached (an error, an interrupt) the temporary is removed, so
// a failed conversion leaves nothing behind and never clobbers an existing output.
#pragma once

#include <string>

namespace irforge {

// Writes all n bytes to fd (retrying short writes and EINTR); Error(kFile) naming `path` otherwise.
void write_fully(int fd, const void* data, size_t n, const std::string& path);

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  void write_all(const void* data, size_t n);
  void commit();

 private:
  void close();
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace irforge
