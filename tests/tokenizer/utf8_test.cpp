#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include "tokenizer/byte_unicode.h"

namespace quant {
namespace {

using Status = utf8::Decoded::Status;

TEST(Utf8, DecodesOneToFourByteSequences) {
  const struct {
    std::string_view bytes;
    char32_t code_point;
  } cases[] = {{"A", U'A'}, {"\xC3\xA9", U'é'}, {"\xE2\x96\x81", U'▁'}, {"\xF0\x9F\x98\x80", U'😀'}};
  for (const auto& c : cases) {
    const utf8::Decoded d = utf8::decode(c.bytes);
    EXPECT_EQ(d.status, Status::Complete) << c.bytes;
    EXPECT_EQ(d.code_point, c.code_point) << c.bytes;
    EXPECT_EQ(d.length, c.bytes.size()) << c.bytes;
    std::string again;
    utf8::append(again, c.code_point);
    EXPECT_EQ(again, c.bytes);
  }
}

TEST(Utf8, RejectsOverlongSurrogateAndOutOfRangeForms) {
  for (const std::string_view bad :
       {std::string_view("\xC0\x80"), std::string_view("\xE0\x80\x80"),
        std::string_view("\xED\xA0\x80"), std::string_view("\xF4\x90\x80\x80"),
        std::string_view("\xF5\x80\x80\x80"), std::string_view("\x80"), std::string_view("\xFF")}) {
    EXPECT_EQ(utf8::decode(bad).status, Status::Invalid) << testing::PrintToString(bad);
    EXPECT_EQ(utf8::first_invalid_offset(bad), 0u);
  }
}

TEST(Utf8, TruncatedSequenceIsAValidPrefix) {
  const utf8::Decoded d = utf8::decode("\xF0\x9F\x98");
  EXPECT_EQ(d.status, Status::Truncated);
  EXPECT_EQ(d.length, 3u);
  // A truncated sequence followed by something else is invalid, and only its valid part is skipped.
  const utf8::Decoded broken = utf8::decode(
      "\xF0\x9F"
      "A");
  EXPECT_EQ(broken.status, Status::Invalid);
  EXPECT_EQ(broken.length, 2u);
}

TEST(Utf8, FirstInvalidOffsetPointsAtTheBadByte) {
  EXPECT_EQ(utf8::first_invalid_offset("plain ascii"), std::nullopt);
  EXPECT_EQ(utf8::first_invalid_offset("h\xC3\xA9llo \xF0\x9F\x98\x80"), std::nullopt);
  EXPECT_EQ(utf8::first_invalid_offset("abc\xFFxyz"), 3u);
  EXPECT_EQ(utf8::first_invalid_offset("\xC3\xA9\xC3"), 2u);  // ends in the middle of a character
}

TEST(ByteUnicode, EveryByteRoundTrips) {
  for (int byte = 0; byte < 256; ++byte) {
    const char32_t cp = byte_unicode::code_point_of(static_cast<uint8_t>(byte));
    EXPECT_EQ(byte_unicode::byte_of(cp), byte) << byte;
  }
}

TEST(ByteUnicode, MatchesGpt2Alphabet) {
  EXPECT_EQ(byte_unicode::code_point_of('A'), U'A');
  EXPECT_EQ(byte_unicode::code_point_of(' '), U'Ġ');   // U+0120
  EXPECT_EQ(byte_unicode::code_point_of('\n'), U'Ċ');  // U+010A
  EXPECT_EQ(byte_unicode::code_point_of(0xAD),
            U'\u0143');  // soft hyphen is not printable: last of the 68
  EXPECT_EQ(byte_unicode::byte_of(U'é'), 0xE9);
  EXPECT_EQ(byte_unicode::byte_of(U'\u0300'), std::nullopt);
  EXPECT_EQ(byte_unicode::byte_of(U' '), std::nullopt);  // a space is never in the byte alphabet
}

}  // namespace
}  // namespace quant
