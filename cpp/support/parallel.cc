#include "support/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace irforge {
namespace {

std::atomic<int> g_requested_threads{0};
thread_local bool t_inside_chunk = false;

int default_thread_count() {
  if (const char* env = std::getenv("IRFORGE_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 256u));
}

// One parallel_for call: chunks are claimed with an atomic counter by whoever is free.
struct Job {
  const std::function<void(size_t, size_t, size_t)>* fn;
  size_t n, grain, chunks;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::mutex done_mutex;
  std::condition_variable done_cv;

  // Runs chunks until none are left; returns when this thread has nothing more to claim.
  void work() {
    t_inside_chunk = true;
    for (;;) {
      size_t c = next.fetch_add(1);
      if (c >= chunks) break;
      if (!failed.load(std::memory_order_relaxed)) {
        size_t begin = c * grain, end = std::min(n, begin + grain);
        try {
          (*fn)(c, begin, end);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          failed = true;
        }
      }
      if (done.fetch_add(1) + 1 == chunks) {
        std::lock_guard<std::mutex> lock(done_mutex);
        done_cv.notify_all();
      }
    }
    t_inside_chunk = false;
  }
};

class Pool {
 public:
  static Pool& instance() {
    static Pool* pool = new Pool();  // never destroyed: workers may outlive static destructors
    return *pool;
  }

  void run(const std::shared_ptr<Job>& job, int helpers) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      grow(helpers);
      for (int i = 0; i < helpers; ++i) queue_.push_back(job);
    }
    cv_.notify_all();
    job->work();
    std::unique_lock<std::mutex> lock(job->done_mutex);
    job->done_cv.wait(lock, [&] { return job->done.load() == job->chunks; });
  }

 private:
  void grow(int wanted) {
    while (static_cast<int>(workers_.size()) < wanted) {
      workers_.emplace_back([this] { loop(); });
      workers_.back().detach();
    }
  }

  void loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->work();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> workers_;
};

}  // namespace

int thread_count() {
  int n = g_requested_threads.load();
  return n > 0 ? n : default_thread_count();
}

void set_thread_count(int n) { g_requested_threads = n > 0 ? std::min(n, 256) : 0; }

size_t chunk_count(size_t n, size_t grain) {
  grain = std::max<size_t>(grain, 1);
  return (n + grain - 1) / grain;
}

void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t, size_t)>& fn) {
  grain = std::max<size_t>(grain, 1);
  size_t chunks = chunk_count(n, grain);
  if (chunks == 0) return;
  int threads = thread_count();
  if (chunks == 1 || threads <= 1 || t_inside_chunk) {
    for (size_t c = 0; c < chunks; ++c) fn(c, c * grain, std::min(n, c * grain + grain));
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  job->grain = grain;
  job->chunks = chunks;
  int helpers = static_cast<int>(std::min<size_t>(chunks - 1, static_cast<size_t>(threads - 1)));
  Pool::instance().run(job, helpers);
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace irforge
