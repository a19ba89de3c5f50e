// The Vulkan backend against the CPU backend (model_parity.h), both exact and both with int8
// activations, on the default model,
// SmolLM2-135M-Instruct Q4_1: a real 30-layer model, whose mat-vecs run at sizes the tiny shared
// models never reach. It is by far the slowest model on lavapipe, so it is a test of its own that
// ctest runs in parallel with the others, with a short prompt and one short perplexity window.
// Validation is off, as in model_parity_test.cpp.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/vulkan/context.h"
#include "model/model.h"
#include "model_parity.h"
#include "runtime/reference_data.h"
#include "tokenizer/tokenizer.h"

namespace quant::vulkan::test {
namespace {

constexpr const char* kPrompt = "The quick brown fox jumps over the lazy dog";
constexpr uint32_t kPerplexityContext = 32;  // 15 tokens scored

// With int8 activations the two backends' roundings differ in a level here and there, and over 30
// layers that moves this model's logits as much as int8 rounding itself does: on this prompt the
// CPU's int8 logits are up to 6.2e-2 (max|diff| / max|logit|) from its exact ones, and its
// perplexity 7.6e-3 from the exact one. The Vulkan backend's int8 perplexity over this short window
// lands about 1.5 % from the exact one, on either side: +1.5 % with the attention in chunks of 32
// positions, -1.5 % in one pass (its sums in another order flip other int8 levels downstream), so
// the two int8 figures may differ by 2.3 % (docs/perf/README.md, v10). The limits are set just
// above that; choices clear by twice the error allowed are rare, so there is no minimum of clear
// steps.
const ParityLimits kInt8Limits{.max_error = 0.1,
                               .min_clear_gap = 0.05,
                               .clear_gap_errors = 2.0,
                               .min_clear_steps = 0,
                               .perplexity = 3e-2};

class DefaultModelParityTest : public ::testing::TestWithParam<bool> {};

TEST_P(DefaultModelParityTest, VulkanMatchesTheCpuBackend) {
  QUANT_REQUIRE_DEFAULT_MODEL();
  QUANT_REQUIRE_SHARED();
  if (list_devices().empty()) GTEST_SKIP() << "skipped: no Vulkan device found";
  const bool exact = GetParam();
  const model::Model model = model::Model::load(quant::test::default_model());
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  const bool add_bos = tokenizer.add_bos();
  const std::vector<int32_t> prompt = tokenizer.encode(kPrompt, add_bos, false);
  const std::vector<int32_t> text = tokenizer.encode(
      quant::test::read_text_file(quant::test::shared_path("data/text/tinyshakespeare-16k.txt")),
      add_bos, false);
  ASSERT_FALSE(text.empty());
  // SmolLM2's metadata asks for no BOS: the window then starts with the text's own first token.
  const int32_t window_start = add_bos ? *tokenizer.bos_id() : text.front();

  const ParityFigures figures = expect_vulkan_matches_cpu(
      model, prompt, text, window_start,
      ParityOptions{.context_length = 128,
                    .exact_activations = exact,
                    .limits = exact ? ParityLimits{} : kInt8Limits,
                    .perplexity = {.context = kPerplexityContext, .max_chunks = 1}});
  std::printf("  SmolLM2-135M (%zu prompt tokens, %s): %s\n", prompt.size(),
              exact ? "exact" : "int8 activations", describe(figures).c_str());
}

std::string activations_name(const ::testing::TestParamInfo<bool>& exact) {
  return exact.param ? "exact" : "int8";
}

INSTANTIATE_TEST_SUITE_P(Activations, DefaultModelParityTest, ::testing::Values(false, true),
                         activations_name);

}  // namespace
}  // namespace quant::vulkan::test
