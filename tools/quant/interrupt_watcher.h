#pragma once
// Ctrl-C in `quant chat`: during an answer it stops that answer; at the prompt it ends the program.
// SIGINT is blocked in this thread (and so in every thread started after, such as the CPU
// backend's workers) and taken by one watcher thread with sigwait(): no signal handler and no
// global flag. Create the watcher before anything starts threads.

#include <signal.h>

#include <atomic>
#include <thread>

namespace quant::cli {

class InterruptWatcher {
 public:
  InterruptWatcher();
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

  // Between these, Ctrl-C sets interrupted() instead of ending the program.
  void begin_answer();
  void end_answer();
  bool interrupted() const { return interrupted_; }

 private:
  void watch();

  sigset_t interrupt_set_;
  sigset_t previous_mask_;
  std::atomic<bool> answering_{false};
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace quant::cli
