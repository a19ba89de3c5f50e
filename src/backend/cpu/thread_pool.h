#pragma once
// A fixed set of worker threads that run one task at a time on every thread (the caller included)
// and return when all are done. Work is split by the task itself from its thread index (or taken in
// chunks from a shared counter, run_chunks), so dispatching needs no allocation and no queue: the
// decode loop calls run() a few times per layer.
//
// Between tasks the workers spin for a short while before they sleep (on a futex, through
// std::atomic::wait): the next op of a decode step follows within microseconds, and waking a
// sleeping thread costs about as long as a small op.

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace quant::cpu {

class ThreadPool {
 public:
  // n_threads >= 1 threads in all; the caller of run() is thread 0, so n_threads - 1 are started.
  explicit ThreadPool(uint32_t n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  uint32_t size() const { return n_threads_; }

  // Calls task(thread_index) once on each thread, thread_index in [0, size()), and waits for all.
  template <typename Task>
  void run(const Task& task) {
    run_erased(&task,
               [](const void* t, uint32_t thread) { (*static_cast<const Task*>(t))(thread); });
  }

  // Calls work(thread, begin, end) for consecutive chunks [begin, end) covering [0, n), each taken
  // by whichever thread is free first, and waits for all. The chunks shrink as the work runs out
  // (a share of what is left, in multiples of `granule` items, the last one shorter): large ones
  // first, so that each thread reads long runs of memory, and small ones last, so that the
  // threads finish together even when they run at different speeds.
  template <typename Work>
  void run_chunks(uint64_t n, uint64_t granule, const Work& work) {
    std::atomic<uint64_t> next{0};
    const uint64_t share = uint64_t{n_threads_} * kChunksPerShare;
    run([&](uint32_t thread) {
      uint64_t begin = next.load(std::memory_order_relaxed);
      while (begin < n) {
        const uint64_t left = n - begin;
        const uint64_t rounded = (left / share + granule - 1) / granule * granule;
        const uint64_t size = rounded > granule ? rounded : granule;
        const uint64_t end = size < left ? begin + size : n;
        if (next.compare_exchange_weak(begin, end, std::memory_order_relaxed)) {
          work(thread, begin, end);
          begin = next.load(std::memory_order_relaxed);
        }
      }
    });
  }

  // The half-open range [begin, end) of `n` items that thread `thread` of `n_threads` takes.
  struct Range {
    uint64_t begin;
    uint64_t end;
  };
  static Range split(uint64_t n, uint32_t thread, uint32_t n_threads) {
    return {n * thread / n_threads, n * (thread + 1) / n_threads};
  }

 private:
  // A chunk of run_chunks() is the work left divided by this many per thread (rounded up to the
  // granule).
  static constexpr uint64_t kChunksPerShare = 3;

  using Trampoline = void (*)(const void* task, uint32_t thread);
  void run_erased(const void* task, Trampoline trampoline);
  void worker(uint32_t thread);

  uint32_t n_threads_;
  // Written by run() before it bumps generation_ (release), read by the workers after (acquire).
  const void* task_ = nullptr;
  Trampoline trampoline_ = nullptr;
  bool stopping_ = false;
  // On separate cache lines: the workers poll the one while they count down the other.
  alignas(64) std::atomic<uint32_t> generation_{0};  // bumped for every task
  alignas(64) std::atomic<uint32_t> pending_{0};     // workers still running the current task
  std::vector<std::thread> workers_;
};

}  // namespace quant::cpu
