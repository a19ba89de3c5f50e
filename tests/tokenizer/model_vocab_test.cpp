// The vocabularies of real model files: the shared tiny models (synthetic SentencePiece vocabulary,
// and stories260K's llama2.c one) against the prompt ids llama.cpp recorded, and the default
// SmolLM2 model (byte-level BPE, ChatML special tokens).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace quant {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Tokenizer load(const std::string& path) {
  return Tokenizer::from_gguf(gguf::GgufFile::open(path));
}

// Every reference/logits/<model>.json has the prompt text and the ids llama.cpp fed for it (with
// BOS).
TEST(ModelVocabularies, TinyModelPromptsTokenizeAsInTheReference) {
  QUANT_REQUIRE_SHARED();
  size_t checked = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(test::shared_path("reference/logits"))) {
    const std::filesystem::path json_path = entry.path();
    const std::string model_path =
        test::shared_path("data/models/" + json_path.stem().string() + ".gguf");
    if (json_path.extension() != ".json" || !std::filesystem::exists(model_path)) continue;
    SCOPED_TRACE(json_path.filename().string());
    const auto reference = nlohmann::json::parse(read_file(json_path.string()));
    const std::string prompt = reference.at("prompt_text").get<std::string>();
    const auto expected = reference.at("prompt_tokens").get<std::vector<int32_t>>();

    const Tokenizer tokenizer = load(model_path);
    EXPECT_TRUE(tokenizer.add_bos());
    const std::vector<int32_t> ids =
        tokenizer.encode(prompt, tokenizer.add_bos(), /*parse_special=*/true);
    EXPECT_EQ(ids, expected);
    // SentencePiece puts a space before the first word; decoding keeps it.
    EXPECT_EQ(tokenizer.decode(std::span(ids).subspan(1)), " " + prompt);
    EXPECT_EQ(tokenizer.decode(ids, /*render_special=*/false), " " + prompt);
    ++checked;
  }
  EXPECT_GE(checked, 10u);
}

TEST(ModelVocabularies, Stories260KGreedyTextDecodesAndStreams) {
  QUANT_REQUIRE_SHARED();
  const Tokenizer tokenizer = load(test::shared_path("data/models/stories260K-f32.gguf"));
  // Its separator/padding ids are 4294967295: "none", silently.
  EXPECT_EQ(tokenizer.padding_id(), std::nullopt);
  EXPECT_TRUE(tokenizer.warnings().empty());
  const auto reference =
      nlohmann::json::parse(read_file(test::shared_path("reference/logits/stories260K-f32.json")));
  for (const char* key : {"greedy_from_prompt", "greedy_from_S"}) {
    const auto ids = reference.at(key).at("tokens").get<std::vector<int32_t>>();
    const std::string text = reference.at(key).at("text").get<std::string>();
    EXPECT_EQ(tokenizer.decode(ids), text) << key;
    StreamingDetokenizer stream(tokenizer);
    std::string streamed;
    for (const int32_t id : ids) streamed += stream.push(id);
    streamed += stream.flush();
    EXPECT_EQ(streamed, text) << key;
  }
}

// llama-perplexity tokenizes the whole text with BOS; the reference README lists how many tokens
// that gives (stories260K: 10062, the other tiny models: 14140), and the perplexity JSON how many
// 128-token chunks.
TEST(ModelVocabularies, WholeTextTokenCountsMatchThePerplexityRun) {
  QUANT_REQUIRE_SHARED();
  const std::string text = read_file(test::shared_path("data/text/tinyshakespeare-16k.txt"));
  const auto perplexity = nlohmann::json::parse(
      read_file(test::shared_path("reference/logits/perplexity_tinyshakespeare-16k_c128.json")));
  const struct {
    const char* model;
    size_t tokens;
  } cases[] = {{"stories260K-f32", 10062}, {"tiny-llama-f16", 14140}, {"tiny-qwen3-f16", 14140}};
  for (const auto& c : cases) {
    const Tokenizer tokenizer =
        load(test::shared_path(std::string("data/models/") + c.model + ".gguf"));
    const std::vector<int32_t> ids = tokenizer.encode(text, true, false);
    EXPECT_EQ(ids.size(), c.tokens) << c.model;
    EXPECT_EQ(ids.size() / 128, perplexity.at(c.model).at("n_chunks").get<size_t>()) << c.model;
    EXPECT_EQ(tokenizer.decode(std::span(ids).subspan(1)), " " + text) << c.model;
  }
}

class DefaultModel : public testing::Test {
 protected:
  void SetUp() override {
    QUANT_REQUIRE_DEFAULT_MODEL();
    tokenizer_.emplace(load(test::default_model()));
  }
  std::optional<Tokenizer> tokenizer_;
};

TEST_F(DefaultModel, ChatMlSpecialTokensAreParsed) {
  const Tokenizer& tokenizer = *tokenizer_;
  const int32_t im_start = tokenizer.find_token("<|im_start|>").value();
  const int32_t im_end = tokenizer.find_token("<|im_end|>").value();
  EXPECT_EQ(tokenizer.pre_tokenizer(), "starcoder");  // SmolLM2's "smollm" is an alias
  EXPECT_FALSE(tokenizer.add_bos());
  EXPECT_EQ(tokenizer.eos_id(), im_end);
  EXPECT_TRUE(tokenizer.is_end_of_generation(im_end));
  EXPECT_FALSE(tokenizer.is_end_of_generation(im_start));

  const std::string chat =
      "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
      "<|im_start|>assistant\n";
  const std::vector<int32_t> ids = tokenizer.encode(chat, false, /*parse_special=*/true);
  EXPECT_EQ(ids.front(), im_start);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), im_start), 3);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), im_end), 2);
  EXPECT_EQ(tokenizer.decode(ids), chat);
  // The text after <|im_start|> starts a new word: "system" is one token.
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(tokenizer.piece(ids[1]), "system");

  const std::vector<int32_t> literal = tokenizer.encode(chat, false, /*parse_special=*/false);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), im_start), 0);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), im_end), 0);
  EXPECT_EQ(tokenizer.decode(literal), chat);
}

TEST_F(DefaultModel, DecodeInvertsEncode) {
  const Tokenizer& tokenizer = *tokenizer_;
  const std::vector<std::string> texts = {
      "Hello, world!",
      "  leading and trailing spaces  ",
      "Tabs\tand\nnewlines\r\n\r\nand CRLF",
      "Numbers: 1234567890, 3.14159, -42, 1e-9",
      "Ünïcödé: naïve café, Straße, Ελληνικά, Русский, עברית, العربية, हिन्दी",
      "CJK: 日本語のテキスト、中文文本，한국어 텍스트",
      "Emoji: 🙂👍🏽👨‍👩‍👧‍👦🏳️‍🌈",
      "Code: for (int i = 0; i < n; ++i) { x[i] += y[i] * 2; }  // done",
      "<|im_start|> written in text, and <|endoftext|> too",
      "",
  };
  for (const std::string& text : texts) {
    for (const bool parse_special : {false, true}) {
      const std::vector<int32_t> ids = tokenizer.encode(text, false, parse_special);
      EXPECT_EQ(tokenizer.decode(ids), text) << "parse_special=" << parse_special;
      StreamingDetokenizer stream(tokenizer);
      std::string streamed;
      for (const int32_t id : ids) {
        const std::string out = stream.push(id);
        EXPECT_EQ(utf8::first_invalid_offset(out), std::nullopt) << text;
        streamed += out;
      }
      EXPECT_EQ(streamed + stream.flush(), text);
    }
  }
}

}  // namespace
}  // namespace quant
