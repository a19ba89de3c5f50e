// The whole Vulkan backend against the CPU backend on the tiny models of the shared reference set:
// the plan compiled into one command buffer, re-submitted for each token, every op's output
// compared through forward_observed, and the logits of a few tokens. Validation (with
// synchronization validation) is on; any message fails the test.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "common/shared_data.h"
#include "model/model.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr uint32_t kContextLength = 64;

// A model of the shared reference set (data/models/<file>).
model::Model shared_model(const std::string& file) {
  return model::Model::load(quant::test::shared_path("data/models/" + file));
}

// Fails the test for every message the validation layer gave `backend`.
void expect_no_validation_messages(const VulkanBackend& backend) {
  for (const std::string& message : backend.context().validation_messages())
    ADD_FAILURE() << "validation message: " << message;
}

struct ModelCase {
  const char* file;
  // Per-op and logits NMSE bound. Models with F32/F16 weights agree to rounding; for quantized
  // weights the CPU backend quantizes the activations too (to Q8_0/Q8_K, as llama.cpp does) while
  // the GPU keeps them in F32, so the two differ by that quantization.
  double tolerance;
};

void PrintTo(const ModelCase& model_case, std::ostream* os) {
  *os << model_case.file;
}

class VulkanBackendTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(VulkanBackendTest, MatchesTheCpuBackend) {
  QUANT_REQUIRE_SHARED();
  const std::string skip = vulkan_unavailable_reason();
  if (!skip.empty()) GTEST_SKIP() << "skipped: " << skip;
  const model::Model model = shared_model(GetParam().file);
  const plan::Plan& plan = model.plan();

  cpu::CpuBackend cpu(plan, cpu::CpuBackendOptions{.threads = 1, .context_length = kContextLength});
  VulkanBackend gpu(
      plan,
      VulkanBackendOptions{.context_length = kContextLength, .validation = true, .pipelines = {}});
  keep_vulkan_libraries_loaded();

  // The first token with every op observed: a wrong kernel shows up at the op that computes it.
  std::vector<std::vector<float>> expected_ops;
  cpu.forward_observed(1, 0, [&](const plan::Op&, std::span<const float> value) {
    expected_ops.emplace_back(value.begin(), value.end());
  });
  size_t op_index = 0;
  double worst_op = 0.0;
  gpu.forward_observed(1, 0, [&](const plan::Op& op, std::span<const float> value) {
    ASSERT_LT(op_index, expected_ops.size());
    const double error = nmse(value, expected_ops[op_index++]);
    worst_op = std::max(worst_op, error);
    EXPECT_LE(error, GetParam().tolerance) << plan::describe(op);
  });
  EXPECT_EQ(op_index, expected_ops.size());

  // Then a few tokens through the plain path, which re-submits the command buffer recorded at
  // creation.
  const int32_t tokens[] = {1, 7, 300, 42, 5, 99, 2};
  double worst = 0.0;
  for (uint32_t pos = 0; pos < std::size(tokens); ++pos) {
    const int32_t token = tokens[pos] % static_cast<int32_t>(plan.n_vocab);
    const std::span<const float> cpu_logits = cpu.forward(token, pos);
    const std::vector<float> expected(cpu_logits.begin(), cpu_logits.end());
    const std::span<const float> actual = gpu.forward(token, pos);
    const double error = nmse(actual, expected);
    worst = std::max(worst, error);
    EXPECT_LE(error, GetParam().tolerance) << "position " << pos;
  }

  // A profiled token changes the state as forward() does: the next token still agrees.
  const uint32_t profiled_pos = static_cast<uint32_t>(std::size(tokens));
  cpu.forward(3, profiled_pos);
  const std::optional<TokenProfile> profile = gpu.forward_profiled(3, profiled_pos);
  ASSERT_TRUE(profile.has_value());
  ASSERT_FALSE(profile->dispatches.empty());
  EXPECT_EQ(profile->dispatches.front().op, "token inputs");
  EXPECT_EQ(profile->dispatches.back().op, "logits read-back");
  EXPECT_GT(profile->totals.gpu_seconds, 0.0);
  EXPECT_EQ(profile->totals.dispatches + 2, profile->dispatches.size());  // + the two copies
  const std::span<const float> cpu_next = cpu.forward(4, profiled_pos + 1);
  const std::vector<float> expected_next(cpu_next.begin(), cpu_next.end());
  EXPECT_LE(nmse(gpu.forward(4, profiled_pos + 1), expected_next), GetParam().tolerance);
  const std::optional<DeviceCounters> counters = gpu.device_counters();
  ASSERT_TRUE(counters.has_value());
  EXPECT_EQ(counters->submits, std::size(tokens) + 3);  // observed, tokens, profiled, next
  EXPECT_GT(counters->gpu_seconds, profile->totals.gpu_seconds);

  std::printf("[nmse] backend %s subgroup=%u: worst op %.3g, worst logits over %zu tokens %.3g\n",
              GetParam().file, gpu.context().info().subgroup_size, worst_op, std::size(tokens),
              worst);
  expect_no_validation_messages(gpu);
}

// The token-by-token prefill (the path of plans without batch kernels; batched_prefill_test.cpp
// tests the batched one) leaves the output head out of every prompt token but the last: the same
// state and, bit for bit, the same last logits as forward() token by token, in fewer dispatches.
TEST(VulkanPrefillTest, SkipsTheHeadButEndsWithTheSameLogits) {
  QUANT_REQUIRE_SHARED();
  const std::string skip = vulkan_unavailable_reason();
  if (!skip.empty()) GTEST_SKIP() << "skipped: " << skip;
  for (const char* file : {"tiny-llama-Q8_0.gguf", "tiny-qwen35-f16.gguf"}) {
    const model::Model model = shared_model(file);
    const VulkanBackendOptions options{.context_length = kContextLength,
                                       .validation = true,
                                       .pipelines = {},
                                       .prefill_batch_tokens = 0};
    VulkanBackend batched(model.plan(), options);
    VulkanBackend stepped(model.plan(), options);
    keep_vulkan_libraries_loaded();
    const std::vector<int32_t> prompt = {1, 7, 30, 42, 5, 9};
    const std::span<const float> prefilled = batched.prefill(prompt, 0);
    const std::vector<float> expected(prefilled.begin(), prefilled.end());
    std::span<const float> last;
    for (uint32_t pos = 0; pos < prompt.size(); ++pos) last = stepped.forward(prompt[pos], pos);
    ASSERT_EQ(expected.size(), last.size());
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), last.begin())) << file;
    // The next token sees the same state.
    const std::span<const float> next = batched.forward(3, static_cast<uint32_t>(prompt.size()));
    const std::vector<float> next_batched(next.begin(), next.end());
    const std::span<const float> next_stepped =
        stepped.forward(3, static_cast<uint32_t>(prompt.size()));
    EXPECT_TRUE(std::equal(next_batched.begin(), next_batched.end(), next_stepped.begin())) << file;
    const DeviceCounters prefill_counts = *batched.device_counters();
    const DeviceCounters step_counts = *stepped.device_counters();
    EXPECT_EQ(prefill_counts.submits, step_counts.submits) << file;
    EXPECT_LT(prefill_counts.dispatches, step_counts.dispatches) << file;
    expect_no_validation_messages(batched);
    expect_no_validation_messages(stepped);
  }
}

// A Q8_0 layer's q, k and v read the same quantized x side by side and take the variants without
// the SwiGLU pair's registers (kernels.cpp, "_unpaired"): llama's as three mat-vecs, qwen3's (whose
// attention prepares q and k) as one of their matrices back to back. The mat-vecs that quantize
// their output (attn_out, the gate/up pair, down) and the output projection, alone, keep the
// one-row records.
TEST(VulkanKernelChoiceTest, Q8_0QkvRunSideBySideWithFewerRegisters) {
  QUANT_REQUIRE_SHARED();
  const std::string skip = vulkan_unavailable_reason();
  if (!skip.empty()) GTEST_SKIP() << "skipped: " << skip;
  for (const auto& [file, qkv_dispatches] :
       {std::pair{"tiny-llama-Q8_0.gguf", 3u}, std::pair{"tiny-qwen3-Q8_0.gguf", 1u}}) {
    const model::Model model = shared_model(file);
    VulkanBackend gpu(model.plan(),
                      {.context_length = kContextLength, .validation = true, .pipelines = {}});
    keep_vulkan_libraries_loaded();
    const std::optional<TokenProfile> profile = gpu.forward_profiled(1, 0);
    ASSERT_TRUE(profile.has_value());
    if (std::none_of(profile->dispatches.begin(), profile->dispatches.end(),
                     [](const DispatchTiming& d) { return d.kernel.starts_with("matvec_int8_"); }))
      GTEST_SKIP() << "the device has no integer dot products";
    size_t side_by_side = 0, alone = 0, layers = 0, qkv_rows = 0;
    for (const DispatchTiming& dispatch : profile->dispatches) {
      layers = std::max(layers, static_cast<size_t>(dispatch.layer + 1));
      if (!dispatch.kernel.starts_with("matvec_")) continue;
      const bool q = dispatch.op.find("MatVec 'q'") != std::string::npos;
      const bool k = dispatch.op.find("MatVec 'k'") != std::string::npos;
      const bool v = dispatch.op.find("MatVec 'v'") != std::string::npos;
      EXPECT_EQ(dispatch.kernel.ends_with("_unpaired"), q || k || v)
          << file << ": " << dispatch.op << " in " << dispatch.kernel;
      ++(q || k || v ? side_by_side : alone);
      qkv_rows += size_t{q} + size_t{k} + size_t{v};
    }
    EXPECT_EQ(side_by_side, qkv_dispatches * layers) << file;
    EXPECT_EQ(qkv_rows, 3 * layers) << file;
    EXPECT_EQ(alone, 3 * layers + 1) << file;
    expect_no_validation_messages(gpu);
  }
}

constexpr double kExact = 1e-8;
constexpr double kQuantizedActivations = 5e-3;

std::string model_case_name(const ::testing::TestParamInfo<ModelCase>& param) {
  std::string name = param.param.file;
  name = name.substr(0, name.find(".gguf"));
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(TinyModels, VulkanBackendTest,
                         ::testing::Values(ModelCase{"stories260K-f32.gguf", kExact},
                                           ModelCase{"tiny-llama-f16.gguf", kExact},
                                           ModelCase{"tiny-qwen3-f16.gguf", kExact},
                                           ModelCase{"tiny-qwen35-f16.gguf", kExact},
                                           ModelCase{"tiny-llama-Q8_0.gguf", kQuantizedActivations},
                                           ModelCase{"tiny-llama-deep-Q4_K_M.gguf",
                                                     kQuantizedActivations}),
                         model_case_name);

}  // namespace
}  // namespace quant::vulkan::test
