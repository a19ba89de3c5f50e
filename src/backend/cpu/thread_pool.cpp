#include "backend/cpu/thread_pool.h"

#include <cassert>
#include <chrono>
#include <thread>

namespace quant::cpu {
namespace {

// How long a waiting thread spins before it sleeps: longer than the gaps between the ops of a
// decode step (single-threaded ops such as RoPE or a norm), shorter than the gap between tokens
// that sampling and output make.
constexpr std::chrono::microseconds kSpinTime{200};
// After this much of the spin a waiting thread also yields now and then: what it waits for may
// be a thread of the pool that the system has taken off its core for another process.
constexpr std::chrono::microseconds kYieldAfter{10};

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Returns once `value` no longer holds `old`: spins first, then sleeps until notified.
void wait_for_change(const std::atomic<uint32_t>& value, uint32_t old) {
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t i = 1;; ++i) {
    if (value.load(std::memory_order_acquire) != old) return;
    cpu_relax();
    if (i % 64 != 0) continue;
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited > kSpinTime) break;
    if (waited > kYieldAfter) std::this_thread::yield();
  }
  while (value.load(std::memory_order_acquire) == old) value.wait(old, std::memory_order_acquire);
}

}  // namespace

ThreadPool::ThreadPool(uint32_t n_threads) : n_threads_(n_threads) {
  assert(n_threads >= 1);
  workers_.reserve(n_threads - 1);
  for (uint32_t t = 1; t < n_threads; ++t) workers_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  stopping_ = true;
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::run_erased(const void* task, Trampoline trampoline) {
  if (workers_.empty()) {
    trampoline(task, 0);
    return;
  }
  task_ = task;
  trampoline_ = trampoline;
  pending_.store(static_cast<uint32_t>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  trampoline(task, 0);
  for (uint32_t left = pending_.load(std::memory_order_acquire); left != 0;
       left = pending_.load(std::memory_order_acquire))
    wait_for_change(pending_, left);
}

void ThreadPool::worker(uint32_t thread) {
  uint32_t seen = 0;
  for (;;) {
    wait_for_change(generation_, seen);
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_) return;
    trampoline_(task_, thread);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

}  // namespace quant::cpu
