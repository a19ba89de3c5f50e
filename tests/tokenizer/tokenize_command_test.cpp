// `quant tokenize` end to end: the built binary on shared vocabularies, checked against the
// reference ids.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "tools/tool_test_support.h"

namespace quant {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::string ids_line(const std::vector<int32_t>& ids) {
  return fmt::format("[{}]\n", fmt::join(ids, ", "));
}

TEST(TokenizeCommand, IdsMatchTheQwen3GoldenCases) {
  QUANT_REQUIRE_SHARED();
  const std::string vocab = test::shared_path("data/tokenizers/qwen3/ggml-vocab-qwen3.gguf");
  const auto cases =
      read_json(test::shared_path("data/tokenizers/qwen3/ggml-vocab-qwen3.golden.json"));
  test::ScratchDir scratch;
  // A ChatML conversation (special tokens differ between the modes) and one plain case, passed as
  // files.
  for (const size_t index : {size_t{59}, size_t{12}}) {
    const auto& c = cases.at(index);
    const std::string path = scratch.file("case.txt");
    std::ofstream(path, std::ios::binary) << c.at("text").get<std::string>();
    const auto special = test::run_quant({"tokenize", vocab, "-f", path, "--ids"});
    EXPECT_EQ(special.exit_code, 0);
    EXPECT_EQ(special.output, ids_line(c.at("ids_parse_special").get<std::vector<int32_t>>()))
        << index;
    const auto plain =
        test::run_quant({"tokenize", vocab, "-f", path, "--ids", "--no-parse-special"});
    EXPECT_EQ(plain.exit_code, 0);
    EXPECT_EQ(plain.output, ids_line(c.at("ids_no_parse_special").get<std::vector<int32_t>>()))
        << index;
  }
}

TEST(TokenizeCommand, ListsOneTokenPerLineWithItsPiece) {
  QUANT_REQUIRE_SHARED();
  const auto reference = read_json(test::shared_path("reference/logits/stories260K-f32.json"));
  const std::string prompt = reference.at("prompt_text").get<std::string>();
  const auto expected = reference.at("prompt_tokens").get<std::vector<int32_t>>();
  const auto result = test::run_quant(
      {"tokenize", test::shared_path("data/models/stories260K-f32.gguf"), "--text", prompt});
  ASSERT_EQ(result.exit_code, 0);
  std::istringstream lines(result.output);
  const std::regex layout(R"( *(\d+) -> '(.*)')");
  std::vector<int32_t> ids;
  std::string pieces;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, layout)) << line;
    ids.push_back(std::stoi(m[1]));
    pieces += m[2];
  }
  EXPECT_EQ(ids, expected);  // BOS first: the model's metadata asks for it
  EXPECT_EQ(pieces, "<s> " + prompt);
}

TEST(TokenizeCommand, NoBosAndBadInput) {
  QUANT_REQUIRE_SHARED();
  const std::string model = test::shared_path("data/models/stories260K-f32.gguf");
  const auto with_bos = test::run_quant({"tokenize", model, "--text", "hello", "--ids"});
  const auto without_bos =
      test::run_quant({"tokenize", model, "--text", "hello", "--ids", "--no-bos"});
  ASSERT_EQ(with_bos.exit_code, 0);
  ASSERT_EQ(without_bos.exit_code, 0);
  EXPECT_EQ(with_bos.output.rfind("[1, ", 0), 0u) << with_bos.output;
  EXPECT_EQ("[1, " + without_bos.output.substr(1), with_bos.output);

  test::ScratchDir scratch;
  const std::string bad = scratch.file("bad.txt");
  std::ofstream(bad, std::ios::binary) << "ok\xFF";
  const auto invalid = test::run_quant({"tokenize", model, "-f", bad});
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_EQ(invalid.output, "");
  EXPECT_EQ(test::run_quant({"tokenize", model}).exit_code, 1);  // no text given
}

TEST(TokenizeCommand, HelpDescribesTheOptions) {
  const auto help = test::run_quant({"tokenize", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* option : {"--text", "--file", "--ids", "--no-bos", "--no-parse-special"})
    EXPECT_NE(help.output.find(option), std::string::npos) << option;
}

}  // namespace
}  // namespace quant
