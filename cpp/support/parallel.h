// A small process-wide worker pool for data-parallel loops over independent chunks (fp16
// conversion, weight quantization, folding kernels).
//
// Determinism rule: parallel_for splits [0, n) into chunks whose boundaries depend only on n and
// `grain`, never on the thread count, and every chunk writes only its own slice of the output. So a
// caller whose chunk function is a pure function of its range produces the same bytes with 1 or 64
// threads; reductions must combine per-chunk partial results in chunk order (see parallel_chunks).
#pragma once

#include <cstddef>
#include <functional>

namespace irforge {

// Threads used by parallel_for: set_thread_count(n) (n ≤ 0 restores the default), else the
// IRFORGE_NUM_THREADS environment variable, else the hardware concurrency.
int thread_count();
void set_thread_count(int n);

// Number of chunks parallel_for uses for n items of grain `grain` (≥ 1).
size_t chunk_count(size_t n, size_t grain);

// Calls fn(chunk_index, begin, end) once for every chunk of [0, n), on the pool plus the calling
// thread, and returns when all are done. The first exception thrown by a chunk is rethrown here
// (remaining chunks are skipped). Safe to call from several threads at once; a nested call from
// inside a chunk runs serially on that thread.
void parallel_for(size_t n, size_t grain, const std::function<void(size_t chunk, size_t begin, size_t end)>& fn);

}  // namespace irforge
