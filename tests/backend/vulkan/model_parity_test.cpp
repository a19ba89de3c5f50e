// The whole-model acceptance test of the Vulkan backend: every shared model and the default
// SmolLM2-135M model run through a Vulkan session and a CPU session in exact mode (F32 activations,
// the reference arithmetic), which must agree on the logits of a prompt fed token by token, on the
// greedy continuation as far as the CPU's choice is clear, and on perplexity. Decoding must cost
// one submission per token. Validation is off (the kernel tests run with it): this test is about
// the numbers, and validation would make it too slow.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "backend/vulkan/context.h"
#include "model/model.h"
#include "runtime/perplexity.h"
#include "runtime/reference_data.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"
#include "vulkan_test_device.h"

namespace quant {
namespace {

constexpr size_t kPromptTokens = 24;
constexpr uint32_t kContextLength = 128;
constexpr double kMaxRelativeError = 5e-3;  // max|vk - cpu| / max|cpu| per position
constexpr float kClearGap = 0.05f;          // a top1-top2 logit gap that rounding cannot flip
constexpr uint32_t kPerplexityContext = 64;
constexpr double kPerplexityTolerance = 1e-3;  // relative
// Fixed text for the default model, which has no reference prompt.
constexpr const char* kDefaultModelSentence =
    "The quick brown fox jumps over the lazy dog, and then it runs into the forest to look for "
    "something to eat before the sun goes down.";

struct ModelCase {
  const char* name;  // a shared model (data/models/<name>.gguf), or nullptr for the default one
  // Tokens to generate and perplexity windows to score (0: no perplexity): fewer for the models
  // slow on lavapipe, to keep the executable's run time down on 2 cores.
  uint32_t greedy_steps;
  uint32_t perplexity_chunks;
};

std::string case_name(const ::testing::TestParamInfo<ModelCase>& info) {
  std::string name = info.param.name ? info.param.name : "SmolLM2_135M_default";
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

void PrintTo(const ModelCase& model_case, std::ostream* os) {
  *os << (model_case.name ? model_case.name : "default model");
}

struct TopTwo {
  int32_t top1 = 0;
  float gap = 0.0f;  // top1's logit minus the runner-up's
};

TopTwo top_two(std::span<const float> logits) {
  const int32_t best = test::argmax(logits);
  float second = -INFINITY;
  for (size_t i = 0; i < logits.size(); ++i)
    if (static_cast<int32_t>(i) != best) second = std::max(second, logits[i]);
  return {best, logits[static_cast<size_t>(best)] - second};
}

double relative_error(std::span<const float> actual, std::span<const float> expected) {
  double max_difference = 0.0;
  double max_magnitude = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    max_difference = std::max(max_difference, std::fabs(double{actual[i]} - double{expected[i]}));
    max_magnitude = std::max(max_magnitude, std::fabs(double{expected[i]}));
  }
  return max_difference / max_magnitude;
}

// The greedy continuation of whatever the session was fed, starting from `logits`, with the
// top1-top2 gap of each step.
struct Greedy {
  std::vector<int32_t> tokens;
  std::vector<float> gaps;
};

Greedy generate(Session& session, std::span<const float> logits, uint32_t steps) {
  Greedy greedy;
  for (uint32_t step = 0; step < steps; ++step) {
    const TopTwo top = top_two(logits);
    greedy.tokens.push_back(top.top1);
    greedy.gaps.push_back(top.gap);
    if (step + 1 < steps) logits = session.forward(top.top1);
  }
  return greedy;
}

class ModelParityTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelParityTest, VulkanMatchesTheExactCpuBackend) {
  const ModelCase& model_case = GetParam();
  std::string path;
  if (model_case.name) {
    QUANT_REQUIRE_SHARED();
    path = test::model_path(model_case.name);
  } else {
    QUANT_REQUIRE_DEFAULT_MODEL();
    path = test::default_model();
  }
  if (vulkan::list_devices().empty()) GTEST_SKIP() << "skipped: no Vulkan device found";

  const model::Model model = model::Model::load(path);
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  std::vector<int32_t> prompt;
  if (model_case.name) {
    prompt = test::read_json(
                 test::shared_path(std::string("reference/logits/") + model_case.name + ".json"))
                 .at("sequence_S")
                 .get<std::vector<int32_t>>();
  } else {
    prompt = tokenizer.encode(kDefaultModelSentence, true, false);
  }
  ASSERT_GE(prompt.size(), kPromptTokens);
  prompt.resize(kPromptTokens);

  Session cpu(model, SessionOptions{.backend = BackendChoice::Cpu,
                                    .threads = 2,
                                    .context_length = kContextLength,
                                    .exact_activations = true});
  Session gpu(model, SessionOptions{.backend = BackendChoice::Vulkan,
                                    .context_length = kContextLength,
                                    .exact_activations = true});
  vulkan::test::keep_vulkan_libraries_loaded();

  // The prompt, one token at a time.
  double worst_error = 0.0;
  std::vector<float> cpu_logits;
  std::span<const float> gpu_logits;
  for (size_t pos = 0; pos < prompt.size(); ++pos) {
    const std::span<const float> cpu_row = cpu.forward(prompt[pos]);
    cpu_logits.assign(cpu_row.begin(), cpu_row.end());
    gpu_logits = gpu.forward(prompt[pos]);
    const double error = relative_error(gpu_logits, cpu_logits);
    worst_error = std::max(worst_error, error);
    EXPECT_LE(error, kMaxRelativeError) << "position " << pos;
    const TopTwo expected = top_two(cpu_logits);
    if (expected.gap > kClearGap) {
      EXPECT_EQ(test::argmax(gpu_logits), expected.top1) << "position " << pos;
    }
  }

  // Greedy decoding from the prompt, each backend on its own; the CPU's goes first since the
  // Vulkan logits are only valid until its next call.
  const std::vector<float> gpu_prompt_logits(gpu_logits.begin(), gpu_logits.end());
  const Greedy cpu_greedy = generate(cpu, cpu_logits, model_case.greedy_steps);
  const std::optional<DeviceCounters> before = gpu.backend().device_counters();
  const uint32_t position_before = gpu.position();
  const Greedy gpu_greedy = generate(gpu, gpu_prompt_logits, model_case.greedy_steps);
  const uint32_t decoded = gpu.position() - position_before;
  const std::optional<DeviceCounters> after = gpu.backend().device_counters();

  size_t clear_steps = 0;  // steps before the first one whose choice rounding could flip
  while (clear_steps < cpu_greedy.gaps.size() && cpu_greedy.gaps[clear_steps] >= kClearGap)
    ++clear_steps;
  size_t agreed = 0;
  while (agreed < cpu_greedy.tokens.size() &&
         cpu_greedy.tokens[agreed] == gpu_greedy.tokens[agreed])
    ++agreed;
  EXPECT_GE(agreed, clear_steps) << "the greedy texts differ at step " << agreed
                                 << " where the CPU's choice was clear";

  // One submission per decoded token.
  std::string submits = "no device counters";
  if (before && after) {
    EXPECT_EQ(after->submits - before->submits, decoded);
    submits = std::to_string(after->submits - before->submits) + " submits for " +
              std::to_string(decoded) + " tokens";
  }

  // Perplexity over the same windows of text.
  if (model_case.perplexity_chunks == 0) {
    std::printf(
        "  %s: max relative error %.2e; greedy agrees for %zu of %zu tokens (clear for %zu); "
        "%s\n",
        model_case.name ? model_case.name : "default model", worst_error, agreed,
        cpu_greedy.tokens.size(), clear_steps, submits.c_str());
    return;
  }
  const std::vector<int32_t> text = tokenizer.encode(
      test::read_text_file(test::shared_path("data/text/tinyshakespeare-16k.txt")), true, false);
  ASSERT_FALSE(text.empty());
  // A model without a BOS token starts each window with the text's first token instead.
  const int32_t bos = tokenizer.bos_id().value_or(text.front());
  const PerplexityOptions options{.context = kPerplexityContext,
                                  .max_chunks = model_case.perplexity_chunks};
  const PerplexityResult cpu_ppl = compute_perplexity(cpu, text, bos, options);
  const PerplexityResult gpu_ppl = compute_perplexity(gpu, text, bos, options);
  EXPECT_EQ(gpu_ppl.tokens_scored, cpu_ppl.tokens_scored);
  EXPECT_NEAR(gpu_ppl.ppl / cpu_ppl.ppl, 1.0, kPerplexityTolerance);

  std::printf(
      "  %s: max relative error %.2e; greedy agrees for %zu of %zu tokens (clear for %zu); "
      "ppl cpu %.4f vulkan %.4f (%+.2e); %s\n",
      model_case.name ? model_case.name : "default model", worst_error, agreed,
      cpu_greedy.tokens.size(), clear_steps, cpu_ppl.ppl, gpu_ppl.ppl,
      gpu_ppl.ppl / cpu_ppl.ppl - 1.0, submits.c_str());
}

INSTANTIATE_TEST_SUITE_P(
    SharedModels, ModelParityTest,
    ::testing::Values(ModelCase{"stories260K-f32", 64, 3}, ModelCase{"tiny-llama-f16", 64, 3},
                      ModelCase{"tiny-llama-Q8_0", 64, 3}, ModelCase{"tiny-llama-Q4_K_M", 64, 3},
                      ModelCase{"tiny-llama-deep-f16", 32, 3},
                      ModelCase{"tiny-llama-deep-Q8_0", 32, 3},
                      ModelCase{"tiny-llama-deep-Q4_K_M", 32, 3},
                      ModelCase{"tiny-qwen3-f16", 64, 3}, ModelCase{"tiny-qwen3-Q8_0", 64, 3},
                      ModelCase{"tiny-qwen3-Q4_K_M", 64, 3}, ModelCase{"tiny-qwen35-f16", 32, 3},
                      ModelCase{"tiny-qwen35-Q8_0", 32, 3}, ModelCase{"tiny-qwen35-Q4_K_M", 32, 3}),
    case_name);

INSTANTIATE_TEST_SUITE_P(DefaultModel, ModelParityTest,
                         ::testing::Values(ModelCase{nullptr, 16, 0}), case_name);

}  // namespace
}  // namespace quant
