#pragma once
// A progress bar on stderr for long jobs (quantizing, generating models). Worker threads report
// work with advance(); drawing is throttled and serialized. On a terminal the bar is redrawn in
// place; elsewhere (a pipe, a log file) it prints a plain line every 10 % when asked to always show
// progress, and nothing otherwise, so logs stay readable.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace quant {

enum class ProgressMode {
  Auto,    // a bar when the stream is a terminal, nothing otherwise
  Always,  // a bar on a terminal, plain percentage lines otherwise
  Never,
};

// "auto", "always" or "never" (as the commands' --progress option takes it).
std::optional<ProgressMode> parse_progress_mode(std::string_view name);

struct ProgressOutput {
  std::FILE* stream = stderr;
  bool is_terminal = false;
  // stderr, and whether it is a terminal.
  static ProgressOutput standard_error();
};

class ProgressBar {
 public:
  // `total` units of work (any unit: elements, bytes, tensors); 0 is allowed and shows nothing.
  ProgressBar(std::string label, uint64_t total, ProgressMode mode,
              ProgressOutput output = ProgressOutput::standard_error());
  ~ProgressBar();  // finishes the bar if finish() was not called
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Adds `units` of completed work. Safe to call from several threads at once.
  void advance(uint64_t units);
  // Draws the final state (100 % when all work was reported) and ends the line.
  void finish();

  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  uint64_t total() const { return total_; }

 private:
  enum class Style { Bar, Lines, Silent };
  void draw(uint64_t done, bool final);

  std::string label_;
  uint64_t total_;
  Style style_;
  std::FILE* stream_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> done_{0};
  std::mutex draw_mutex_;
  std::chrono::steady_clock::time_point last_draw_{};
  int last_decile_ = -1;  // Lines style: the last 10 % step printed
  bool finished_ = false;
};

}  // namespace quant
