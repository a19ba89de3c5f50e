// The progress bar: plain lines when not on a terminal (only when asked), an in-place bar on one,
// and exact counting from many threads.

#include "common/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace quant {
namespace {

// What a ProgressBar wrote to a temporary stream.
class CapturedStream {
 public:
  CapturedStream() : file_(std::tmpfile()) {}
  ~CapturedStream() { std::fclose(file_); }
  ProgressOutput output(bool terminal) const { return {file_, terminal}; }
  std::string text() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string s;
    char buffer[512];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file_)) > 0) s.append(buffer, n);
    return s;
  }

 private:
  std::FILE* file_;
};

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(Progress, PlainLinesEveryTenPercentWhenAlwaysAndNotATerminal) {
  CapturedStream stream;
  {
    ProgressBar bar("work", 100, ProgressMode::Always, stream.output(false));
    for (int i = 0; i < 100; ++i) bar.advance(1);
  }
  const std::string text = stream.text();
  EXPECT_EQ(count(text, "\n"), 11u) << text;  // 0 % .. 100 %
  EXPECT_NE(text.find("work: 100%"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(Progress, SilentWhenAutoOrNeverOffATerminal) {
  CapturedStream stream;
  {
    ProgressBar automatic("a", 10, ProgressMode::Auto, stream.output(false));
    ProgressBar never("b", 10, ProgressMode::Never, stream.output(true));
    automatic.advance(10);
    never.advance(10);
  }
  EXPECT_EQ(stream.text(), "");
}

TEST(Progress, BarRedrawsInPlaceOnATerminalAndEndsTheLine) {
  CapturedStream stream;
  ProgressBar bar("load", 4, ProgressMode::Auto, stream.output(true));
  bar.advance(2);
  bar.advance(2);  // within the redraw interval: drawn only by finish()
  bar.finish();
  bar.finish();  // a second finish draws nothing
  const std::string text = stream.text();
  EXPECT_EQ(text.front(), '\r');
  EXPECT_NE(text.find("100.0%"), std::string::npos) << text;
  EXPECT_EQ(count(text, "\n"), 1u);
  EXPECT_EQ(text.back(), '\n');
}

TEST(Progress, CountsEveryUnitFromManyThreads) {
  CapturedStream stream;
  ProgressBar bar("threads", 8 * 10000, ProgressMode::Always, stream.output(true));
  std::vector<std::jthread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&bar] {
      for (int i = 0; i < 10000; ++i) bar.advance(1);
    });
  }
  threads.clear();
  EXPECT_EQ(bar.done(), bar.total());
}

TEST(Progress, ParsesModeNames) {
  EXPECT_EQ(parse_progress_mode("always"), ProgressMode::Always);
  EXPECT_EQ(parse_progress_mode("never"), ProgressMode::Never);
  EXPECT_EQ(parse_progress_mode("auto"), ProgressMode::Auto);
  EXPECT_EQ(parse_progress_mode("sometimes"), std::nullopt);
}

}  // namespace
}  // namespace quant
