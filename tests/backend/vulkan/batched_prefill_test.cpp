// The batched prefill of the Vulkan backend against its token-by-token prefill on the shared tiny
// models: a prompt of several batches with a remainder, then a whole batch and a shorter one at
// later positions (each ending with the head); the logits after each prompt and of the decode steps
// that follow (which read the KV caches the batches wrote) agree to rounding, in fewer submissions.
// The profiled batch (prefill_profiled) is the first of those submissions, timed command by
// command. Plans with recurrent ops (qwen35) keep the token-by-token path. Validation (with
// synchronization validation) is on; any message fails the test.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "backend/vulkan/vulkan_backend.h"
#include "common/shared_data.h"
#include "model/model.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr uint32_t kContextLength = 64;
constexpr uint32_t kBatchTokens = 8;
// max |batched - stepped| / max |stepped| over the logits. The two paths add the same float32
// products in another order (tiled products, attention over key tiles), so they differ by
// rounding, which a few layers of tiny models carry to about 1e-6; a wrong position, mask or row
// shows as an error of order 1.
constexpr double kTolerance = 1e-4;

double relative_max_error(std::span<const float> actual, std::span<const float> expected) {
  double largest = 0.0, difference = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    largest = std::max(largest, std::fabs(double{expected[i]}));
    difference = std::max(difference, std::fabs(double{actual[i]} - expected[i]));
  }
  return largest > 0.0 ? difference / largest : difference;
}

void expect_no_validation_messages(const VulkanBackend& backend) {
  for (const std::string& message : backend.context().validation_messages())
    ADD_FAILURE() << "validation message: " << message;
}

// Prefills three prompts one after the other with both paths, then decodes a few tokens, comparing
// the logits after each prompt and each decoded token.
// Both with the float mat-vecs: the batched mat-muls keep activations in F32, as they do.
void compare_paths(const plan::Plan& plan, const std::string& label) {
  const PipelineOptions float_matvecs{.integer_dot_products = false};
  VulkanBackend batched(plan, VulkanBackendOptions{.context_length = kContextLength,
                                                   .validation = true,
                                                   .pipelines = float_matvecs,
                                                   .prefill_batch_tokens = kBatchTokens});
  VulkanBackend stepped(plan, VulkanBackendOptions{.context_length = kContextLength,
                                                   .validation = true,
                                                   .pipelines = float_matvecs,
                                                   .prefill_batch_tokens = 0});
  keep_vulkan_libraries_loaded();
  EXPECT_EQ(batched.prefill_batch_capacity(), kBatchTokens) << label;
  EXPECT_EQ(stepped.prefill_batch_capacity(), 0u) << label;
  const auto vocab = static_cast<int32_t>(plan.n_vocab);
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 40; ++i) tokens.push_back((7 * i + 3) % vocab);

  double worst = 0.0;
  const auto compare = [&](std::span<const float> actual, std::span<const float> expected,
                           const std::string& step) {
    ASSERT_EQ(actual.size(), expected.size());
    const double error = relative_max_error(actual, expected);
    worst = std::max(worst, error);
    EXPECT_LE(error, kTolerance) << label << ": " << step;
  };
  // 21 tokens: two batches and a remainder of 5; 8 at position 21: one whole batch that ends a
  // prompt; 3 at 29: a remainder of another size.
  uint32_t pos = 0;
  for (uint32_t length : {21u, 8u, 3u}) {
    const std::span<const int32_t> prompt = std::span(tokens).subspan(pos, length);
    compare(batched.prefill(prompt, pos), stepped.prefill(prompt, pos),
            fmt::format("after {} tokens at {}", length, pos));
    pos += length;
  }
  for (; pos < 35; ++pos)
    compare(batched.forward(tokens[pos], pos), stepped.forward(tokens[pos], pos),
            fmt::format("decode at {}", pos));
  // Batches of 8, 8, 5, 8 and 3, and the 3 decode steps, against one submission per token.
  EXPECT_EQ(batched.device_counters()->submits, 8u) << label;
  EXPECT_EQ(stepped.device_counters()->submits, 35u) << label;
  expect_no_validation_messages(batched);
  expect_no_validation_messages(stepped);
  std::printf("[batched prefill] %s subgroup=%u: worst relative max error %.3g\n", label.c_str(),
              batched.context().info().subgroup_size, worst);
}

// Whether this device runs the plan's attention token by token: that kernel takes heads of up to 4
// workgroup widths (qwen3's 128 need lavapipe's subgroups of 8).
bool token_path_takes(const plan::Plan& plan) {
  const uint32_t width = test_device().subgroup_pipelines->workgroup_size("attention_partial");
  for (const plan::Op& op : plan.ops)
    if (const auto* attention = std::get_if<plan::Attention>(&op.kind))
      if (attention->head_dim > 4 * width) return false;
  return true;
}

class BatchedPrefillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string skip = vulkan_unavailable_reason();
    if (!skip.empty()) GTEST_SKIP() << "skipped: " << skip;
  }
};

// stories260K: F32 weights with rows of 172 (neither whole column steps nor whole vec4s) and heads
// of 8; Q4_K and Q6_K (Q4_K_M), Q8_0 and F16 weights; qwen3's per-head norms, NeoX RoPE and heads
// of 128 values.
TEST_F(BatchedPrefillTest, AgreesWithTokenByTokenOnTheSharedTinyModels) {
  QUANT_REQUIRE_SHARED();
  for (const char* file : {"stories260K-f32.gguf", "tiny-llama-Q4_K_M.gguf", "tiny-llama-Q8_0.gguf",
                           "tiny-qwen3-f16.gguf"}) {
    const model::Model model =
        model::Model::load(quant::test::shared_path(std::string("data/models/") + file));
    if (!token_path_takes(model.plan())) {
      std::printf("[batched prefill] %s: heads too long for the token-by-token attention here\n",
                  file);
      continue;
    }
    compare_paths(model.plan(), file);
  }
}

// The commands of `profile` that are dispatches: all but the copies.
size_t dispatches_in(const TokenProfile& profile) {
  return static_cast<size_t>(
      std::count_if(profile.dispatches.begin(), profile.dispatches.end(),
                    [](const DispatchTiming& d) { return d.kernel != "copy"; }));
}

// prefill_profiled() makes prefill()'s first submission: of a longer prompt, its first batch
// without the head; of a prompt of one batch, the batch with the head, after which a decode step
// reads the KV caches the batch wrote. Every command has a time.
TEST_F(BatchedPrefillTest, ProfilesTheFirstSubmission) {
  QUANT_REQUIRE_SHARED();
  const model::Model model =
      model::Model::load(quant::test::shared_path("data/models/tiny-llama-Q8_0.gguf"));
  const PipelineOptions float_matvecs{.integer_dot_products = false};
  VulkanBackend batched(model.plan(), VulkanBackendOptions{.context_length = kContextLength,
                                                           .validation = true,
                                                           .pipelines = float_matvecs,
                                                           .prefill_batch_tokens = kBatchTokens});
  VulkanBackend stepped(model.plan(), VulkanBackendOptions{.context_length = kContextLength,
                                                           .validation = true,
                                                           .pipelines = float_matvecs,
                                                           .prefill_batch_tokens = 0});
  keep_vulkan_libraries_loaded();
  if (!batched.device_counters()) GTEST_SKIP() << "skipped: the device has no timer";
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 21; ++i)
    tokens.push_back((7 * i + 3) % static_cast<int32_t>(model.plan().n_vocab));

  for (const uint32_t length : {21u, kBatchTokens}) {
    SCOPED_TRACE(fmt::format("a prompt of {} tokens", length));
    const std::optional<PrefillProfile> profile =
        batched.prefill_profiled(std::span(tokens).first(length), 0);
    ASSERT_TRUE(profile.has_value());
    EXPECT_EQ(profile->n_tokens, kBatchTokens);
    const TokenProfile& submission = profile->submission;
    EXPECT_EQ(submission.totals.submits, 1u);
    EXPECT_EQ(dispatches_in(submission), submission.totals.dispatches);
    EXPECT_GT(submission.totals.gpu_seconds, 0.0);
    ASSERT_FALSE(submission.dispatches.empty());
    EXPECT_EQ(submission.dispatches.front().op, "batch inputs");
    EXPECT_EQ(submission.dispatches.back().op == "logits read-back", length == kBatchTokens);
    for (const DispatchTiming& d : submission.dispatches) EXPECT_GE(d.gpu_seconds, 0.0) << d.op;
  }
  stepped.prefill(std::span(tokens).first(kBatchTokens), 0);
  const std::span<const float> expected = stepped.forward(tokens[kBatchTokens], kBatchTokens);
  EXPECT_LE(relative_max_error(batched.forward(tokens[kBatchTokens], kBatchTokens), expected),
            kTolerance);
  EXPECT_EQ(batched.device_counters()->submits, 3u);  // the two profiled batches, the decode step
  expect_no_validation_messages(batched);
}

// qwen35's recurrent ops have no batch kernels: its prefill stays token by token, and there is no
// batch to profile.
TEST_F(BatchedPrefillTest, RecurrentPlansGoTokenByToken) {
  QUANT_REQUIRE_SHARED();
  const model::Model model =
      model::Model::load(quant::test::shared_path("data/models/tiny-qwen35-Q8_0.gguf"));
  VulkanBackend backend(model.plan(), VulkanBackendOptions{.context_length = kContextLength,
                                                           .validation = true,
                                                           .pipelines = {},
                                                           .prefill_batch_tokens = kBatchTokens});
  keep_vulkan_libraries_loaded();
  EXPECT_EQ(backend.prefill_batch_capacity(), 0u);
  const std::vector<int32_t> prompt = {1, 7, 30, 42, 5};
  EXPECT_FALSE(backend.prefill_profiled(prompt, 0).has_value());
  backend.prefill(prompt, 0);
  EXPECT_EQ(backend.device_counters()->submits, prompt.size());  // none for the profile
  expect_no_validation_messages(backend);
}

}  // namespace
}  // namespace quant::vulkan::test
