// The Vulkan backend against llama.cpp's reference logits and greedy continuation for every shared
// model, with the tolerances the CPU backend's reference tests use
// (tests/runtime/reference_logits_test.cpp and qwen35_reference_test.cpp, from the reference
// README's "Tolerances"): the reference sequence S fed one token at a time, then the 64 steps of
// the reference's greedy continuation from S, fed its tokens, so that every step whose choice
// was clear to llama.cpp is compared. The continuation from the reference's prompt is left to the
// CPU's tests: its 61-token prompt would double this test's time on lavapipe. No CPU session: the
// reference files are the expectation. Validation is off, as in model_parity_test.cpp.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/vulkan/context.h"
#include "logit_compare.h"
#include "model/model.h"
#include "runtime/reference_data.h"
#include "runtime/session.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

struct ModelCase {
  const char* name;
};

void PrintTo(const ModelCase& model_case, std::ostream* os) {
  *os << model_case.name;
}

class LlamaReferenceTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(LlamaReferenceTest, LogitsAndGreedyChoicesMatchLlamaCpp) {
  QUANT_REQUIRE_SHARED();
  if (list_devices().empty()) GTEST_SKIP() << "skipped: no Vulkan device found";
  const ModelCase& model_case = GetParam();
  const quant::test::ReferenceTolerance tolerance =
      quant::test::reference_tolerance(model_case.name);
  const quant::test::ReferenceLogits ref = quant::test::load_plain_reference(model_case.name);
  const model::Model model = model::Model::load(quant::test::model_path(model_case.name));
  Session session(model, SessionOptions{.backend = BackendChoice::Vulkan, .context_length = 128});
  keep_vulkan_libraries_loaded();
  ASSERT_EQ(session.n_vocab(), ref.n_vocab);

  const auto sequence = ref.meta.at("sequence_S").get<std::vector<int32_t>>();
  const auto ref_argmax = ref.meta.at("argmax_per_position").get<std::vector<int32_t>>();
  const auto ref_gaps = ref.meta.at("top1_minus_top2_per_position").get<std::vector<double>>();
  double worst = 0.0;
  size_t choices_compared = 0;
  std::span<const float> logits;
  for (size_t pos = 0; pos < sequence.size(); ++pos) {
    logits = session.forward(sequence[pos]);
    const double error = tolerance.absolute ? quant::test::max_abs_difference(logits, ref.row(pos))
                                            : quant::test::relative_error(logits, ref.row(pos));
    worst = std::max(worst, error);
    EXPECT_LE(error, tolerance.max_error) << "position " << pos;
    if (ref_gaps[pos] >= tolerance.near_tie) {
      EXPECT_EQ(quant::test::argmax(logits), ref_argmax[pos]) << "position " << pos;
      ++choices_compared;
    }
  }

  const nlohmann::json& greedy = ref.meta.at("greedy_from_S");
  const auto tokens = greedy.at("tokens").get<std::vector<int32_t>>();
  const auto gaps = greedy.at("top1_minus_top2").get<std::vector<double>>();
  size_t steps_compared = 0;
  for (size_t step = 0; step < tokens.size(); ++step) {
    if (gaps[step] >= tolerance.near_tie) {
      EXPECT_EQ(quant::test::argmax(logits), tokens[step]) << "greedy step " << step;
      ++steps_compared;
    }
    if (step + 1 < tokens.size()) logits = session.forward(tokens[step]);
  }
  std::printf(
      "  %s: max %s error %.3g over %zu positions (limit %.3g); top-1 compared at %zu positions "
      "and %zu of %zu greedy steps\n",
      model_case.name, tolerance.absolute ? "absolute" : "relative", worst, sequence.size(),
      tolerance.max_error, choices_compared, steps_compared, tokens.size());
}

INSTANTIATE_TEST_SUITE_P(
    SharedModels, LlamaReferenceTest,
    ::testing::Values(ModelCase{"stories260K-f32"}, ModelCase{"tiny-llama-f16"},
                      ModelCase{"tiny-llama-Q8_0"}, ModelCase{"tiny-llama-Q4_K_M"},
                      ModelCase{"tiny-llama-deep-f16"}, ModelCase{"tiny-llama-deep-Q8_0"},
                      ModelCase{"tiny-llama-deep-Q4_K_M"}, ModelCase{"tiny-qwen3-f16"},
                      ModelCase{"tiny-qwen3-Q8_0"}, ModelCase{"tiny-qwen3-Q4_K_M"},
                      ModelCase{"tiny-qwen35-f16"}, ModelCase{"tiny-qwen35-Q8_0"},
                      ModelCase{"tiny-qwen35-Q4_K_M"}),
    [](const ::testing::TestParamInfo<ModelCase>& param_info) {
      return parameter_name(param_info.param.name);
    });

}  // namespace
}  // namespace quant::vulkan::test
