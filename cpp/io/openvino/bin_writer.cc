#include "io/openvino/bin_writer.h"

#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "io/openvino/bin_writer_sink.h"
#include "support/error.h"
#include "support/fp16.h"
#include "support/parallel.h"

namespace irforge::ov {

namespace {

// At most 512 Ki elements per conversion step (1 MiB of f16 into the sink's block), after which
// the step's source pages are handed back.
constexpr size_t kChunkElems = size_t{1} << 19;
constexpr size_t kParallelGrain = size_t{1} << 16;  // elements per pool task

uint64_t sample_hash(const uint8_t* p, size_t n) {
  // Cheap fingerprint (size + bytes at the start, middle and end); equality is confirmed with
  // memcmp, so collisions cost time, never correctness.
  uint64_t h = 1469598103934665603ull ^ n;
  auto mix = [&](size_t off, size_t len) {
    for (size_t i = 0; i < len && off + i < n; ++i) h = (h ^ p[off + i]) * 1099511628211ull;
  };
  mix(0, 64);
  if (n > 128) mix(n / 2, 64);
  if (n > 64) mix(n - 64, 64);
  return h;
}

class BinWriter {
 public:
  BinWriter(int fd, std::string path, const std::function<void(uint64_t, uint64_t)>& progress, uint64_t total)
      : sink_(fd, std::move(path), total), progress_(progress), total_(total) {}

  BinStats stats;

  // Everything on the file; the writer is done.
  void finish() {
    sink_.finish();
    stats.bytes = sink_.offset();
  }

  void graph(OvGraph& g) {
    for (Layer& l : g.layers) {
      if (l.constant) constant(l);
      for (auto& body : l.bodies) graph(*body);
    }
  }

 private:
  struct Written {
    const ConstData* c;
    uint64_t offset, size;
    ElemType stored;
  };

  void constant(Layer& l) {
    ConstData& c = *l.constant;
    ++stats.constants;
    if (const ComputedStorage* comp = c.tensor ? c.tensor->computed() : nullptr) {
      computed(l, *comp);
      return;
    }
    const uint8_t* p = c.data();
    size_t n = c.nbytes();
    auto key = std::make_tuple(static_cast<int>(c.source_type), c.compress_to_f16, n, sample_hash(p, n));
    auto& bucket = seen_[key];
    for (const Written& w : bucket) {
      if (w.c->data() == p || same_bytes(*w.c, c, n)) {
        finish(l, w.offset, w.size, w.stored);
        ++stats.deduplicated;
        release_all(c, p, n);
        return;
      }
    }
    uint64_t offset = sink_.mark();
    ElemType stored = c.source_type;
    if (c.compress_to_f16) {
      stored = write_f16(c, p, n) ? ElemType::kF16 : c.source_type;
      if (stored != ElemType::kF16) {
        // Mostly out of f16 range: store the original values instead.
        sink_.rewind();
        write_view(c, p, n);
        ++stats.kept_f32;
      } else {
        ++stats.compressed;
      }
    } else if (n == 0) {
      // An empty constant still gets one byte, as OpenVINO's own writer does: with size="0"
      // the runtime leaves a null data pointer and shape inference fails on it.
      static const uint8_t kZero = 0;
      write_raw(&kZero, 1);
    } else {
      write_view(c, p, n);
    }
    uint64_t size = sink_.offset() - offset;
    bucket.push_back(Written{&c, offset, size, stored});
    finish(l, offset, size, stored);
    release_all(c, p, n);
  }

  // memcmp in bounded steps, handing both sides' mapped pages back as it goes: comparing two
  // multi-GB weights must not leave them both resident (the first was released when written).
  static bool same_bytes(const ConstData& a, const ConstData& b, size_t n) {
    constexpr size_t kStep = size_t{2} << 20;  // one page-cache folio per side
    const uint8_t* pa = a.data();
    const uint8_t* pb = b.data();
    for (size_t off = 0; off < n; off += kStep) {
      size_t len = std::min(kStep, n - off);
      bool equal = std::memcmp(pa + off, pb + off, len) == 0;
      release(a, pa + off, len);
      release(b, pb + off, len);
      if (!equal) return false;
    }
    return true;
  }

  // Computed bytes (e.g. weights quantized while written) are produced piece by piece; equal
  // constants are recognised by their producer, never by materializing the bytes to compare.
  void computed(Layer& l, const ComputedStorage& comp) {
    ConstData& c = *l.constant;
    size_t begin = c.tensor->storage_offset(), n = c.tensor->nbytes();
    auto& seen = computed_seen_[std::make_pair(&comp, begin)];
    if (seen.second) {
      finish(l, seen.first, computed_sizes_[seen.first].first, computed_sizes_[seen.first].second);
      ++stats.deduplicated;
      return;
    }
    uint64_t offset = sink_.mark();
    ElemType stored = c.source_type;
    // A computed f32 weight (a lazily transposed or scaled kernel) is compressed like any other:
    // converted chunk by chunk as it is produced, kept f32 when mostly out of f16 range.
    if (c.compress_to_f16 && c.source_type == ElemType::kF32 && n % 4 == 0) {
      size_t out_of_range = 0;
      comp.stream(begin, n, [&](const uint8_t* p, size_t len) {
        size_t count = len / 4;
        buffer_.resize(std::max(buffer_.size(), count));
        std::vector<float> f(count);
        std::memcpy(f.data(), p, count * 4);
        out_of_range += convert_f32_to_f16_clamped(f.data(), buffer_.data(), count);
        write_raw(reinterpret_cast<const uint8_t*>(buffer_.data()), count * 2);
        advance(len);
      });
      if (out_of_range * 4 < (n / 4) * 3) {
        stored = ElemType::kF16;
        ++stats.compressed;
      } else {
        sink_.rewind();
        stored = ElemType::kF32;
        ++stats.kept_f32;
      }
    }
    if (stored == c.source_type) {
      comp.stream(begin, n, [this](const uint8_t* p, size_t len) {
        write_raw(p, len);
        advance(len);
      });
    }
    uint64_t size = sink_.offset() - offset;
    seen = {offset, true};
    computed_sizes_[offset] = {size, stored};
    finish(l, offset, size, stored);
  }

  static void finish(Layer& l, uint64_t offset, uint64_t size, ElemType stored) {
    ConstData& c = *l.constant;
    c.offset = offset;
    c.size = size;
    c.stored_type = stored;
    std::vector<std::pair<std::string, std::string>> data;
    for (auto& kv : l.data)
      if (kv.first != "element_type" && kv.first != "offset" && kv.first != "size") data.push_back(kv);
    data.insert(data.begin(), {"element_type", elem_name(stored)});
    data.push_back({"offset", std::to_string(offset)});
    data.push_back({"size", std::to_string(size)});
    l.data = std::move(data);
    l.outputs[0].type = stored;
  }

  // Returns false (data already written as f16) when ≥75% of the values are out of f16 range.
  // The source is f32, or bf16 (widened to f32 in L1-sized pieces: bf16 is f32's upper half).
  // Each piece's f16 is copied from L1 straight into the sink's block, at whatever alignment the
  // .bin offset has (a 1-byte boolean constant before it makes it odd): no staging buffer.
  bool write_f16(const ConstData& c, const uint8_t* p, size_t n) {
    const bool bf16 = c.source_type == ElemType::kBf16;
    const size_t esz = bf16 ? 2 : 4;
    size_t count = n / esz;
    size_t out_of_range = 0;
    const uint8_t* released = p;  // source pages before this went back to the OS
    for (size_t i = 0; i < count;) {
      size_t len = std::min(kChunkElems, count - i), room = 0;
      uint8_t* dst = sink_.space(len * 2, &room);
      const bool in_place = room >= 2;  // else the block ends inside this element: stage it alone
      if (in_place) {
        len = room / 2;
      } else {
        len = 1;
        buffer_.resize(1);
        dst = reinterpret_cast<uint8_t*>(buffer_.data());
      }
      const uint8_t* chunk_src = p + i * esz;
      // Convert the block on the pool; sub-chunk boundaries do not depend on the thread count
      // (and every element's f16 depends only on that element).
      std::vector<size_t> partial(chunk_count(len, kParallelGrain));
      parallel_for(len, kParallelGrain, [&](size_t chunk, size_t b, size_t e) {
        constexpr size_t kPiece = 4096;  // 16 KiB of f32 + 8 KiB of f16: stays in L1
        float wide[kPiece];
        uint16_t half[kPiece];
        size_t bad = 0;
        for (size_t k = b; k < e; k += kPiece) {
          size_t m = std::min(kPiece, e - k);
          const float* src = wide;
          if (bf16) widen_bf16(chunk_src + k * 2, wide, m);
          else if (reinterpret_cast<uintptr_t>(chunk_src) % alignof(float) == 0) src = reinterpret_cast<const float*>(chunk_src) + k;
          else std::memcpy(wide, chunk_src + k * 4, m * 4);  // raw data may sit at any offset
          bad += convert_f32_to_f16_clamped(src, half, m);
          std::memcpy(dst + k * 2, half, m * 2);
        }
        partial[chunk] = bad;
      });
      for (size_t v : partial) out_of_range += v;
      if (in_place) sink_.commit(len * 2);
      else write_raw(dst, len * 2);
      stats.bytes = sink_.offset();
      released = release_upto(c, released, chunk_src + len * esz);
      advance(len * esz);
      i += len;
    }
    return out_of_range * 4 < count * 3;
  }

  // Releases the whole pages of [from, to) and returns where the next release starts: the page
  // `to` falls in, so a page cut by a chunk boundary goes back with the next chunk.
  static const uint8_t* release_upto(const ConstData& c, const uint8_t* from, const uint8_t* to) {
    static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    release(c, from, static_cast<size_t>(to - from));
    auto next = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(to) & ~(page - 1));
    return std::max(from, next);
  }

  // bf16 -> f32 is exact: the bf16 bits become the upper half of the f32. The source may be
  // unaligned. Written with SSE2 (every x86-64 has it): at -O2 the compiler leaves the plain loop
  // scalar, which made the bf16 path slower than converting f32.
  static void widen_bf16(const uint8_t* src, float* dst, size_t n) {
    size_t j = 0;
#ifdef __SSE2__
    const __m128i zero = _mm_setzero_si128();
    for (; j + 8 <= n; j += 8) {
      __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j * 2));
      // Interleaving zeros below each 16-bit value gives value << 16 in each 32-bit lane.
      _mm_storeu_ps(dst + j, _mm_castsi128_ps(_mm_unpacklo_epi16(zero, h)));
      _mm_storeu_ps(dst + j + 4, _mm_castsi128_ps(_mm_unpackhi_epi16(zero, h)));
    }
#endif
    for (; j < n; ++j) {
      uint16_t h;
      std::memcpy(&h, src + j * 2, 2);
      uint32_t bits = static_cast<uint32_t>(h) << 16;
      std::memcpy(dst + j, &bits, 4);
    }
  }

  void write_view(const ConstData& c, const uint8_t* p, size_t n) {
    constexpr size_t kChunk = size_t{2} << 20;  // release a folio at a time
    for (size_t off = 0; off < n; off += kChunk) {
      size_t len = std::min(kChunk, n - off);
      write_raw(p + off, len);
      release(c, p + off, len);
      advance(len);
    }
  }

  // Hands pages of a memory-mapped source back to the OS once written.
  static void release(const ConstData& c, const uint8_t* p, size_t n) {
    if (c.tensor && c.tensor->is_mapped()) c.tensor->storage()->mapping()->release(p, n);
  }
  // Once a constant is done, every page it touched goes back, partial ones included: reading a
  // small constant (or the hash windows of a large one) faults in the whole 2 MiB page-cache
  // folio around it, which release() (whole pages only) never drops. BERT-base's ~200 small
  // biases and norms kept ~150 MB of the model file resident that way until the end of the write.
  static void release_all(const ConstData& c, const uint8_t* p, size_t n) {
    if (c.tensor && c.tensor->is_mapped()) c.tensor->storage()->mapping()->release_around(p, n);
  }

  void advance(uint64_t n) {
    done_ += n;
    if (progress_ && (done_ - reported_ >= (uint64_t{64} << 20))) {
      reported_ = done_;
      progress_(done_, total_);
    }
  }

  void write_raw(const uint8_t* p, size_t n) {
    sink_.write(p, n);
    stats.bytes = sink_.offset();
  }

  BinSink sink_;
  const std::function<void(uint64_t, uint64_t)>& progress_;
  uint64_t total_;
  uint64_t done_ = 0, reported_ = 0;
  std::vector<uint16_t> buffer_;
  std::map<std::tuple<int, bool, size_t, uint64_t>, std::vector<Written>> seen_;
  std::map<std::pair<const ComputedStorage*, size_t>, std::pair<uint64_t, bool>> computed_seen_;
  std::map<uint64_t, std::pair<uint64_t, ElemType>> computed_sizes_;  // offset -> (size, stored type) of a computed constant
};

uint64_t total_bytes(const OvGraph& g) {
  uint64_t n = 0;
  for (const Layer& l : g.layers) {
    if (l.constant) n += l.constant->nbytes();
    for (const auto& b : l.bodies) n += total_bytes(*b);
  }
  return n;
}

}  // namespace

BinStats write_bin(OvGraph& graph, int fd, const std::string& path, const std::function<void(uint64_t, uint64_t)>& progress) {
  BinWriter w(fd, path, progress, total_bytes(graph));
  w.graph(graph);
  w.finish();
  return w.stats;
}

}  // namespace irforge::ov
