#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

namespace quant {
namespace {

std::vector<std::string> split(std::string_view name, std::string_view text) {
  std::vector<std::string> warnings;
  const PreTokenizer pre = PreTokenizer::for_name(name, warnings);
  EXPECT_TRUE(warnings.empty()) << name;
  std::vector<std::string_view> words;
  pre.split(text, words);
  return {words.begin(), words.end()};
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, Gpt2SplitsWordsContractionsAndSpaceRuns) {
  EXPECT_EQ(split("gpt-2", "Hello world's  test!!"),
            (Words{"Hello", " world", "'s", " ", " test", "!!"}));
  EXPECT_EQ(split("gpt-2", "a 123 b"), (Words{"a", " 123", " b"}));
  EXPECT_EQ(split("gpt-2", "end  "), (Words{"end", "  "}));
}

TEST(PreTokenizer, StarCoderSplitsEveryDigitFirst) {
  EXPECT_EQ(split("starcoder", "x=12"), (Words{"x", "=", "1", "2"}));
  EXPECT_EQ(split("smollm", "v 2024"), (Words{"v", " ", "2", "0", "2", "4"}));
}

TEST(PreTokenizer, Llama3GroupsDigitsByThreeAndKeepsNewlineRuns) {
  EXPECT_EQ(split("llama-bpe", "12345"), (Words{"123", "45"}));
  EXPECT_EQ(split("llama-bpe", "I'M here\n\nok"), (Words{"I", "'M", " here", "\n\n", "ok"}));
}

TEST(PreTokenizer, Qwen2SplitsSingleDigitsAndAttachesPunctuationPrefix) {
  EXPECT_EQ(split("qwen2", "abc 123"), (Words{"abc", " ", "1", "2", "3"}));
  EXPECT_EQ(split("qwen2", "(hello)"), (Words{"(hello", ")"}));
}

TEST(PreTokenizer, Qwen35KeepsCombiningMarksWithLetters) {
  // "e" + U+0301 (combining acute): \p{M} joins the word in qwen35, not in qwen2.
  EXPECT_EQ(split("qwen35", "cafe\xCC\x81 x"), (Words{"cafe\xCC\x81", " x"}));
  EXPECT_EQ(split("qwen2", "cafe\xCC\x81 x"), (Words{"cafe", "\xCC\x81", " x"}));
}

TEST(PreTokenizer, NextLineCountsAsWhitespace) {
  // U+0085 is whitespace for llama.cpp (and Unicode), though not for PCRE2's own \s.
  EXPECT_EQ(split("gpt-2",
                  "a\xC2\x85\xC2\x85"
                  "b"),
            (Words{"a", "\xC2\x85", "\xC2\x85", "b"}));
}

TEST(PreTokenizer, WordsAlwaysCoverTheText) {
  const std::string text =
      "Mixed: ÀÉÎ 日本語 🙂👍🏽 tab\there\r\n  1,000,000.50 don't! <tag> ";
  for (const std::string_view name :
       {"default", "gpt-2", "starcoder", "llama3", "qwen2", "qwen35", "falcon", "deepseek-coder",
        "poro-chat", "tekken", "gpt-4o"}) {
    std::string joined;
    for (const std::string& word : split(name, text)) {
      EXPECT_FALSE(word.empty()) << name;
      joined += word;
    }
    EXPECT_EQ(joined, text) << name;
  }
}

TEST(PreTokenizer, UnknownOrMissingNameFallsBackToDefaultWithAWarning) {
  for (const std::string_view name : {std::string_view("no-such-model"), std::string_view()}) {
    std::vector<std::string> warnings;
    const PreTokenizer pre = PreTokenizer::for_name(name, warnings);
    EXPECT_EQ(pre.name(), "default");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("tokenizer.ggml.pre"), std::string::npos) << warnings[0];
  }
}

TEST(PreTokenizer, AliasesShareRules) {
  std::vector<std::string> warnings;
  EXPECT_EQ(PreTokenizer::for_name("llama-bpe", warnings).name(), "llama3");
  EXPECT_TRUE(PreTokenizer::for_name("llama-bpe", warnings).ignore_merges());
  EXPECT_TRUE(PreTokenizer::for_name("llama3", warnings).adds_bos_by_default());
  EXPECT_FALSE(PreTokenizer::for_name("qwen2", warnings).adds_bos_by_default());
  EXPECT_TRUE(warnings.empty());
}

}  // namespace
}  // namespace quant
