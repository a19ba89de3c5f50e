// The whole-model acceptance test of the Vulkan backend on every shared model: a Vulkan session
// and an exact CPU session must agree on the logits of a prompt fed token by token, on 64 greedy
// tokens as far as the CPU's choice is clear, and on perplexity (model_parity.h); and the Vulkan
// perplexity must match llama-perplexity's. The default model has its own test, which runs in
// parallel with this one. Validation is off (the kernel tests run with it): this test is about the
// numbers, and validation would make it too slow.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/vulkan/context.h"
#include "logit_compare.h"
#include "model/model.h"
#include "model_parity.h"
#include "runtime/reference_data.h"
#include "tokenizer/tokenizer.h"

namespace quant::vulkan::test {
namespace {

// The prompt: the first tokens of the model's reference sequence S.
constexpr size_t kPromptTokens = 16;
// One window of llama-perplexity's context, compared with its figure after its first window.
constexpr uint32_t kPerplexityContext = 128;
constexpr uint32_t kPerplexityChunks = 1;

struct ModelCase {
  const char* name;  // data/models/<name>.gguf
  // The Vulkan perplexity against llama-perplexity's, relative: 0.2% as for the CPU backend
  // (tests/runtime/perplexity_test.cpp). On this single window, exact activations put
  // tiny-qwen35-Q4_K_M just past that, the CPU's exact mode as much as the Vulkan backend (the
  // reference README, "Tolerances", says why that model amplifies rounding): it gets 0.3%.
  double llama_perplexity_tolerance = 2e-3;
};

void PrintTo(const ModelCase& model_case, std::ostream* os) {
  *os << model_case.name;
}

class ModelParityTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelParityTest, VulkanMatchesTheExactCpuBackendAndLlamaPerplexity) {
  QUANT_REQUIRE_SHARED();
  if (list_devices().empty()) GTEST_SKIP() << "skipped: no Vulkan device found";
  const ModelCase& model_case = GetParam();
  const model::Model model = model::Model::load(quant::test::model_path(model_case.name));
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());

  std::vector<int32_t> prompt = quant::test::load_plain_reference(model_case.name)
                                    .meta.at("sequence_S")
                                    .get<std::vector<int32_t>>();
  ASSERT_GE(prompt.size(), kPromptTokens);
  prompt.resize(kPromptTokens);
  const std::vector<int32_t> text = tokenizer.encode(
      quant::test::read_text_file(quant::test::shared_path("data/text/tinyshakespeare-16k.txt")),
      true, false);
  ASSERT_FALSE(text.empty());

  const ParityFigures figures = expect_vulkan_matches_exact_cpu(
      model, prompt, text, *tokenizer.bos_id(),
      ParityOptions{
          .context_length = kPerplexityContext,
          .perplexity = {.context = kPerplexityContext, .max_chunks = kPerplexityChunks}});

  const double llama_cpp =
      quant::test::read_json(
          quant::test::shared_path("reference/logits/perplexity_tinyshakespeare-16k_c128.json"))
          .at(model_case.name)
          .at("running_ppl_after_each_chunk")
          .at(kPerplexityChunks - 1)
          .get<double>();
  const double vulkan_ppl = figures.vulkan_perplexity.ppl;
  EXPECT_NEAR(vulkan_ppl / llama_cpp, 1.0, model_case.llama_perplexity_tolerance)
      << "vulkan " << vulkan_ppl << ", llama-perplexity " << llama_cpp;
  std::printf("  %s: %s; llama-perplexity %.4f (%+.2e)\n", model_case.name,
              describe(figures).c_str(), llama_cpp, vulkan_ppl / llama_cpp - 1.0);
}

INSTANTIATE_TEST_SUITE_P(
    SharedModels, ModelParityTest,
    ::testing::Values(ModelCase{"stories260K-f32"}, ModelCase{"tiny-llama-f16"},
                      ModelCase{"tiny-llama-Q8_0"}, ModelCase{"tiny-llama-Q4_K_M"},
                      ModelCase{"tiny-llama-deep-f16"}, ModelCase{"tiny-llama-deep-Q8_0"},
                      ModelCase{"tiny-llama-deep-Q4_K_M"}, ModelCase{"tiny-qwen3-f16"},
                      ModelCase{"tiny-qwen3-Q8_0"}, ModelCase{"tiny-qwen3-Q4_K_M"},
                      ModelCase{"tiny-qwen35-f16"}, ModelCase{"tiny-qwen35-Q8_0"},
                      ModelCase{"tiny-qwen35-Q4_K_M", 3e-3}),
    [](const ::testing::TestParamInfo<ModelCase>& param_info) {
      return parameter_name(param_info.param.name);
    });

}  // namespace
}  // namespace quant::vulkan::test
