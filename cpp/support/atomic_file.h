// A file written under a temporary name beside its destination and renamed into place by
// commit(); if commit() is never reached (an error, an interrupt) the temporary is removed, so
// a failed conversion leaves nothing behind and never clobbers an existing output.
//
// Durability: commit() fsyncs the file before the rename and the folder after it, so after a
// crash the destination holds either the old or the new complete file.
//
// Files that belong together (an OpenVINO .xml and its .bin, an .onnx and its external data)
// go through commit_together(): every file is complete and synced before the first rename,
// and if a later rename fails the earlier ones are rolled back (the old file restored from a
// hard link taken before the rename), so a new .bin never ends up beside an old .xml.
#pragma once

#include <initializer_list>
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
  friend void commit_together(std::initializer_list<AtomicFile*> files);
  void sync_and_close();
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Commits the files as one (see above); on failure none of them is changed.
void commit_together(std::initializer_list<AtomicFile*> files);

}  // namespace irforge
