// The golden tokenizations of llama.cpp's vocab files and of the Qwen3 vocabulary: every case must
// give exactly the reference ids (encoded without BOS, as llama.cpp's test-tokenizer-0 and
// llama-tokenize
// --no-bos made them).
//
// The Qwen3 cases are read from ggml-vocab-qwen3.golden.json, which holds each text with the ids of
// both modes. (Its .inp file has case 55 written with CRLF line ends while the reference ids, and
// the JSON text, have LF only.)

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace quant {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The .inp layout: every case is followed by the separator.
std::vector<std::string> read_cases(const std::string& path) {
  const std::string text = read_file(path);
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t at = 0;
  for (size_t end = text.find(separator); end != std::string::npos;
       end = text.find(separator, at)) {
    cases.push_back(text.substr(at, end - at));
    at = end + separator.size();
  }
  EXPECT_EQ(at, text.size()) << path << ": text after the last separator";
  return cases;
}

// The .out layout: one line per case, each id preceded by a space.
std::vector<std::vector<int32_t>> read_expected_ids(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<std::vector<int32_t>> result;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ids(line);
    result.emplace_back();
    for (int32_t id; ids >> id;) result.back().push_back(id);
  }
  return result;
}

std::string format_ids(const std::vector<int32_t>& ids) {
  std::string text;
  for (const int32_t id : ids) {
    text += ' ';
    text += std::to_string(id);
  }
  return text;
}

struct GoldenSuite {
  const char* name;
  const char* vocab;     // relative to shared/
  const char* expected;  // relative to shared/
  bool parse_special;
};

class GoldenTokenization : public testing::TestWithParam<GoldenSuite> {};

TEST_P(GoldenTokenization, EveryCaseMatchesLlamaCpp) {
  QUANT_REQUIRE_SHARED();
  const GoldenSuite& suite = GetParam();
  const std::string vocab_path = test::shared_path(suite.vocab);
  const auto file = gguf::GgufFile::open(vocab_path);
  const auto started = std::chrono::steady_clock::now();
  const Tokenizer tokenizer = Tokenizer::from_gguf(file);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();

  const std::vector<std::string> cases = read_cases(vocab_path + ".inp");
  const std::vector<std::vector<int32_t>> expected =
      read_expected_ids(test::shared_path(suite.expected));
  ASSERT_EQ(cases.size(), expected.size());
  ASSERT_FALSE(cases.empty());
  size_t matching = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<int32_t> ids =
        tokenizer.encode(cases[i], /*add_bos=*/false, suite.parse_special);
    EXPECT_EQ(ids, expected[i]) << "case " << i << ": '" << cases[i]
                                << "'\n  expected:" << format_ids(expected[i])
                                << "\n  got:     " << format_ids(ids);
    if (ids == expected[i]) ++matching;
  }
  std::printf("%s: %zu/%zu cases identical (tokenizer built in %.1f ms)\n", suite.expected,
              matching, cases.size(), load_ms);
}

std::string suite_name(const testing::TestParamInfo<GoldenSuite>& suite) {
  return suite.param.name;
}

INSTANTIATE_TEST_SUITE_P(
    Vocabularies, GoldenTokenization,
    testing::Values(
        GoldenSuite{"Gpt2", "data/tokenizers/llama.cpp-vocab/ggml-vocab-gpt-2.gguf",
                    "data/tokenizers/llama.cpp-vocab/ggml-vocab-gpt-2.gguf.out", false},
        GoldenSuite{"StarCoder", "data/tokenizers/llama.cpp-vocab/ggml-vocab-starcoder.gguf",
                    "data/tokenizers/llama.cpp-vocab/ggml-vocab-starcoder.gguf.out", false},
        GoldenSuite{"LlamaSpm", "data/tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf",
                    "data/tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf.out", false},
        GoldenSuite{"Phi3", "data/tokenizers/llama.cpp-vocab/ggml-vocab-phi-3.gguf",
                    "data/tokenizers/llama.cpp-vocab/ggml-vocab-phi-3.gguf.out", false}),
    suite_name);

TEST(GoldenTokenization, Qwen3BothModes) {
  QUANT_REQUIRE_SHARED();
  const std::string directory = test::shared_path("data/tokenizers/qwen3/");
  const auto file = gguf::GgufFile::open(directory + "ggml-vocab-qwen3.gguf");
  const auto started = std::chrono::steady_clock::now();
  const Tokenizer tokenizer = Tokenizer::from_gguf(file);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();

  const auto cases = nlohmann::json::parse(read_file(directory + "ggml-vocab-qwen3.golden.json"));
  ASSERT_TRUE(cases.is_array());
  ASSERT_FALSE(cases.empty());
  size_t matching = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const auto plain = c.at("ids_no_parse_special").get<std::vector<int32_t>>();
    const auto special = c.at("ids_parse_special").get<std::vector<int32_t>>();
    const std::vector<int32_t> got_plain =
        tokenizer.encode(text, /*add_bos=*/false, /*parse_special=*/false);
    const std::vector<int32_t> got_special =
        tokenizer.encode(text, /*add_bos=*/false, /*parse_special=*/true);
    EXPECT_EQ(got_plain, plain) << "case " << c.at("index") << " (no special parsing): '" << text
                                << "'\n  expected:" << format_ids(plain)
                                << "\n  got:     " << format_ids(got_plain);
    EXPECT_EQ(got_special, special)
        << "case " << c.at("index") << " (special parsing): '" << text
        << "'\n  expected:" << format_ids(special) << "\n  got:     " << format_ids(got_special);
    matching += (got_plain == plain) + (got_special == special);
  }
  std::printf("qwen3 golden.json: %zu/%zu encodings identical (tokenizer built in %.1f ms)\n",
              matching, 2 * cases.size(), load_ms);
}

}  // namespace
}  // namespace quant
