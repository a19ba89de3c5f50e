#include "runtime/stop_strings.h"

#include <algorithm>
#include <utility>

#include "common/error.h"

namespace quant {

StopStrings::StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (size_t i = 0; i < stops_.size(); ++i) {
    if (stops_[i].empty()) fail("stop string {} is empty", i + 1);
  }
}

StopStrings::Step StopStrings::push(std::string_view piece) {
  if (stopped_) return {{}, true};
  pending_ += piece;

  // The earliest stop wins; pending_ held no whole stop before this piece, so any match is new.
  size_t stop_at = std::string::npos;
  for (const std::string& stop : stops_) stop_at = std::min(stop_at, pending_.find(stop));
  if (stop_at != std::string::npos) {
    Step step{pending_.substr(0, stop_at), true};
    pending_.clear();
    stopped_ = true;
    return step;
  }

  const size_t release = pending_.size() - held_back_length();
  Step step{pending_.substr(0, release), false};
  pending_.erase(0, release);
  return step;
}

std::string StopStrings::flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

// The longest end of pending_ that is a proper beginning of some stop string. Held-back text starts
// where a stop string would start, so with UTF-8 text and stops it never splits a character.
size_t StopStrings::held_back_length() const {
  size_t longest = 0;
  for (const std::string& stop : stops_) {
    const size_t max_length = std::min(pending_.size(), stop.size() - 1);
    for (size_t length = max_length; length > longest; --length) {
      if (pending_.compare(pending_.size() - length, length, stop, 0, length) == 0) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

}  // namespace quant
