// `quant info` on every shared GGUF (models and vocab-only files) and on the default model: text
// and JSON both succeed, and the JSON agrees with what the reader sees.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "gguf/gguf_file.h"
#include "tools/tool_test_support.h"

namespace quant {
namespace {

std::vector<std::string> shared_gguf_files() {
  std::vector<std::string> files;
  for (const char* folder : {"data/models", "data/tokenizers"}) {
    const auto root = std::filesystem::path(test::shared_path(folder));
    if (!std::filesystem::is_directory(root)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (entry.path().extension() == ".gguf") files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void expect_info_agrees(const std::string& path) {
  SCOPED_TRACE(path);
  const auto text = test::run_quant({"info", path});
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("parameters:"), std::string::npos);

  const auto run = test::run_quant({"info", path, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto json = nlohmann::json::parse(run.output);
  const auto file = gguf::GgufFile::open(path);
  EXPECT_EQ(json["file_size"].get<uint64_t>(), file.file_size());
  EXPECT_EQ(json["tensor_count"].get<size_t>(), file.tensors().size());
  ASSERT_EQ(json["tensors"].size(), file.tensors().size());
  uint64_t parameters = 0;
  uint64_t histogram_tensors = 0;
  for (const auto& t : file.tensors()) parameters += t.n_elements;
  for (const auto& [type, row] : json["type_histogram"].items())
    histogram_tensors += row["tensors"].get<uint64_t>();
  EXPECT_EQ(json["parameters"].get<uint64_t>(), parameters);
  EXPECT_EQ(histogram_tensors, file.tensors().size());
  if (file.has("general.architecture")) {
    EXPECT_EQ(json["architecture"], std::string(file.architecture()));
  }
  if (file.has("tokenizer.ggml.tokens")) {
    EXPECT_EQ(json["tokenizer"]["vocab_size"].get<uint64_t>(),
              file.get_array("tokenizer.ggml.tokens").count);
    EXPECT_EQ(json["tokenizer"]["chat_template"].get<bool>(), file.has("tokenizer.chat_template"));
  }
  if (parameters > 0) {
    EXPECT_GT(json["bits_per_weight"].get<double>(), 1.0);
  } else {
    EXPECT_TRUE(json["bits_per_weight"].is_null());
  }
}

TEST(Info, EverySharedGgufFile) {
  QUANT_REQUIRE_SHARED();
  const auto files = shared_gguf_files();
  EXPECT_GE(files.size(), 18u);  // 13 models and 5 vocab-only files
  for (const auto& path : files) expect_info_agrees(path);
}

TEST(Info, DefaultModel) {
  QUANT_REQUIRE_DEFAULT_MODEL();
  expect_info_agrees(test::default_model());
  const auto json =
      nlohmann::json::parse(test::run_quant({"info", test::default_model(), "--json"}).output);
  EXPECT_EQ(json["architecture"], "llama");
  EXPECT_EQ(json["tokenizer"]["pre"], "smollm");
  EXPECT_EQ(json["general"]["file_type_name"], "Q4_1");
  EXPECT_EQ(json["hyperparameters"]["block_count"], 30);
}

TEST(Info, MissingFileFails) {
  EXPECT_NE(test::run_quant({"info", "/nonexistent/model.gguf"}).exit_code, 0);
}

}  // namespace
}  // namespace quant
