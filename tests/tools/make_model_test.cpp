// `quant make-model`: deterministic bytes, the shared tiny models' names, shapes, types and
// metadata keys, a consistent synthetic vocabulary, and weights drawn as specified.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <unordered_set>

#include "common/error.h"
#include "common/shared_data.h"
#include "gguf/gguf_file.h"
#include "modelgen/deterministic_random.h"
#include "modelgen/model_preset.h"
#include "modelgen/synthetic_vocab.h"
#include "modelgen/tensor_recipes.h"
#include "tools/tool_test_support.h"

namespace quant {
namespace {

std::set<std::string> non_tokenizer_keys(const gguf::GgufFile& file) {
  std::set<std::string> keys;
  for (const auto& entry : file.metadata()) {
    if (!entry.key.starts_with("tokenizer.")) keys.emplace(entry.key);
  }
  return keys;
}

// A scalar metadata value as text, arrays as their integer elements.
std::string value_text(const gguf::GgufFile& file, const std::string& key) {
  const gguf::Value& v = *file.find(key);
  if (v.type == gguf::ValueType::Array)
    return fmt::format("{}", fmt::join(file.get_array_i64(key), ","));
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, gguf::ArrayValue>) {
          return "";
        } else {
          return fmt::format("{}", x);
        }
      },
      v.data);
}

std::string make_model(const test::ScratchDir& dir, const std::string& preset,
                       const std::string& type, const std::string& name,
                       const std::vector<std::string>& extra = {}) {
  const std::string path = dir.file(name);
  std::vector<std::string> args = {"make-model", "--preset", preset, "--type", type, path};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto run = test::run_quant(args);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  return path;
}

class TinyPreset : public ::testing::TestWithParam<const char*> {};

TEST_P(TinyPreset, SameBytesForTheSameArgumentsWhateverTheThreads) {
  const test::ScratchDir dir;
  const std::string preset = GetParam();
  const auto a = test::read_file_bytes(make_model(dir, preset, "Q4_K_M", "a.gguf", {"-t", "1"}));
  const auto b = test::read_file_bytes(make_model(dir, preset, "Q4_K_M", "b.gguf", {"-t", "3"}));
  const auto c =
      test::read_file_bytes(make_model(dir, preset, "Q4_K_M", "c.gguf", {"--seed", "7"}));
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b);
  EXPECT_EQ(a.size(), c.size());
  EXPECT_FALSE(a == c);
}

TEST_P(TinyPreset, MatchesTheSharedTinyModel) {
  QUANT_REQUIRE_SHARED();
  const test::ScratchDir dir;
  const std::string preset = GetParam();
  for (const auto& [type, suffix] :
       {std::pair{"F16", "f16"}, {"Q8_0", "Q8_0"}, {"Q4_K_M", "Q4_K_M"}}) {
    const auto ours =
        gguf::GgufFile::open(make_model(dir, preset, type, fmt::format("{}.gguf", suffix)));
    const auto shared = gguf::GgufFile::open(
        test::shared_path(fmt::format("data/models/{}-{}.gguf", preset, suffix)));
    EXPECT_EQ(non_tokenizer_keys(ours), non_tokenizer_keys(shared)) << type;
    for (const auto& key : non_tokenizer_keys(shared)) {
      if (key == "general.name" || key == "general.description") continue;
      ASSERT_TRUE(ours.has(key)) << key;
      EXPECT_EQ(ours.find(key)->type, shared.find(key)->type) << key;
      EXPECT_EQ(value_text(ours, key), value_text(shared, key)) << key;
    }
    ASSERT_EQ(ours.tensors().size(), shared.tensors().size()) << type;
    for (const auto& t : shared.tensors()) {
      const gguf::TensorInfo* mine = ours.find_tensor(t.name);
      ASSERT_NE(mine, nullptr) << t.name;
      EXPECT_EQ(mine->dims, t.dims) << t.name;
      EXPECT_EQ(mine->type, t.type) << type << " " << t.name;
    }
  }
}

TEST_P(TinyPreset, VocabularyIsConsistentAndChatML) {
  const test::ScratchDir dir;
  const auto file = gguf::GgufFile::open(make_model(dir, GetParam(), "F16", "m.gguf"));
  const auto& tokens = file.get_array_strings("tokenizer.ggml.tokens");
  const auto& merges = file.get_array_strings("tokenizer.ggml.merges");
  const auto types = file.get_array_i64("tokenizer.ggml.token_type");
  const auto arch = std::string(file.architecture());
  EXPECT_EQ(tokens.size(), file.get_u32(arch + ".vocab_size"));
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  ASSERT_EQ(types.size(), tokens.size());
  std::unordered_set<std::string_view> known(tokens.begin(), tokens.end());
  EXPECT_EQ(known.size(), tokens.size()) << "duplicate tokens";
  EXPECT_EQ(merges.size(), tokens.size() - 256 - 3);
  for (const auto& merge : merges) {
    const size_t space = merge.find(' ');
    ASSERT_NE(space, std::string_view::npos) << merge;
    const auto left = merge.substr(0, space);
    const auto right = merge.substr(space + 1);
    EXPECT_TRUE(known.contains(left) && known.contains(right)) << merge;
    EXPECT_TRUE(known.contains(std::string(left) + std::string(right))) << merge;
  }
  const size_t n = tokens.size();
  EXPECT_EQ(tokens[n - 3], "<|endoftext|>");
  EXPECT_EQ(tokens[n - 2], "<|im_start|>");
  EXPECT_EQ(tokens[n - 1], "<|im_end|>");
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(types[i], i + 3 >= n ? 3 : 1) << i;
  EXPECT_EQ(file.get_u32("tokenizer.ggml.eos_token_id"), n - 1);
  EXPECT_LT(file.get_u32("tokenizer.ggml.bos_token_id"), n);
  EXPECT_NE(file.get_string("tokenizer.chat_template").find("<|im_start|>"),
            std::string_view::npos);
}

INSTANTIATE_TEST_SUITE_P(Tiny, TinyPreset,
                         ::testing::Values("tiny-llama", "tiny-llama-deep", "tiny-qwen3",
                                           "tiny-qwen35"));

TEST(MakeModel, WeightsFollowTheirDistributions) {
  const test::ScratchDir dir;
  const auto file = gguf::GgufFile::open(make_model(dir, "tiny-qwen35", "F32", "m.gguf"));
  auto values = [&](const char* name) {
    const gguf::TensorInfo* t = file.find_tensor(name);
    EXPECT_NE(t, nullptr) << name;
    const auto* f = reinterpret_cast<const float*>(t->data.data());
    return std::vector<float>(f, f + t->n_elements);
  };
  auto mean_and_std = [](const std::vector<float>& v) {
    double sum = 0, sum_sq = 0;
    for (float x : v) sum += x, sum_sq += double{x} * x;
    const double mean = sum / static_cast<double>(v.size());
    return std::pair{mean, std::sqrt(sum_sq / static_cast<double>(v.size()) - mean * mean)};
  };
  const auto [mean, std_dev] = mean_and_std(values("token_embd.weight"));
  EXPECT_NEAR(mean, 0.0, 1e-3);
  EXPECT_NEAR(std_dev, 0.02, 5e-4);
  EXPECT_NEAR(mean_and_std(values("blk.0.ssm_conv1d.weight")).second, 0.3, 0.02);
  for (float x : values("output_norm.weight")) EXPECT_EQ(x, 1.0f);
  for (float x : values("blk.0.ssm_a"))
    EXPECT_TRUE(x <= -std::exp(-1.0f) && x >= -std::exp(1.0f)) << x;
  for (float x : values("blk.0.ssm_dt.bias")) EXPECT_TRUE(x >= -1.0f && x < 0.0f) << x;
}

TEST(MakeModel, UnknownPresetFails) {
  const test::ScratchDir dir;
  const auto run = test::run_quant({"make-model", "--preset", "no-such-model", dir.file("m.gguf")});
  EXPECT_NE(run.exit_code, 0);
}

TEST(DeterministicRandom, NormalHasUnitVarianceAndExpIsAccurate) {
  modelgen::SplitMix64 random(42);
  double sum = 0, sum_sq = 0;
  constexpr int kSamples = 200000;
  for (int i = 0; i < kSamples; ++i) {
    const double z = modelgen::approximate_normal(random.next());
    sum += z;
    sum_sq += z * z;
  }
  EXPECT_NEAR(sum / kSamples, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / kSamples, 1.0, 0.02);
  for (double x = -1.0; x <= 1.0; x += 0.125)
    EXPECT_NEAR(modelgen::exp_small(x), std::exp(x), 1e-15 * std::exp(x));
}

TEST(DeterministicRandom, RowsDoNotDependOnHowTheyAreChunked) {
  const modelgen::TensorRecipe recipe{
      "blk.0.attn_q.weight", {64, 10}, {modelgen::WeightInit::Kind::Normal, 0.02f, 0, 0}};
  std::vector<float> whole(640), parts(640);
  modelgen::fill_rows(recipe, 1234, 0, 10, whole);
  modelgen::fill_rows(recipe, 1234, 0, 3, std::span(parts).first(192));
  modelgen::fill_rows(recipe, 1234, 3, 7, std::span(parts).subspan(192));
  EXPECT_EQ(whole, parts);
  std::vector<float> other_seed(640);
  modelgen::fill_rows(recipe, 1235, 0, 10, other_seed);
  EXPECT_NE(whole, other_seed);
}

TEST(SyntheticVocab, ByteTokensUseGpt2Spelling) {
  EXPECT_EQ(modelgen::byte_token(' '), "\xC4\xA0");   // "Ġ"
  EXPECT_EQ(modelgen::byte_token('\n'), "\xC4\x8A");  // "Ċ"
  EXPECT_EQ(modelgen::byte_token('a'), "a");
  EXPECT_EQ(modelgen::byte_token(0xAD), "\xC5\x83");  // soft hyphen -> U+0143
  EXPECT_THROW(modelgen::build_synthetic_vocab(200), Error);
}

TEST(ModelPresets, RealPresetsHaveTheRealShapes) {
  const auto& qwen3 = modelgen::find_model_preset("qwen3-4b");
  uint64_t parameters = 0;
  for (const auto& r : modelgen::tensor_recipes(qwen3)) {
    uint64_t n = 1;
    for (uint64_t d : r.dims) n *= d;
    parameters += n;
  }
  EXPECT_EQ(parameters, 4022468096u);  // Qwen3-4B's parameter count (tied embeddings)
  const auto& qwen35 = modelgen::find_model_preset("qwen3.5-4b");
  const auto recipes = modelgen::tensor_recipes(qwen35);
  auto dims_of = [&](const std::string& name) {
    for (const auto& r : recipes) {
      if (r.name == name) return r.dims;
    }
    return std::vector<uint64_t>{};
  };
  EXPECT_EQ(dims_of("blk.0.attn_qkv.weight"), (std::vector<uint64_t>{2560, 8192}));
  EXPECT_EQ(dims_of("blk.0.ssm_conv1d.weight"), (std::vector<uint64_t>{4, 8192}));
  EXPECT_EQ(dims_of("blk.0.ssm_out.weight"), (std::vector<uint64_t>{4096, 2560}));
  EXPECT_EQ(dims_of("blk.3.attn_q.weight"), (std::vector<uint64_t>{2560, 8192}));
  EXPECT_EQ(dims_of("blk.3.attn_k.weight"), (std::vector<uint64_t>{2560, 1024}));
  EXPECT_EQ(dims_of("blk.3.attn_q_norm.weight"), (std::vector<uint64_t>{256}));
  EXPECT_TRUE(dims_of("blk.3.attn_qkv.weight").empty());
  EXPECT_THROW(modelgen::find_model_preset("qwen9"), Error);
}

}  // namespace
}  // namespace quant
