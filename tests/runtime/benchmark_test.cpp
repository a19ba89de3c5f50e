// The benchmark's logic on the shared tiny models with the CPU backend: which tests run and how
// many samples each has, the derived figures, the weight bytes of a decode token (against the
// file's own tensor table), and the refusals. Nothing here asserts a speed.

#include "runtime/benchmark.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/error.h"
#include "common/shared_data.h"
#include "model/model.h"
#include "runtime/session.h"

#if QUANT_HAVE_VULKAN
#include "backend/vulkan/context.h"
#include "backend/vulkan/greedy_chain.h"
#endif

namespace quant {
namespace {

const char* const kTiedModel = "data/models/tiny-llama-Q4_K_M.gguf";  // output = token_embd
const char* const kUntiedModel = "data/models/stories260K-f32.gguf";  // has output.weight

BenchmarkOptions small_options() {
  return BenchmarkOptions{.prompt_tokens = 16, .generated_tokens = 8, .repetitions = 2};
}

SessionOptions cpu_session(const BenchmarkOptions& options, uint32_t threads = 1) {
  return SessionOptions{.backend = BackendChoice::Cpu,
                        .threads = threads,
                        .context_length = benchmark_context_length(options)};
}

// What the file's tensor table says one decode token reads: every tensor once, plus one row of
// token_embd for the embedding lookup, except that an untied token_embd is read only by that row.
uint64_t expected_decode_bytes(const gguf::GgufFile& file) {
  uint64_t total = 0;
  for (const gguf::TensorInfo& tensor : file.tensors()) total += tensor.n_bytes;
  const gguf::TensorInfo* table = file.find_tensor("token_embd.weight");
  EXPECT_NE(table, nullptr);
  if (table == nullptr) return 0;
  const uint64_t row = table->n_bytes / table->rows();
  const bool tied = file.find_tensor("output.weight") == nullptr;
  return tied ? total + row : total - table->n_bytes + row;
}

TEST(BenchmarkTest, RunsBothTestsWithOneSamplePerRepetition) {
  QUANT_REQUIRE_SHARED();
  const model::Model model = model::Model::load(test::shared_path(kTiedModel));
  const BenchmarkOptions options = small_options();
  Session session(model, cpu_session(options));
  const BenchmarkReport report = run_benchmark(session, "/some/folder/tiny.gguf", options);

  EXPECT_EQ(report.model.file_name, "tiny.gguf");
  EXPECT_EQ(report.model.architecture, "llama");
  EXPECT_EQ(report.backend, "cpu");
  ASSERT_TRUE(report.threads.has_value());
  EXPECT_EQ(*report.threads, 1u);
  ASSERT_EQ(report.tests.size(), 2u);

  const BenchmarkTest& pp = report.tests[0];
  EXPECT_EQ(pp.kind, BenchmarkKind::PromptProcessing);
  EXPECT_EQ(pp.name, "pp16");
  EXPECT_EQ(pp.n_tokens, 16u);
  EXPECT_FALSE(pp.weight_gigabytes_per_second.has_value());

  const BenchmarkTest& tg = report.tests[1];
  EXPECT_EQ(tg.kind, BenchmarkKind::TextGeneration);
  EXPECT_EQ(tg.name, "tg8");
  EXPECT_EQ(tg.n_tokens, 8u);
  ASSERT_TRUE(tg.weight_gigabytes_per_second.has_value());
  EXPECT_NEAR(*tg.weight_gigabytes_per_second,
              static_cast<double>(report.weight_bytes_per_token) * tg.tokens_per_second.mean * 1e-9,
              1e-9 * *tg.weight_gigabytes_per_second);

  for (const BenchmarkTest& test : report.tests) {
    SCOPED_TRACE(test.name);
    ASSERT_EQ(test.seconds.size(), 2u);
    double tokens_per_second = 0.0;
    for (const double seconds : test.seconds) {
      EXPECT_GT(seconds, 0.0);
      tokens_per_second += test.n_tokens / seconds / 2.0;
    }
    EXPECT_NEAR(test.tokens_per_second.mean, tokens_per_second, 1e-9 * tokens_per_second);
    EXPECT_NEAR(test.ms_per_token.mean,
                (test.seconds[0] + test.seconds[1]) / 2.0 * 1e3 / test.n_tokens,
                1e-9 * test.ms_per_token.mean);
    EXPECT_FALSE(test.device.has_value());  // the CPU backend has no device timer
  }
  EXPECT_FALSE(report.profile.has_value());
  EXPECT_FALSE(report.profile_unavailable);  // not asked for
  EXPECT_FALSE(report.prefill_profile.has_value());
  EXPECT_FALSE(report.prefill_profile_unavailable);
  EXPECT_EQ(session.position(), 0u);  // left reset
}

TEST(BenchmarkTest, SkipsTestsOfZeroTokens) {
  QUANT_REQUIRE_SHARED();
  const model::Model model = model::Model::load(test::shared_path(kTiedModel));
  BenchmarkOptions options = small_options();
  options.prompt_tokens = 0;
  options.repetitions = 1;
  Session session(model, cpu_session(options));
  const BenchmarkReport report = run_benchmark(session, "", options);
  ASSERT_EQ(report.tests.size(), 1u);
  EXPECT_EQ(report.tests[0].name, "tg8");
  ASSERT_EQ(report.tests[0].seconds.size(), 1u);
  EXPECT_EQ(report.tests[0].tokens_per_second.sd, 0.0);
  EXPECT_EQ(report.model.file_name, "tiny-llama-Q4_K_M.gguf");  // from the model when no path
}

TEST(BenchmarkTest, DecodeBytesCountTheEmbeddingRowAndEveryOtherWeight) {
  QUANT_REQUIRE_SHARED();
  for (const char* path : {kTiedModel, kUntiedModel}) {
    SCOPED_TRACE(path);
    const model::Model model = model::Model::load(test::shared_path(path));
    EXPECT_EQ(decode_weight_bytes(model.plan()), expected_decode_bytes(model.file()));
    const ModelSummary summary = summarize_model(model);
    uint64_t bytes = 0;
    uint64_t elements = 0;
    for (const gguf::TensorInfo& tensor : model.file().tensors()) {
      bytes += tensor.n_bytes;
      elements += tensor.n_elements;
    }
    EXPECT_EQ(summary.tensor_bytes, bytes);
    EXPECT_EQ(summary.parameters, elements);
  }
}

TEST(BenchmarkTest, ReportsTheProfileAsUnavailableOnTheCpu) {
  QUANT_REQUIRE_SHARED();
  const model::Model model = model::Model::load(test::shared_path(kTiedModel));
  BenchmarkOptions options = small_options();
  options.prompt_tokens = 0;
  options.repetitions = 1;
  options.profile = true;
  Session session(model, cpu_session(options));
  const BenchmarkReport report = run_benchmark(session, "", options);
  EXPECT_FALSE(report.profile.has_value());
  EXPECT_TRUE(report.profile_unavailable);
  EXPECT_EQ(report.profile_position, 4u);            // the middle of tg8
  EXPECT_FALSE(report.prefill_profile_unavailable);  // no pp test, so not asked for
  EXPECT_EQ(session.position(), 0u);
}

TEST(BenchmarkTest, RefusesNoRepetitionsAndAShortContext) {
  QUANT_REQUIRE_SHARED();
  const model::Model model = model::Model::load(test::shared_path(kTiedModel));
  BenchmarkOptions options = small_options();
  Session session(model, cpu_session(options));
  options.repetitions = 0;
  EXPECT_THROW(run_benchmark(session, "", options), Error);
  options.repetitions = 1;
  options.prompt_tokens = session.context_length() + 1;
  EXPECT_THROW(run_benchmark(session, "", options), Error);
}

#if QUANT_HAVE_VULKAN
// The device figures and the profile through the Vulkan backend's timestamps (lavapipe in CI).
TEST(BenchmarkTest, VulkanAddsDeviceFiguresAndAProfile) {
  QUANT_REQUIRE_SHARED();
  if (vulkan::list_devices().empty()) GTEST_SKIP() << "skipped: no Vulkan device";
  const model::Model model = model::Model::load(test::shared_path(kTiedModel));
  const BenchmarkOptions options{
      .prompt_tokens = 4, .generated_tokens = 4, .repetitions = 1, .profile = true};
  SessionOptions session_options = cpu_session(options);
  session_options.backend = BackendChoice::Vulkan;
  Session session(model, session_options);
  if (!session.backend().device_counters()) GTEST_SKIP() << "skipped: the device has no timer";
  const BenchmarkReport report = run_benchmark(session, "", options);

  EXPECT_EQ(report.backend, "vulkan");
  EXPECT_FALSE(report.threads.has_value());
  ASSERT_EQ(report.tests.size(), 2u);
  for (const BenchmarkTest& test : report.tests) {
    SCOPED_TRACE(test.name);
    ASSERT_TRUE(test.device.has_value());
    EXPECT_GT(test.device->gpu_ms_per_token.mean, 0.0);
    // Device time lies inside the wall time of the run (a little slack for the two clocks).
    EXPECT_GT(test.device->busy_percent.mean, 0.0);
    EXPECT_LE(test.device->busy_percent.mean, 101.0);
    // Generated tokens go several to a submission (GreedyChain::kTokensPerSubmission: this llama
    // has no recurrent state); a prompt may go in one (the batched prefill).
    if (test.kind == BenchmarkKind::TextGeneration) {
      const double submissions = std::ceil(static_cast<double>(options.generated_tokens) /
                                           vulkan::GreedyChain::kTokensPerSubmission);
      EXPECT_DOUBLE_EQ(test.device->submits_per_token, submissions / options.generated_tokens);
    } else {
      EXPECT_GT(test.device->submits_per_token, 0.0);
    }
    EXPECT_GT(test.device->dispatches_per_token, 0.0);
  }

  ASSERT_TRUE(report.profile.has_value());
  EXPECT_FALSE(report.profile_unavailable);
  const TokenProfile& profile = *report.profile;
  EXPECT_GT(profile.totals.dispatches, 0u);
  EXPECT_GE(profile.totals.submits, 1u);
  ASSERT_FALSE(profile.dispatches.empty());
  double seconds = 0.0;
  uint64_t bytes = 0;
  for (const DispatchTiming& d : profile.dispatches) {
    EXPECT_FALSE(d.kernel.empty());
    EXPECT_GE(d.layer, -1);
    EXPECT_LT(d.layer, static_cast<int32_t>(model.hparams().n_layers));
    EXPECT_GE(d.gpu_seconds, 0.0);
    seconds += d.gpu_seconds;
    bytes += d.bytes;
  }
  EXPECT_LE(seconds, profile.totals.gpu_seconds * 1.001 + 1e-6);
  // The bindings cover every weight the token reads (the embedding table whole, not one row).
  EXPECT_GE(bytes, report.weight_bytes_per_token);

  // The pp4 prompt is one batch: the profiled submission is all of it, the head included, with a
  // time for each of its commands (the dispatches and the copies).
  ASSERT_TRUE(report.prefill_profile.has_value());
  EXPECT_FALSE(report.prefill_profile_unavailable);
  EXPECT_EQ(report.prefill_profile->n_tokens, 4u);
  const TokenProfile& prefill = report.prefill_profile->submission;
  EXPECT_EQ(prefill.totals.submits, 1u);
  EXPECT_GT(prefill.totals.gpu_seconds, 0.0);
  size_t prefill_dispatches = 0;
  for (const DispatchTiming& d : prefill.dispatches) {
    EXPECT_GE(d.gpu_seconds, 0.0) << d.op;
    if (d.kernel != "copy") ++prefill_dispatches;
  }
  EXPECT_EQ(prefill_dispatches, prefill.totals.dispatches);
  // Every dispatch of the batch lands in one kernel's total.
  uint32_t counted = 0;
  for (const KernelTotal& total : kernel_totals(prefill)) counted += total.count;
  EXPECT_EQ(counted, prefill.dispatches.size());
  EXPECT_EQ(session.position(), 0u);
}
#endif

TEST(BenchmarkTest, ContextFitsTheLongestTestAndTheProfiledToken) {
  EXPECT_EQ(benchmark_context_length({.prompt_tokens = 512, .generated_tokens = 128}), 512u);
  EXPECT_EQ(benchmark_context_length({.prompt_tokens = 16, .generated_tokens = 128}), 128u);
  EXPECT_EQ(benchmark_context_length({.prompt_tokens = 0, .generated_tokens = 0}), 1u);
  EXPECT_EQ(profile_position({.prompt_tokens = 0, .generated_tokens = 128}), 64u);
}

TEST(BenchmarkTest, SpreadIsTheMeanAndTheSampleStandardDeviation) {
  const SampleSpread s = spread_of({1.0, 2.0, 3.0, 4.0});
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.sd, std::sqrt(5.0 / 3.0));
  EXPECT_DOUBLE_EQ(spread_of({7.0}).sd, 0.0);
  EXPECT_DOUBLE_EQ(spread_of({}).mean, 0.0);
}

}  // namespace
}  // namespace quant
