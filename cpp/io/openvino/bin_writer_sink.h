// Where the .bin writer's bytes go: gathered into aligned blocks (up to 4 MiB; see block_for) that
// a background thread writes with O_DIRECT while the caller converts the next block.
//
// Why: buffered write() of a multi-GB .bin spent ~70% of the conversion in the kernel copying
// into the page cache (perf, 1.1B LLM), and the final fsync then waited for all of it. Direct
// writes go from this buffer to the device: ~0.1 s of system time for 2 GiB instead of ~2 s,
// nothing left dirty for fsync, and other processes' page cache is not evicted. Where the file
// system refuses O_DIRECT (tmpfs on older kernels, some FUSE/network mounts) or the environment
// sets IRFORGE_DIRECT_IO=0, the same blocks are written buffered, still from the background thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace irforge::ov {

class BinSink {
 public:
  // `fd` is an empty file opened for writing; its flags are restored when the sink is destroyed.
  // `expected_bytes` (the .bin's size as far as known) sizes the blocks.
  BinSink(int fd, std::string path, uint64_t expected_bytes);
  ~BinSink();
  BinSink(const BinSink&) = delete;
  BinSink& operator=(const BinSink&) = delete;

  uint64_t offset() const { return base_ + len_; }  // bytes written so far
  void write(const uint8_t* p, size_t n);
  // Room at the end for up to `want` bytes (at least 1): fill *got bytes, then commit(*got).
  // Lets a converter write its output in place instead of into a staging buffer.
  uint8_t* space(size_t want, size_t* got);
  void commit(size_t n);
  // Remembers the current end (the start of a constant) and returns it; rewind() goes back to it.
  uint64_t mark();
  // Drops everything written since mark() (a constant rewritten in another type).
  void rewind();
  // Every byte on the file, which ends exactly at offset(). Errors name the file.
  void finish();

 private:
  static constexpr size_t kAlign = 4096;  // covers every logical block size O_DIRECT asks for
  // 4 MiB blocks for large files; smaller ones (down to 256 KiB) for small files, so that the two
  // buffers stay under ~1.6% of the weights (the PyTorch frontend's memory target is 10% of them).
  static size_t block_for(uint64_t expected_bytes);
  void submit();  // hands the full current buffer to the writer thread
  void wait_idle();  // waits for the writer thread; throws its error, if any
  void write_at(const uint8_t* p, size_t n, uint64_t at);  // on the writer thread or at finish
  void run();
  [[noreturn]] void failed(int err) const;

  int fd_, saved_flags_;
  std::string path_;
  size_t block_;
  bool direct_ = false;
  uint8_t* buf_[2] = {nullptr, nullptr};
  int cur_ = 0;
  uint64_t base_ = 0;  // file offset of buf_[cur_][0]
  size_t len_ = 0;
  // The file is write-only, so what rewind() needs back is kept: the bytes between the aligned
  // start of the mark's block and the mark, copied when that block goes to the file.
  uint64_t mark_ = 0;
  bool mark_saved_ = false;
  uint8_t saved_[kAlign];

  std::mutex mu_;
  std::condition_variable cv_;
  const uint8_t* job_ = nullptr;  // block being written, nullptr when idle
  uint64_t job_at_ = 0;
  int error_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace irforge::ov
