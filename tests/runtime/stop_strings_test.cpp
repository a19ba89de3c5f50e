#include "runtime/stop_strings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"

namespace quant {
namespace {

// Feeds `pieces` one by one; returns everything released (flushed at the end when no stop came) and
// whether a stop string was seen.
std::pair<std::string, bool> stream(StopStrings& stops, const std::vector<std::string>& pieces) {
  std::string shown;
  for (const std::string& piece : pieces) {
    const StopStrings::Step step = stops.push(piece);
    shown += step.text;
    if (step.stopped) return {shown, true};
  }
  return {shown + stops.flush(), false};
}

TEST(StopStrings, WithoutStopsEverythingPassesAtOnce) {
  StopStrings stops({});
  EXPECT_EQ(stops.push("Hello <|im").text, "Hello <|im");
}

TEST(StopStrings, StopInsideOnePiece) {
  StopStrings stops({"<|im_end|>"});
  const StopStrings::Step step = stops.push("Hi there<|im_end|>trailing");
  EXPECT_EQ(step.text, "Hi there");
  EXPECT_TRUE(step.stopped);
  EXPECT_TRUE(stops.stopped());
  EXPECT_EQ(stops.push("more").text, "");
}

TEST(StopStrings, StopSplitAcrossPiecesIsHeldBackThenDropped) {
  StopStrings stops({"<|im_end|>"});
  StopStrings::Step step = stops.push("Hi <|im");
  EXPECT_EQ(step.text, "Hi ");
  EXPECT_FALSE(step.stopped);
  step = stops.push("_e");
  EXPECT_EQ(step.text, "");
  step = stops.push("nd|>x");
  EXPECT_EQ(step.text, "");
  EXPECT_TRUE(step.stopped);
}

TEST(StopStrings, HeldTextIsReleasedWhenItTurnsOutNotToBeAStop) {
  StopStrings stops({"\nUser:"});
  EXPECT_EQ(stops.push("a\nUs").text, "a");
  EXPECT_EQ(stops.push("ually").text, "\nUsually");
}

TEST(StopStrings, EveryByteSplitGivesTheSameResult) {
  const std::string text = "one two <|eot_id|> three";
  for (size_t piece_size = 1; piece_size <= text.size(); ++piece_size) {
    std::vector<std::string> pieces;
    for (size_t at = 0; at < text.size(); at += piece_size)
      pieces.push_back(text.substr(at, piece_size));
    StopStrings stops({"<|eot_id|>", "three"});
    EXPECT_EQ(stream(stops, pieces), std::make_pair(std::string("one two "), true))
        << "pieces of " << piece_size;
  }
}

TEST(StopStrings, EarliestOfSeveralStopsWins) {
  StopStrings stops({"World", "lo"});
  EXPECT_EQ(stops.push("Hello World").text, "Hel");
}

TEST(StopStrings, OverlappingPrefixesAreFoundAfterAFalseStart) {
  // "aab" contains "ab" only from its second byte: the held "a" must not hide the real start.
  StopStrings stops({"ab"});
  EXPECT_EQ(stream(stops, {"xa", "ab", "c"}), std::make_pair(std::string("xa"), true));
}

TEST(StopStrings, FlushReleasesAPartialStopAtTheEnd) {
  StopStrings stops({"</s>"});
  EXPECT_EQ(stream(stops, {"bye", "</"}), std::make_pair(std::string("bye</"), false));
}

TEST(StopStrings, MultiByteCharactersAreNotSplit) {
  StopStrings stops({"\xC3\xA9t\xC3\xA9"});  // "été"
  EXPECT_EQ(stops.push("caf\xC3\xA9").text, "caf");
  EXPECT_EQ(stops.push("!").text, "\xC3\xA9!");
}

TEST(StopStrings, RejectsAnEmptyStop) {
  EXPECT_THROW(StopStrings({"a", ""}), Error);
}

}  // namespace
}  // namespace quant
