#include <gtest/gtest.h>

#include "common/error.h"
#include "test_vocabularies.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace quant {
namespace {

constexpr int32_t byte_token(uint8_t byte) {
  return 3 + byte;
}  // in test::sentencepiece_vocabulary

class StreamingDetokenizerTest : public testing::Test {
 protected:
  test::OwnedVocabulary vocabulary = test::sentencepiece_vocabulary({"▁a", "b", "▁"});
  Tokenizer tokenizer = Tokenizer::from_spec(vocabulary.view());
};

TEST_F(StreamingDetokenizerTest, HoldsBackACharacterSplitOverTokens) {
  StreamingDetokenizer stream(tokenizer);
  EXPECT_EQ(stream.push(vocabulary.id_of("▁a")), " a");
  // U+1F600 😀 is F0 9F 98 80: nothing comes out until its last byte.
  EXPECT_EQ(stream.push(byte_token(0xF0)), "");
  EXPECT_EQ(stream.push(byte_token(0x9F)), "");
  EXPECT_EQ(stream.push(byte_token(0x98)), "");
  EXPECT_EQ(stream.push(byte_token(0x80)), "\xF0\x9F\x98\x80");
  // é (C3 A9) followed by a normal token in the same push sequence.
  EXPECT_EQ(stream.push(byte_token(0xC3)), "");
  EXPECT_EQ(stream.push(byte_token(0xA9)), "é");
  EXPECT_EQ(stream.push(vocabulary.id_of("b")), "b");
  EXPECT_EQ(stream.flush(), "");
}

TEST_F(StreamingDetokenizerTest, ConcatenatedOutputEqualsDecodeForValidText) {
  const std::string text = "a ba 日本 🙂👍🏽 é";
  const std::vector<int32_t> ids = tokenizer.encode(text, true, false);
  StreamingDetokenizer stream(tokenizer);
  std::string streamed;
  for (const int32_t id : ids) {
    const std::string out = stream.push(id);
    EXPECT_EQ(utf8::first_invalid_offset(out), std::nullopt);
    streamed += out;
  }
  streamed += stream.flush();
  EXPECT_EQ(streamed, tokenizer.decode(ids));
  EXPECT_EQ(streamed, "<s> " + text);
}

TEST_F(StreamingDetokenizerTest, BytesThatCannotFormACharacterBecomeReplacementCharacters) {
  StreamingDetokenizer stream(tokenizer);
  EXPECT_EQ(stream.push(byte_token(0xFF)), utf8::kReplacementCharacter);
  // A lead byte followed by a non-continuation: the lead is replaced, the next character survives.
  EXPECT_EQ(stream.push(byte_token(0xE2)), "");
  EXPECT_EQ(stream.push(byte_token('x')), std::string(utf8::kReplacementCharacter) + "x");
}

TEST_F(StreamingDetokenizerTest, FlushEndsAnIncompleteCharacter) {
  StreamingDetokenizer stream(tokenizer);
  EXPECT_EQ(stream.push(byte_token(0xE2)), "");
  EXPECT_EQ(stream.push(byte_token(0x96)), "");
  EXPECT_EQ(stream.flush(), utf8::kReplacementCharacter);
  // The stream starts afresh.
  EXPECT_EQ(stream.push(vocabulary.id_of("b")), "b");
}

TEST_F(StreamingDetokenizerTest, SpecialTokensCanBeHidden) {
  StreamingDetokenizer shown(tokenizer);
  StreamingDetokenizer hidden(tokenizer, /*render_special=*/false);
  EXPECT_EQ(shown.push(2), "</s>");
  EXPECT_EQ(hidden.push(2), "");
  EXPECT_THROW(hidden.push(tokenizer.n_vocab()), Error);
}

}  // namespace
}  // namespace quant
