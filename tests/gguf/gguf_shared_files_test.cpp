// The reader on every GGUF of ../shared/data (models and tokenizers), checked against facts stated
// in shared/reference/README.md and the dequantization manifest.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "gguf/exercise_gguf.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace quant::gguf {
namespace {

namespace fs = std::filesystem;

struct KnownFile {
  std::string_view architecture;
  size_t n_tensors;
  size_t n_tokens;
};

// From shared/reference/README.md (architecture, vocabulary) and each model's tensor list there.
const std::map<std::string, KnownFile>& known_files() {
  static const std::map<std::string, KnownFile> files = {
      {"stories260K-f32.gguf", {"llama", 48, 512}},
      {"tiny-llama-f16.gguf", {"llama", 20, 512}},
      {"tiny-llama-Q8_0.gguf", {"llama", 20, 512}},
      {"tiny-llama-Q4_K_M.gguf", {"llama", 20, 512}},
      {"tiny-llama-deep-f16.gguf", {"llama", 74, 512}},
      {"tiny-llama-deep-Q8_0.gguf", {"llama", 74, 512}},
      {"tiny-llama-deep-Q4_K_M.gguf", {"llama", 74, 512}},
      {"tiny-qwen3-f16.gguf", {"qwen3", 24, 640}},
      {"tiny-qwen3-Q8_0.gguf", {"qwen3", 24, 640}},
      {"tiny-qwen3-Q4_K_M.gguf", {"qwen3", 24, 640}},
      {"tiny-qwen35-f16.gguf", {"qwen35", 108, 640}},
      {"tiny-qwen35-Q8_0.gguf", {"qwen35", 108, 640}},
      {"tiny-qwen35-Q4_K_M.gguf", {"qwen35", 108, 640}},
      {"ggml-vocab-gpt-2.gguf", {"gpt2", 0, 50257}},
      {"ggml-vocab-llama-spm.gguf", {"llama", 0, 32000}},
      {"ggml-vocab-phi-3.gguf", {"phi3", 0, 32064}},
      {"ggml-vocab-starcoder.gguf", {"starcoder2", 0, 49152}},
      {"ggml-vocab-qwen3.gguf", {"qwen3", 0, 151936}},
  };
  return files;
}

std::vector<fs::path> shared_gguf_files() {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::recursive_directory_iterator(test::shared_path("data"))) {
    if (entry.is_regular_file() && entry.path().extension() == ".gguf") {
      paths.push_back(entry.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string type_summary(const GgufFile& file) {
  std::map<std::string_view, int> counts;
  for (const TensorInfo& tensor : file.tensors()) {
    ++counts[find_type_traits(static_cast<uint32_t>(tensor.type))->name];
  }
  std::string summary;
  for (const auto& [name, count] : counts) {
    summary += fmt::format("{}{} x{}", summary.empty() ? "" : ", ", name, count);
  }
  return summary;
}

TEST(GgufSharedFiles, EveryFileOpensAndMatchesTheReadme) {
  QUANT_REQUIRE_SHARED();
  size_t known_seen = 0;
  for (const fs::path& path : shared_gguf_files()) {
    SCOPED_TRACE(path.string());
    GgufFile file = GgufFile::open(path.string());
    std::cout << fmt::format("{}: GGUF v{}, {}, {} tensors ({}), {} keys, data at {}\n",
                             path.filename().string(), file.version(), file.architecture(),
                             file.tensors().size(), type_summary(file), file.metadata().size(),
                             file.data_offset());
    EXPECT_NE(test::exercise_all_accessors(file), 0u);
    auto known = known_files().find(path.filename().string());
    if (known == known_files().end()) continue;
    ++known_seen;
    EXPECT_EQ(file.architecture(), known->second.architecture);
    EXPECT_EQ(file.tensors().size(), known->second.n_tensors);
    EXPECT_EQ(file.get_array_strings("tokenizer.ggml.tokens").size(), known->second.n_tokens);
    for (const TensorInfo& tensor : file.tensors()) {
      EXPECT_LE(file.data_offset() + tensor.offset + tensor.n_bytes, file.file_size());
    }
  }
  EXPECT_EQ(known_seen, known_files().size()) << "some files of the README are missing";
}

TEST(GgufSharedFiles, DeepQ4KMHasTheReadmeTypeMix) {
  QUANT_REQUIRE_SHARED();
  GgufFile file = GgufFile::open(test::shared_path("data/models/tiny-llama-deep-Q4_K_M.gguf"));
  EXPECT_EQ(file.file_size(), 3917536u);
  EXPECT_EQ(file.get_u32("llama.block_count"), 8u);
  EXPECT_EQ(file.get_u32("llama.attention.head_count_kv"), 2u);
  EXPECT_FLOAT_EQ(file.get_f32("llama.rope.freq_base"), 130000.0f);
  EXPECT_EQ(file.find_tensor("output.weight"), nullptr);  // tied embeddings
  EXPECT_EQ(file.find_tensor("token_embd.weight")->type, TensorType::Q6_K);
  EXPECT_EQ(file.find_tensor("token_embd.weight")->dims, (std::vector<uint64_t>{256, 512}));
  for (int layer = 0; layer < 8; ++layer) {
    SCOPED_TRACE(layer);
    auto type_of = [&](const std::string& name) {
      const TensorInfo* tensor = file.find_tensor(fmt::format("blk.{}.{}.weight", layer, name));
      EXPECT_NE(tensor, nullptr) << name;
      return tensor == nullptr ? TensorType::F32 : tensor->type;
    };
    bool q6 = layer == 0 || layer == 3 || layer == 6 || layer == 7;
    TensorType mixed = q6 ? TensorType::Q6_K : TensorType::Q4_K;
    EXPECT_EQ(type_of("attn_v"), mixed);
    EXPECT_EQ(type_of("ffn_down"), mixed);
    for (const char* name : {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"}) {
      EXPECT_EQ(type_of(name), TensorType::Q4_K) << name;
    }
    EXPECT_EQ(type_of("attn_norm"), TensorType::F32);
    EXPECT_EQ(type_of("ffn_norm"), TensorType::F32);
  }
}

TEST(GgufSharedFiles, Qwen35KeysHaveTheirStoredValues) {
  QUANT_REQUIRE_SHARED();
  GgufFile file = GgufFile::open(test::shared_path("data/models/tiny-qwen35-f16.gguf"));
  EXPECT_EQ(file.get_array_i64("qwen35.rope.dimension_sections"),
            (std::vector<int64_t>{3, 3, 2, 0}));
  EXPECT_EQ(file.get_array("qwen35.rope.dimension_sections").element_type, ValueType::Int32);
  EXPECT_FLOAT_EQ(file.get_f32("qwen35.attention.layer_norm_rms_epsilon"), 1e-6f);
  EXPECT_EQ(file.get_u32("qwen35.ssm.conv_kernel"), 4u);
  EXPECT_EQ(file.get_u32("qwen35.full_attention_interval"), 4u);
  EXPECT_EQ(file.find_tensor("blk.0.ssm_a")->dims, (std::vector<uint64_t>{8}));
  EXPECT_EQ(file.find_tensor("blk.0.ssm_conv1d.weight")->type, TensorType::F32);
}

// tensor_data_offset_in_file and the raw rows of the manifest match what the reader finds.
TEST(GgufSharedFiles, TensorOffsetsAndBytesMatchTheDequantManifest) {
  QUANT_REQUIRE_SHARED();
  std::ifstream manifest_file(test::shared_path("reference/dequant/tensors_manifest.json"));
  auto manifest = nlohmann::json::parse(manifest_file);
  ASSERT_GE(manifest.size(), 9u);
  std::map<std::string, GgufFile> models;
  for (const auto& item : manifest) {
    std::string source = item["source_model"];
    std::string name = item["tensor"];
    SCOPED_TRACE(source + " " + name);
    if (!models.contains(source)) {
      models.emplace(source, GgufFile::open(test::shared_path("data/models/" + source)));
    }
    const GgufFile& file = models.at(source);
    const TensorInfo* tensor = file.find_tensor(name);
    ASSERT_NE(tensor, nullptr);
    EXPECT_EQ(file.data_offset() + tensor->offset,
              item["tensor_data_offset_in_file"].get<uint64_t>());
    EXPECT_EQ(static_cast<uint32_t>(tensor->type), item["ggml_type_id"].get<uint32_t>());
    EXPECT_EQ(find_type_traits(static_cast<uint32_t>(tensor->type))->name,
              item["ggml_type"].get<std::string>());
    EXPECT_EQ(tensor->dims, item["ne"].get<std::vector<uint64_t>>());
    EXPECT_EQ(tensor->n_bytes / tensor->rows(), item["row_bytes"].get<uint64_t>());

    std::ifstream raw_file(
        test::shared_path("reference/dequant/" + item["raw_file"].get<std::string>()),
        std::ios::binary);
    std::vector<uint8_t> raw{std::istreambuf_iterator<char>(raw_file), {}};
    ASSERT_EQ(raw.size(), item["raw_bytes"].get<size_t>());
    ASSERT_LE(raw.size(), tensor->data.size());
    EXPECT_TRUE(std::equal(raw.begin(), raw.end(), tensor->data.begin()));
  }
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Carrying every key (set_value) and tensor of a file written by llama.cpp's tools over to
// GgufWriter reproduces it byte for byte: same encoding, order, alignment and padding.
TEST(GgufSharedFiles, CopyingThroughTheWriterReproducesTheFile) {
  QUANT_REQUIRE_SHARED();
  fs::path copy = fs::temp_directory_path() / ("quant-gguf-copy-" + std::to_string(::getpid()));
  for (const char* name : {"data/models/tiny-llama-Q4_K_M.gguf",
                           "data/models/tiny-qwen35-Q8_0.gguf", "data/models/stories260K-f32.gguf",
                           "data/tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf"}) {
    SCOPED_TRACE(name);
    std::string original = test::shared_path(name);
    {
      GgufFile file = GgufFile::open(original);
      GgufWriter writer;
      for (const MetadataEntry& entry : file.metadata()) writer.set_value(entry.key, entry.value);
      for (const TensorInfo& tensor : file.tensors()) {
        writer.add_tensor(tensor.name, tensor.type, tensor.dims);
      }
      writer.begin(copy.string());
      for (const TensorInfo& tensor : file.tensors()) writer.write_tensor_data(tensor.data);
      writer.finish();
    }
    EXPECT_TRUE(read_all(copy.string()) == read_all(original));
  }
  fs::remove(copy);
}

TEST(GgufSharedFiles, Qwen3VocabularyReadsFast) {
  QUANT_REQUIRE_SHARED();
  auto start = std::chrono::steady_clock::now();
  GgufFile file = GgufFile::open(test::shared_path("data/tokenizers/qwen3/ggml-vocab-qwen3.gguf"));
  const auto& tokens = file.get_array_strings("tokenizer.ggml.tokens");
  auto elapsed =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  std::cout << fmt::format("qwen3 vocabulary: opened and {} tokens read in {:.1f} ms\n",
                           tokens.size(), elapsed.count());
  ASSERT_EQ(tokens.size(), 151936u);
  EXPECT_EQ(tokens[151645], "<|im_end|>");
  EXPECT_EQ(tokens[151935], "[PAD151935]");
  EXPECT_EQ(file.get_array_strings("tokenizer.ggml.merges").size(), 151387u);
  EXPECT_EQ(file.get_u32("tokenizer.ggml.eos_token_id"), 151645u);
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_FALSE(file.get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_TRUE(file.tensors().empty());
  // Typically a few ms; the bound is loose for shared CI machines and sanitizer builds, and still
  // catches a quadratic or copying parse.
  EXPECT_LT(elapsed.count(), 1000.0);
}

}  // namespace
}  // namespace quant::gguf
