#include "common/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace quant {

namespace {

constexpr int kBarWidth = 30;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::optional<ProgressMode> parse_progress_mode(std::string_view name) {
  if (name == "auto") return ProgressMode::Auto;
  if (name == "always") return ProgressMode::Always;
  if (name == "never") return ProgressMode::Never;
  return std::nullopt;
}

ProgressOutput ProgressOutput::standard_error() {
  return ProgressOutput{stderr, ::isatty(::fileno(stderr)) == 1};
}

ProgressBar::ProgressBar(std::string label, uint64_t total, ProgressMode mode,
                         ProgressOutput output)
    : label_(std::move(label)),
      total_(total),
      stream_(output.stream),
      start_(std::chrono::steady_clock::now()) {
  if (mode == ProgressMode::Never || total == 0) {
    style_ = Style::Silent;
  } else if (output.is_terminal) {
    style_ = Style::Bar;
  } else {
    style_ = mode == ProgressMode::Always ? Style::Lines : Style::Silent;
  }
}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::advance(uint64_t units) {
  const uint64_t now_done = done_.fetch_add(units, std::memory_order_relaxed) + units;
  if (style_ == Style::Silent) return;
  // Workers never wait for the display: whoever holds the lock draws, the others move on.
  std::unique_lock lock(draw_mutex_, std::try_to_lock);
  if (lock.owns_lock() && !finished_) draw(now_done, false);
}

void ProgressBar::finish() {
  std::lock_guard lock(draw_mutex_);
  if (finished_) return;
  finished_ = true;
  if (style_ != Style::Silent) draw(done(), true);
}

void ProgressBar::draw(uint64_t done, bool final) {
  done = std::min(done, total_);
  const double fraction = static_cast<double>(done) / static_cast<double>(total_);
  const double elapsed = seconds_since(start_);
  if (style_ == Style::Lines) {
    const int decile = static_cast<int>(fraction * 10.0);
    if (decile == last_decile_) return;
    last_decile_ = decile;
    fmt::print(stream_, "{}: {:3.0f}% ({:.1f} s)\n", label_, fraction * 100.0, elapsed);
    std::fflush(stream_);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!final && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  const int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kBarWidth - filled), '.');
  std::string eta;
  if (!final && done > 0) eta = fmt::format(", {:.0f} s left", elapsed / fraction - elapsed);
  fmt::print(stream_, "\r{} [{}] {:5.1f}% ({:.1f} s{})\033[K{}", label_, bar, fraction * 100.0,
             elapsed, eta, final ? "\n" : "");
  std::fflush(stream_);
}

}  // namespace quant
