// `quant quantize` end to end on the shared tiny models: the output loads, has llama-quantize's
// types, and each re-encoded tensor equals the formats table's quantizer applied to the dequantized
// source.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vector>

#include "common/shared_data.h"
#include "gguf/gguf_file.h"
#include "tools/tool_test_support.h"

namespace quant {
namespace {

// Re-encodes a source tensor the way `quant quantize` should have: dequantize, then quantize.
std::vector<uint8_t> expected_encoding(const gguf::TensorInfo& source, TensorType target) {
  if (source.type == target) return {source.data.begin(), source.data.end()};
  std::vector<float> values(source.n_elements);
  type_traits(source.type)
      .dequantize_row(source.data.data(), values.data(), static_cast<int64_t>(values.size()));
  std::vector<uint8_t> encoded(*row_bytes(target, source.n_elements));
  type_traits(target).quantize_row(values.data(), encoded.data(),
                                   static_cast<int64_t>(values.size()));
  return encoded;
}

void expect_reencoded(const gguf::GgufFile& source, const gguf::GgufFile& output) {
  ASSERT_EQ(source.tensors().size(), output.tensors().size());
  for (const auto& out : output.tensors()) {
    const gguf::TensorInfo* in = source.find_tensor(out.name);
    ASSERT_NE(in, nullptr) << out.name;
    EXPECT_EQ(in->dims, out.dims) << out.name;
    const auto expected = expected_encoding(*in, out.type);
    ASSERT_EQ(expected.size(), out.data.size()) << out.name;
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), out.data.begin())) << out.name;
  }
}

class QuantizeSharedModel : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {
};

TEST_P(QuantizeSharedModel, MatchesLlamaQuantizeAndTheFormatsQuantizer) {
  QUANT_REQUIRE_SHARED();
  const auto& [model, type] = GetParam();
  const test::ScratchDir dir;
  const std::string source_path = test::shared_path(fmt::format("data/models/{}-f16.gguf", model));
  const std::string out_path = dir.file("out.gguf");
  const auto run = test::run_quant({"quantize", source_path, out_path, "--type", type, "-t", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.output;

  const auto source = gguf::GgufFile::open(source_path);
  const auto output = gguf::GgufFile::open(out_path);
  const auto reference =
      gguf::GgufFile::open(test::shared_path(fmt::format("data/models/{}-{}.gguf", model, type)));
  EXPECT_EQ(output.get_u32("general.file_type"), reference.get_u32("general.file_type"));
  EXPECT_EQ(output.get_u32("general.quantization_version"), 2u);
  for (const auto& t : reference.tensors()) {
    const gguf::TensorInfo* ours = output.find_tensor(t.name);
    ASSERT_NE(ours, nullptr) << t.name;
    EXPECT_EQ(ours->type, t.type) << t.name;
  }
  expect_reencoded(source, output);
  // Same rules, same order, same reference quantizers: llama-quantize's very bytes.
  EXPECT_TRUE(test::read_file_bytes(out_path) == test::read_file_bytes(reference.path()));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, QuantizeSharedModel,
                         ::testing::Values(std::make_tuple("tiny-llama", "Q4_K_M"),
                                           std::make_tuple("tiny-llama", "Q8_0"),
                                           std::make_tuple("tiny-qwen3", "Q4_K_M"),
                                           std::make_tuple("tiny-qwen3", "Q8_0"),
                                           std::make_tuple("tiny-qwen35", "Q4_K_M"),
                                           std::make_tuple("tiny-qwen35", "Q8_0")));

TEST(Quantize, RequantizesFromQuantizedSources) {
  QUANT_REQUIRE_SHARED();
  const test::ScratchDir dir;
  const std::string source_path = test::shared_path("data/models/tiny-qwen3-Q8_0.gguf");
  const auto source = gguf::GgufFile::open(source_path);
  for (const char* type : {"Q4_0", "F16", "Q4_K_M"}) {
    const std::string out_path = dir.file(fmt::format("{}.gguf", type));
    const auto run =
        test::run_quant({"quantize", source_path, out_path, "--type", type, "-t", "3"});
    ASSERT_EQ(run.exit_code, 0) << run.output;
    expect_reencoded(source, gguf::GgufFile::open(out_path));
  }
}

TEST(Quantize, RowLengthsOutsideTheBlocksFallBack) {
  QUANT_REQUIRE_SHARED();
  const test::ScratchDir dir;
  const std::string source_path = test::shared_path("data/models/stories260K-f32.gguf");
  const std::string out_path = dir.file("stories.gguf");
  const auto run = test::run_quant({"quantize", source_path, out_path, "--type", "Q4_K_M"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto output = gguf::GgufFile::open(out_path);
  EXPECT_EQ(output.find_tensor("blk.0.ffn_down.weight")->type, TensorType::F16);  // rows of 172
  EXPECT_EQ(output.find_tensor("blk.0.ffn_up.weight")->type, TensorType::Q5_0);   // rows of 64
  EXPECT_EQ(output.find_tensor("output.weight")->type, TensorType::Q8_0);
  expect_reencoded(gguf::GgufFile::open(source_path), output);
}

TEST(Quantize, RefusesBadArguments) {
  QUANT_REQUIRE_SHARED();
  const test::ScratchDir dir;
  const std::string source_path = test::shared_path("data/models/tiny-llama-f16.gguf");
  EXPECT_NE(
      test::run_quant({"quantize", source_path, dir.file("x.gguf"), "--type", "Q5_K_M"}).exit_code,
      0);
  EXPECT_NE(test::run_quant({"quantize", source_path, source_path, "--type", "Q8_0"}).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.gguf")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.gguf.part")));
}

}  // namespace
}  // namespace quant
