// Broken vocabulary metadata must fail with an error naming the GGUF key (and index where there is
// one); merely odd metadata works and leaves a warning.

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_vocabularies.h"
#include "tokenizer/tokenizer.h"

namespace quant {
namespace {

void expect_error(const VocabularySpec& spec, const std::string& fragment) {
  try {
    Tokenizer::from_spec(spec);
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(VocabularyValidation, ArrayLengthsMustAgree) {
  auto v = test::sentencepiece_vocabulary({"a"});
  v.spec.scores.pop_back();
  expect_error(v.view(), "tokenizer.ggml.scores: 259 entries for 260 tokens");
  v = test::sentencepiece_vocabulary({"a"});
  v.spec.token_types.push_back(1);
  expect_error(v.view(), "tokenizer.ggml.token_type: 261 entries for 260 tokens");
}

TEST(VocabularyValidation, TokensMustBePresentAndDistinct) {
  auto v = test::sentencepiece_vocabulary({"a"});
  v.tokens.clear();
  v.spec.scores.clear();
  v.spec.token_types.clear();
  expect_error(v.view(), "tokenizer.ggml.tokens: missing or empty");
  v = test::sentencepiece_vocabulary({"a", "a"});
  expect_error(v.view(), "tokenizer.ggml.tokens: duplicate token 'a' at ids 259 and 260");
}

TEST(VocabularyValidation, TypesScoresAndByteTokensAreChecked) {
  auto v = test::sentencepiece_vocabulary({"a"});
  v.spec.token_types[5] = 9;
  expect_error(v.view(), "tokenizer.ggml.token_type[5]: token type 9");
  v = test::sentencepiece_vocabulary({"a"});
  v.spec.scores[7] = std::numeric_limits<float>::quiet_NaN();
  expect_error(v.view(), "tokenizer.ggml.scores[7]");
  v = test::sentencepiece_vocabulary({"a"});
  v.spec.token_types[259] = static_cast<int64_t>(TokenType::Byte);
  expect_error(v.view(), "tokenizer.ggml.tokens[259]: byte token 'a' is not of the form <0xNN>");
}

TEST(VocabularyValidation, MergesMustBeWellFormed) {
  auto v = test::byte_level_vocabulary({"ab"}, {{"a", "b"}});
  v.merges.push_back("ab");
  expect_error(v.view(), "tokenizer.ggml.merges[1]: 'ab' is not two tokens separated by a space");
  v = test::byte_level_vocabulary({"ab"}, {{"a", "b"}});
  v.merges.push_back("a ");
  expect_error(v.view(), "tokenizer.ggml.merges[1]");
  v = test::byte_level_vocabulary({"ab"}, {});
  expect_error(v.view(), "tokenizer.ggml.merges: missing or empty");
}

TEST(VocabularyValidation, MergeMayStartWithASpaceToken) {
  // As in llama.cpp the separator is the first space after the first byte, so " " can be a left
  // part.
  auto v = test::byte_level_vocabulary({}, {{"a", "b"}});
  v.merges.push_back("  x");
  EXPECT_NO_THROW(Tokenizer::from_spec(v.view()));
}

TEST(VocabularyValidation, OutOfRangeSpecialIdsFallBackWithAWarning) {
  auto v = test::sentencepiece_vocabulary({"a"});
  v.spec.bos_id = 5000;
  v.spec.padding_id = 0xFFFFFFFF;  // the usual "none": no warning
  v.spec.eot_id = -1;
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.bos_id(), 1);  // SentencePiece default
  EXPECT_EQ(tokenizer.padding_id(), std::nullopt);
  EXPECT_EQ(tokenizer.eot_id(), std::nullopt);
  ASSERT_EQ(tokenizer.warnings().size(), 1u);
  EXPECT_NE(tokenizer.warnings()[0].find("tokenizer.ggml.bos_token_id = 5000"), std::string::npos)
      << tokenizer.warnings()[0];
}

TEST(VocabularyValidation, AddingAMissingTokenIsAnError) {
  auto v = test::byte_level_vocabulary({}, {{"a", "b"}});
  v.spec.add_bos = true;
  expect_error(v.view(), "tokenizer.ggml.add_bos_token is true but there is no BOS token");
  v.spec.add_bos.reset();
  v.spec.add_eos = true;
  v.spec.eos_id = 4294967295;
  expect_error(v.view(), "tokenizer.ggml.add_eos_token is true but there is no EOS token");
}

TEST(VocabularyValidation, EmptyTokenTextGetsAPlaceholder) {
  auto v = test::sentencepiece_vocabulary({"a", ""});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.token_text(260), "[EMPTY_260]");
  ASSERT_EQ(tokenizer.warnings().size(), 1u);
  EXPECT_NE(tokenizer.warnings()[0].find("tokenizer.ggml.tokens[260] is empty"), std::string::npos);
}

}  // namespace
}  // namespace quant
