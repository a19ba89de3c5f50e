#pragma once
// Ctrl-C (SIGINT) and SIGTERM for a server, without a signal handler or any global: the constructor
// blocks SIGINT, SIGTERM and SIGPIPE in the calling thread, so every thread started after it
// inherits the mask, and start() runs one thread that takes SIGINT/SIGTERM with sigwait() and calls
// the callback on the first one. A second signal ends the process at once (exit status 128 + the
// signal), for a shutdown that hangs.
//
// SIGPIPE stays blocked: the HTTP library writes to sockets without MSG_NOSIGNAL, and a write to a
// client that went away must fail with EPIPE rather than kill the process.
//
// Create it in the main thread before anything starts threads (the model's backend does).

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace quant::server {

class ShutdownSignals {
 public:
  ShutdownSignals();
  // Stops watching (see stop()) and restores the signal mask.
  ~ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Starts watching; `on_shutdown` runs on the watcher thread at the first SIGINT or SIGTERM. Call
  // once.
  void start(std::function<void()> on_shutdown);
  // Ends the watcher thread; call it before what the callback uses goes away. Idempotent.
  void stop();

 private:
  void watch();

  sigset_t blocked_;
  sigset_t previous_mask_;
  std::function<void()> on_shutdown_;
  std::atomic<bool> closing_{false};
  std::thread thread_;
};

}  // namespace quant::server
