#include "server/shutdown_signals.h"

#include <pthread.h>

#include <cassert>
#include <cstdlib>
#include <utility>

namespace quant::server {

ShutdownSignals::ShutdownSignals() {
  sigemptyset(&blocked_);
  sigaddset(&blocked_, SIGINT);
  sigaddset(&blocked_, SIGTERM);
  sigaddset(&blocked_, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &blocked_, &previous_mask_);
}

ShutdownSignals::~ShutdownSignals() {
  stop();
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

void ShutdownSignals::stop() {
  if (!thread_.joinable()) return;
  closing_ = true;
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

void ShutdownSignals::start(std::function<void()> on_shutdown) {
  assert(!thread_.joinable());
  on_shutdown_ = std::move(on_shutdown);
  thread_ = std::thread([this] { watch(); });
}

void ShutdownSignals::watch() {
  sigset_t shutdown_set;
  sigemptyset(&shutdown_set);
  sigaddset(&shutdown_set, SIGINT);
  sigaddset(&shutdown_set, SIGTERM);
  bool shutting_down = false;
  for (;;) {
    int signal_number = 0;
    if (sigwait(&shutdown_set, &signal_number) != 0) continue;
    if (closing_) return;
    if (shutting_down) std::_Exit(128 + signal_number);
    shutting_down = true;
    on_shutdown_();
  }
}

}  // namespace quant::server
