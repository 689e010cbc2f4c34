#include "support/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "support/error.h"

namespace irforge {

namespace {
// Returned for empty files: mmap rejects zero-length mappings, but views of zero bytes are valid.
const uint8_t kEmpty[1] = {0};
}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::kFile, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(ErrorKind::kFile, "cannot stat '" + path + "': " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::kFile, "'" + path + "' is not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  const uint8_t* data = kEmpty;
  if (size > 0) {
    void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(ErrorKind::kFile, "cannot map '" + path + "': " + std::strerror(err));
    }
    data = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
  return std::shared_ptr<MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (size_ > 0) munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::release(const uint8_t* ptr, size_t len) const {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(ptr);
  uintptr_t end = begin + len;
  begin = (begin + page - 1) & ~(page - 1);
  end &= ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void MappedFile::release_around(const uint8_t* ptr, size_t len) const {
  // A read fault maps the whole page-cache folio around it (2 MiB on this project's kernels),
  // not just the 4 KiB page read: dropping only that page left the other 511 resident (BERT-base:
  // ~20 MB after dedupe-weights' fingerprints). Round to the folio; the mapping is read-only, so
  // dropping a neighbour's pages only costs a page-cache hit if it is read again.
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  static const uintptr_t folio = std::max<uintptr_t>(page, uintptr_t{2} << 20);
  uintptr_t lo = reinterpret_cast<uintptr_t>(data_), hi = lo + size_;
  uintptr_t begin = reinterpret_cast<uintptr_t>(ptr) & ~(folio - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(ptr) + len + folio - 1) & ~(folio - 1);
  // Never past the mapping: data_ is page aligned and its last page may run past size_, but
  // what follows is other memory (MADV_DONTNEED would zero a neighbouring heap).
  begin = std::max(begin, lo);
  end = std::min(end, (hi + page - 1) & ~(page - 1));
  if (size_ > 0 && end > begin && begin < hi) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace irforge
