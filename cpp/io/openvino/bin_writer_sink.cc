#include "io/openvino/bin_writer_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "support/error.h"

namespace irforge::ov {

namespace {
bool direct_io_allowed() {
  const char* v = std::getenv("IRFORGE_DIRECT_IO");
  return !(v && std::strcmp(v, "0") == 0);
}
}  // namespace

size_t BinSink::block_for(uint64_t expected_bytes) {
  size_t block = size_t{4} << 20;
  while (block > (size_t{256} << 10) && block * 128 > expected_bytes) block /= 2;
  return block;
}

BinSink::BinSink(int fd, std::string path, uint64_t expected_bytes)
    : fd_(fd), saved_flags_(::fcntl(fd, F_GETFL)), path_(std::move(path)), block_(block_for(expected_bytes)) {
  for (uint8_t*& b : buf_) {
    b = static_cast<uint8_t*>(std::aligned_alloc(kAlign, block_));
    if (!b) throw std::bad_alloc();
  }
  // Only a regular file at offset 0 is written direct (a pipe or character device stays as is).
  struct stat st;
  if (direct_io_allowed() && saved_flags_ >= 0 && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
    direct_ = ::fcntl(fd_, F_SETFL, saved_flags_ | O_DIRECT) == 0;
  thread_ = std::thread([this] { run(); });
}

BinSink::~BinSink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (saved_flags_ >= 0) ::fcntl(fd_, F_SETFL, saved_flags_);
  for (uint8_t* b : buf_) std::free(b);
}

void BinSink::write(const uint8_t* p, size_t n) {
  while (n > 0) {
    size_t got;
    uint8_t* dst = space(n, &got);
    std::memcpy(dst, p, got);
    commit(got);
    p += got;
    n -= got;
  }
}

uint8_t* BinSink::space(size_t want, size_t* got) {
  if (len_ == block_) submit();
  *got = std::min(want, block_ - len_);
  return buf_[cur_] + len_;
}

void BinSink::commit(size_t n) {
  len_ += n;
  if (len_ == block_) submit();
}

void BinSink::submit() {
  wait_idle();
  if (!mark_saved_ && mark_ >= base_ && mark_ < base_ + block_) {
    uint64_t at = mark_ & ~static_cast<uint64_t>(kAlign - 1);
    std::memcpy(saved_, buf_[cur_] + (at - base_), static_cast<size_t>(mark_ - at));
    mark_saved_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = buf_[cur_];
    job_at_ = base_;
  }
  cv_.notify_all();
  cur_ ^= 1;  // free: its previous job finished before this one was handed over
  base_ += block_;
  len_ = 0;
}

void BinSink::wait_idle() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return job_ == nullptr; });
  if (error_) failed(error_);
}

uint64_t BinSink::mark() {
  mark_ = offset();
  mark_saved_ = false;
  return mark_;
}

void BinSink::rewind() {
  wait_idle();
  if (mark_ >= base_) {
    len_ = static_cast<size_t>(mark_ - base_);
    return;
  }
  // The mark's block is on the file: start again from its aligned start, so the next block
  // written is aligned and rewrites the file from there (finish() cuts what lies beyond).
  uint64_t at = mark_ & ~static_cast<uint64_t>(kAlign - 1);
  len_ = static_cast<size_t>(mark_ - at);
  std::memcpy(buf_[cur_], saved_, len_);
  base_ = at;
}

void BinSink::finish() {
  wait_idle();
  size_t aligned = len_ & ~(kAlign - 1);
  write_at(buf_[cur_], aligned, base_);
  if (direct_ && aligned < len_) {
    // The tail is shorter than a block: O_DIRECT cannot write it, a buffered write can.
    if (::fcntl(fd_, F_SETFL, saved_flags_) != 0) failed(errno);
    direct_ = false;
  }
  write_at(buf_[cur_] + aligned, len_ - aligned, base_ + aligned);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) failed(error_);
  }
  auto end = static_cast<off_t>(offset());
  if (::ftruncate(fd_, end) != 0 || ::lseek(fd_, end, SEEK_SET) < 0) failed(errno);
}

void BinSink::write_at(const uint8_t* p, size_t n, uint64_t at) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && direct_ && ::fcntl(fd_, F_SETFL, saved_flags_) == 0) {
      direct_ = false;  // the file system refuses this direct write: the rest goes buffered
      continue;
    }
    if (w <= 0) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = w < 0 ? errno : EIO;
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
    at += static_cast<uint64_t>(w);
  }
}

void BinSink::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
    if (job_ == nullptr) return;  // stopping with nothing left to write
    const uint8_t* p = job_;
    uint64_t at = job_at_;
    bool skip = error_ != 0 || stop_;  // after an error (or when abandoned) the output is discarded anyway
    lock.unlock();
    if (!skip) write_at(p, block_, at);
    lock.lock();
    job_ = nullptr;
    cv_.notify_all();
  }
}

void BinSink::failed(int err) const { fail(ErrorKind::kFile, "cannot write '" + path_ + "': " + std::strerror(err)); }

}  // namespace irforge::ov
