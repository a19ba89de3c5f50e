// The per-tensor type rules against llama-quantize's own output (the shared *-Q4_K_M / *-Q8_0 files
// were made from the *-f16 files by llama-quantize) and against its rules for odd shapes.

#include "quantize/type_choice.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/shared_data.h"
#include "gguf/gguf_file.h"

namespace quant {
namespace {

std::vector<TensorDecl> declarations(const gguf::GgufFile& file) {
  std::vector<TensorDecl> decls;
  for (const auto& t : file.tensors()) decls.push_back({std::string(t.name), t.type, t.dims});
  return decls;
}

class SharedQuantizedModel
    : public ::testing::TestWithParam<std::tuple<const char*, const char*, FileType>> {};

TEST_P(SharedQuantizedModel, RulesGiveLlamaQuantizeTypes) {
  QUANT_REQUIRE_SHARED();
  const auto& [model, suffix, file_type] = GetParam();
  const auto source =
      gguf::GgufFile::open(test::shared_path(fmt::format("data/models/{}-f16.gguf", model)));
  const auto expected =
      gguf::GgufFile::open(test::shared_path(fmt::format("data/models/{}-{}.gguf", model, suffix)));
  const auto decls = declarations(source);
  const auto types = choose_tensor_types(
      file_type, decls, source.get_u32(fmt::format("{}.block_count", source.architecture())));
  ASSERT_EQ(types.size(), expected.tensors().size());
  for (size_t i = 0; i < decls.size(); ++i) {
    const gguf::TensorInfo* reference = expected.find_tensor(decls[i].name);
    ASSERT_NE(reference, nullptr) << decls[i].name;
    EXPECT_EQ(type_traits(types[i]).name, type_traits(reference->type).name) << decls[i].name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    TinyModels, SharedQuantizedModel,
    ::testing::Values(std::make_tuple("tiny-llama", "Q4_K_M", FileType::Q4_K_M),
                      std::make_tuple("tiny-llama", "Q8_0", FileType::Q8_0),
                      std::make_tuple("tiny-llama-deep", "Q4_K_M", FileType::Q4_K_M),
                      std::make_tuple("tiny-llama-deep", "Q8_0", FileType::Q8_0),
                      std::make_tuple("tiny-qwen3", "Q4_K_M", FileType::Q4_K_M),
                      std::make_tuple("tiny-qwen3", "Q8_0", FileType::Q8_0),
                      std::make_tuple("tiny-qwen35", "Q4_K_M", FileType::Q4_K_M),
                      std::make_tuple("tiny-qwen35", "Q8_0", FileType::Q8_0)));

TEST(TypeChoice, OrderPutsGlobalTensorsFirstThenLayersNumerically) {
  std::vector<TensorDecl> decls = {{"blk.10.b.weight", TensorType::F16, {32, 32}},
                                   {"token_embd.weight", TensorType::F16, {32, 32}},
                                   {"blk.2.a.weight", TensorType::F16, {32, 32}},
                                   {"blk.2.0.weight", TensorType::F16, {32, 32}},
                                   {"output_norm.weight", TensorType::F32, {32}}};
  const auto order = llama_quantize_order(decls);
  std::vector<std::string> names;
  for (size_t i : order) names.push_back(decls[i].name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"output_norm.weight", "token_embd.weight", "blk.2.0.weight",
                                      "blk.2.a.weight", "blk.10.b.weight"}));
}

TEST(TypeChoice, SmallAndOneDimensionalTensorsKeepTheirType) {
  const std::vector<uint64_t> matrix = {256, 256};
  const std::vector<uint64_t> vector = {256};
  const std::vector<uint64_t> column = {256, 1};
  EXPECT_TRUE(tensor_allows_quantization("blk.0.attn_q.weight", matrix));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.attn_norm.weight", vector));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.attn_q_norm.weight", matrix));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.ssm_conv1d.weight", matrix));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.ssm_a", matrix));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.ssm_dt.bias", matrix));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.ffn_gate_inp.weight", matrix));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.ffn_up.weight", column));
  EXPECT_TRUE(tensor_allows_quantization("blk.0.ssm_alpha.weight", matrix));
}

// Q6_K layers of a 32-layer model, from the rule's definition: the first and last eighth, and every
// third layer in between starting with the third.
std::vector<int> q6k_layers(int n_layers) {
  std::vector<int> layers;
  for (int i = 0; i < n_layers; ++i) {
    const bool edge = i < n_layers / 8 || i >= 7 * n_layers / 8;
    if (edge || (i - n_layers / 8) % 3 == 2) layers.push_back(i);
  }
  return layers;
}

TEST(TypeChoice, AttentionVAndFfnDownLayersForQ4KM) {
  std::vector<TensorDecl> decls;
  constexpr int kLayers = 32;
  for (int i = 0; i < kLayers; ++i) {
    decls.push_back({fmt::format("blk.{}.attn_v.weight", i), TensorType::F16, {256, 256}});
    decls.push_back({fmt::format("blk.{}.ffn_down.weight", i), TensorType::F16, {512, 256}});
    decls.push_back({fmt::format("blk.{}.ffn_up.weight", i), TensorType::F16, {256, 512}});
  }
  const auto types = choose_tensor_types(FileType::Q4_K_M, decls, kLayers);
  std::vector<int> v_layers, down_layers;
  for (size_t i = 0; i < decls.size(); ++i) {
    if (decls[i].name.find("ffn_up") != std::string::npos) {
      EXPECT_EQ(types[i], TensorType::Q4_K);
    }
    if (types[i] != TensorType::Q6_K) continue;
    const int layer = std::stoi(decls[i].name.substr(4));
    (decls[i].name.find("attn_v") != std::string::npos ? v_layers : down_layers).push_back(layer);
  }
  EXPECT_EQ(v_layers, q6k_layers(kLayers));
  EXPECT_EQ(down_layers, q6k_layers(kLayers));
  EXPECT_EQ(q6k_layers(8), (std::vector<int>{0, 3, 6, 7}));  // as the shared README lists
}

TEST(TypeChoice, RowLengthsOutsideTheBlockFallBack) {
  // stories260K's shapes: hidden 64, FFN 172, separate output matrix.
  const std::vector<TensorDecl> decls = {
      {"token_embd.weight", TensorType::F32, {64, 512}},
      {"output.weight", TensorType::F32, {64, 512}},
      {"blk.0.attn_q.weight", TensorType::F32, {64, 64}},
      {"blk.0.attn_v.weight", TensorType::F32, {64, 32}},
      {"blk.0.ffn_up.weight", TensorType::F32, {64, 172}},
      {"blk.0.ffn_down.weight", TensorType::F32, {172, 64}},
      {"blk.0.attn_norm.weight", TensorType::F32, {64}},
  };
  const auto q4km = choose_tensor_types(FileType::Q4_K_M, decls, 1);
  EXPECT_EQ(q4km[0], TensorType::Q5_0);  // untied embedding: Q4_K -> Q5_0
  EXPECT_EQ(q4km[1], TensorType::Q8_0);  // output: Q6_K does not fit, Q8_0
  EXPECT_EQ(q4km[2], TensorType::Q5_0);
  EXPECT_EQ(q4km[3], TensorType::Q8_0);  // layer 0 of 1 is a Q6_K layer -> Q8_0
  EXPECT_EQ(q4km[4], TensorType::Q5_0);
  EXPECT_EQ(q4km[5], TensorType::F16);  // 172 fits neither Q6_K nor Q8_0
  EXPECT_EQ(q4km[6], TensorType::F32);
  const auto q8 = choose_tensor_types(FileType::Q8_0, decls, 1);
  EXPECT_EQ(q8[0], TensorType::Q8_0);
  EXPECT_EQ(q8[5], TensorType::F16);
  const auto q4 = choose_tensor_types(FileType::Q4_0, decls, 1);
  EXPECT_EQ(q4[1], TensorType::Q8_0);  // output gets Q6_K first, which 64 does not fit
  EXPECT_EQ(q4[2], TensorType::Q4_0);
  const auto f16 = choose_tensor_types(FileType::F16, decls, 1);
  EXPECT_EQ(f16[5], TensorType::F16);
  EXPECT_EQ(f16[6], TensorType::F32);
}

TEST(TypeChoice, TiedEmbeddingGetsTheOutputType) {
  const std::vector<TensorDecl> tied = {{"token_embd.weight", TensorType::F16, {256, 1000}}};
  EXPECT_EQ(choose_tensor_types(FileType::Q4_K_M, tied, 1)[0], TensorType::Q6_K);
  EXPECT_EQ(choose_tensor_types(FileType::Q4_0, tied, 1)[0], TensorType::Q6_K);
  EXPECT_EQ(choose_tensor_types(FileType::Q8_0, tied, 1)[0], TensorType::Q8_0);
  const std::vector<TensorDecl> untied = {{"token_embd.weight", TensorType::F16, {256, 1000}},
                                          {"output.weight", TensorType::F16, {256, 1000}}};
  const auto types = choose_tensor_types(FileType::Q4_K_M, untied, 1);
  EXPECT_EQ(types[0], TensorType::Q4_K);
  EXPECT_EQ(types[1], TensorType::Q6_K);
}

TEST(FileTypeNames, ParseIgnoresCaseAndRejectsUnknown) {
  EXPECT_EQ(parse_file_type("q4_k_m"), FileType::Q4_K_M);
  EXPECT_EQ(parse_file_type("F16"), FileType::F16);
  EXPECT_EQ(parse_file_type("Q5_K_M"), std::nullopt);
  EXPECT_EQ(llama_ftype_id(FileType::Q8_0), 7u);
  EXPECT_EQ(llama_ftype_id(FileType::Q4_K_M), 15u);
  EXPECT_EQ(llama_ftype_id(FileType::Q4_0), 2u);
  EXPECT_EQ(llama_ftype_id(FileType::F16), 1u);
}

}  // namespace
}  // namespace quant
