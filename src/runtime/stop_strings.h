#pragma once
// Stop strings over streamed text. Generated text arrives in pieces (one detokenized token at a
// time) and a stop string may be split across them, so text that could be the start of a stop
// string is held back until the next piece decides it. When a stop string appears, the text before
// it is released and everything from it on is dropped.

#include <string>
#include <string_view>
#include <vector>

namespace quant {

class StopStrings {
 public:
  // Throws quant::Error when one of `stops` is empty. No stop strings: every piece passes through.
  explicit StopStrings(std::vector<std::string> stops);

  struct Step {
    std::string text;      // safe to show now
    bool stopped = false;  // a stop string appeared: generation should end
  };

  // Feeds the next piece. After a stop every further piece is ignored.
  Step push(std::string_view piece);
  // The text still held back, for when generation ends without a stop (EOS, token limit).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  size_t held_back_length() const;

  std::vector<std::string> stops_;
  std::string pending_;  // not yet released: never contains a whole stop string
  bool stopped_ = false;
};

}  // namespace quant
