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

  // Calls work(thread, begin, end) for consecutive chunks [begin, end) of `chunk` items (the last
  // one shorter) covering [0, n), each chunk taken by whichever thread is free first, and waits for
  // all. Balances threads that run at different speeds (a loaded machine, unequal cores).
  template <typename Work>
  void run_chunks(uint64_t n, uint64_t chunk, const Work& work) {
    std::atomic<uint64_t> next{0};
    run([&](uint32_t thread) {
      for (uint64_t begin = next.fetch_add(chunk, std::memory_order_relaxed); begin < n;
           begin = next.fetch_add(chunk, std::memory_order_relaxed))
        work(thread, begin, begin + chunk < n ? begin + chunk : n);
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
