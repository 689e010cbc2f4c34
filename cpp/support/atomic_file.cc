#include "support/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "support/error.h"

namespace irforge {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  static std::atomic<unsigned> counter{0};
  tmp_ = path_ + ".irforge-tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(ErrorKind::kFile, "cannot create '" + path_ + "': " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void write_fully(int fd, const void* data, size_t n, const std::string& path) {
  // At most 1 MiB per write(): on this project's VMs one 8 MiB write() into the page cache was
  // 4-8x slower than eight 1 MiB ones (1.6 GB: 8-12 s against 1-2.3 s), as is dd with bs=8M.
  constexpr size_t kMaxWrite = size_t{1} << 20;
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, std::min(n, kMaxWrite));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::kFile, "cannot write '" + path + "': " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::write_all(const void* data, size_t n) { write_fully(fd_, data, n, path_); }

void AtomicFile::close() {
  int fd = fd_;
  fd_ = -1;
  if (fd >= 0 && ::close(fd) != 0) fail(ErrorKind::kFile, "cannot write '" + path_ + "': " + std::strerror(errno));
}

void AtomicFile::commit() {
  close();
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail(ErrorKind::kFile, "cannot rename '" + tmp_ + "' to '" + path_ + "': " + std::strerror(errno));
  committed_ = true;
}

}  // namespace irforge
