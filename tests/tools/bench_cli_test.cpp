// `quant bench` as a user runs it, on a shared tiny model with the CPU backend: the JSON object's
// shape and figures, the llama-bench-style table, the profile on a backend without a device timer,
// and a clean error for a missing file; with the Vulkan backend, the profiles of a decode token and
// of a batched prefill. Nothing here asserts a speed.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "gguf/gguf_file.h"
#include "tools/tool_test_support.h"

#if QUANT_HAVE_VULKAN
#include "backend/vulkan/context.h"
#endif

namespace quant::test {
namespace {

const char* const kModel = "data/models/tiny-llama-Q4_K_M.gguf";

std::vector<std::string> bench_args(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"bench", shared_path(kModel), "-p",  "16", "-n", "8", "-r",
                                   "1",     "--backend",         "cpu", "-t", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(BenchCliTest, JsonHasTheModelTheTestsAndTheDecodeBytes) {
  QUANT_REQUIRE_SHARED();
  const CommandResult result = run_quant(bench_args({"--json", "--profile"}));
  ASSERT_EQ(result.exit_code, 0);
  const nlohmann::json j = nlohmann::json::parse(result.output);

  const gguf::GgufFile file = gguf::GgufFile::open(shared_path(kModel));
  uint64_t bytes = 0;
  uint64_t elements = 0;
  for (const gguf::TensorInfo& tensor : file.tensors()) {
    bytes += tensor.n_bytes;
    elements += tensor.n_elements;
  }
  EXPECT_EQ(j.at("model").at("file"), "tiny-llama-Q4_K_M.gguf");
  EXPECT_EQ(j.at("model").at("architecture"), "llama");
  EXPECT_EQ(j.at("model").at("size_bytes").get<uint64_t>(), bytes);
  EXPECT_EQ(j.at("model").at("parameters").get<uint64_t>(), elements);
  EXPECT_EQ(j.at("backend"), "cpu");
  EXPECT_EQ(j.at("threads"), 1);
  EXPECT_EQ(j.at("options").at("prompt_tokens"), 16);
  EXPECT_EQ(j.at("options").at("generated_tokens"), 8);
  EXPECT_EQ(j.at("options").at("repetitions"), 1);

  // Tied embeddings: every tensor once, plus the one token_embd row the lookup reads.
  const gguf::TensorInfo* table = file.find_tensor("token_embd.weight");
  ASSERT_NE(table, nullptr);
  ASSERT_EQ(file.find_tensor("output.weight"), nullptr);
  const uint64_t per_token = j.at("weight_bytes_per_token").get<uint64_t>();
  EXPECT_EQ(per_token, bytes + table->n_bytes / table->rows());

  const nlohmann::json& tests = j.at("tests");
  ASSERT_EQ(tests.size(), 2u);
  EXPECT_EQ(tests[0].at("name"), "pp16");
  EXPECT_EQ(tests[0].at("kind"), "pp");
  EXPECT_FALSE(tests[0].contains("weight_gigabytes_per_second"));
  EXPECT_EQ(tests[1].at("name"), "tg8");
  EXPECT_EQ(tests[1].at("kind"), "tg");
  for (const nlohmann::json& test : tests) {
    SCOPED_TRACE(test.dump());
    ASSERT_EQ(test.at("seconds").size(), 1u);
    const double seconds = test.at("seconds")[0].get<double>();
    const double n_tokens = test.at("n_tokens").get<double>();
    EXPECT_GT(seconds, 0.0);
    EXPECT_NEAR(test.at("tokens_per_second").at("mean").get<double>(), n_tokens / seconds,
                1e-6 * n_tokens / seconds);
    EXPECT_EQ(test.at("tokens_per_second").at("sd").get<double>(), 0.0);
    EXPECT_TRUE(test.at("ms_per_token").contains("mean"));
    EXPECT_FALSE(test.contains("device"));  // the CPU has no device timer
  }
  const double tg_rate = tests[1].at("tokens_per_second").at("mean").get<double>();
  EXPECT_NEAR(tests[1].at("weight_gigabytes_per_second").get<double>(),
              static_cast<double>(per_token) * tg_rate * 1e-9, 1e-6 * per_token * tg_rate * 1e-9);

  EXPECT_EQ(j.at("profile").at("available"), false);
  EXPECT_EQ(j.at("profile").at("position"), 4);
  EXPECT_EQ(j.at("prefill_profile").at("available"), false);
}

TEST(BenchCliTest, TablePrintsOneRowPerTest) {
  QUANT_REQUIRE_SHARED();
  const CommandResult result = run_quant(bench_args({"--profile"}));
  ASSERT_EQ(result.exit_code, 0);
  const std::string& out = result.output;
  EXPECT_NE(out.find("| model"), std::string::npos) << out;
  EXPECT_NE(out.find("| threads |"), std::string::npos) << out;
  EXPECT_EQ(out.find("GPU"), std::string::npos) << out;  // no GPU columns on the CPU
  for (const char* test : {"pp16", "tg8"}) {
    const size_t row = out.find(std::string(" ") + test + " |");
    ASSERT_NE(row, std::string::npos) << test << "\n" << out;
    const size_t start = out.rfind('\n', row) + 1;
    const std::string line = out.substr(start, out.find('\n', row) - start);
    EXPECT_NE(line.find("tiny-llama-Q4_K_M.gguf"), std::string::npos) << line;
    EXPECT_NE(line.find("| cpu "), std::string::npos) << line;
    EXPECT_NE(line.find(" ± "), std::string::npos) << line;
  }
  EXPECT_NE(out.find("profile: not available on the cpu backend"), std::string::npos) << out;
}

#if QUANT_HAVE_VULKAN
// The JSON of `--profile` through the Vulkan backend's timestamps (lavapipe in CI): the pp16 prompt
// is one batch, profiled command by command as the decode token is.
TEST(BenchCliTest, VulkanJsonHasTheDecodeAndThePrefillProfiles) {
  QUANT_REQUIRE_SHARED();
  if (vulkan::list_devices().empty()) GTEST_SKIP() << "skipped: no Vulkan device";
  const CommandResult result = run_quant({"bench", shared_path(kModel), "-p", "16", "-n", "8", "-r",
                                          "1", "--backend", "vulkan", "--json", "--profile"});
  ASSERT_EQ(result.exit_code, 0);
  const nlohmann::json j = nlohmann::json::parse(result.output);
  EXPECT_EQ(j.at("backend"), "vulkan");
  if (!j.at("profile").at("available")) GTEST_SKIP() << "skipped: the device has no timer";

  ASSERT_EQ(j.at("prefill_profile").at("available"), true);
  EXPECT_EQ(j.at("prefill_profile").at("n_tokens"), 16);
  for (const char* key : {"profile", "prefill_profile"}) {
    SCOPED_TRACE(key);
    const nlohmann::json& profile = j.at(key);
    EXPECT_EQ(profile.at("totals").at("submits"), 1);
    EXPECT_GT(profile.at("totals").at("gpu_seconds").get<double>(), 0.0);
    // One entry per recorded command: the submission's dispatches, and its copies.
    uint64_t dispatches = 0;
    double seconds = 0.0;
    for (const nlohmann::json& d : profile.at("dispatches")) {
      EXPECT_GE(d.at("gpu_seconds").get<double>(), 0.0) << d.dump();
      seconds += d.at("gpu_seconds").get<double>();
      if (d.at("kernel") != "copy") ++dispatches;
    }
    EXPECT_EQ(dispatches, profile.at("totals").at("dispatches").get<uint64_t>());
    EXPECT_GT(seconds, 0.0);
    // The per-kernel totals count every command once.
    uint64_t counted = 0;
    for (const nlohmann::json& kernel : profile.at("kernels"))
      counted += kernel.at("count").get<uint64_t>();
    EXPECT_EQ(counted, profile.at("dispatches").size());
  }
}
#endif

TEST(BenchCliTest, MissingModelFailsCleanly) {
  ScratchDir scratch;
  const CommandResult result = run_quant({"bench", scratch.file("absent.gguf"), "-r", "1"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(result.output.empty()) << result.output;
}

}  // namespace
}  // namespace quant::test
