#include "interrupt_watcher.h"

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>

namespace quant::cli {

InterruptWatcher::InterruptWatcher() {
  sigemptyset(&interrupt_set_);
  sigaddset(&interrupt_set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &interrupt_set_, &previous_mask_);
  thread_ = std::thread([this] { watch(); });
}

InterruptWatcher::~InterruptWatcher() {
  stopping_ = true;
  pthread_kill(thread_.native_handle(), SIGINT);
  thread_.join();
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

void InterruptWatcher::begin_answer() {
  interrupted_ = false;
  answering_ = true;
}

void InterruptWatcher::end_answer() {
  answering_ = false;
}

void InterruptWatcher::watch() {
  for (;;) {
    int signal_number = 0;
    if (sigwait(&interrupt_set_, &signal_number) != 0) continue;
    if (stopping_) return;
    if (answering_) {
      interrupted_ = true;
    } else {
      // At the prompt: end as the default action would, with the shell's status for SIGINT.
      static constexpr char kNewline = '\n';
      [[maybe_unused]] const ssize_t written = write(STDOUT_FILENO, &kNewline, 1);
      std::_Exit(128 + SIGINT);
    }
  }
}

}  // namespace quant::cli
