// Greedy decoding on the device (VulkanBackend::decode_greedy: the argmax on the GPU, several
// tokens per submission, the next submission queued behind the current one) against forward() and
// greedy_token() on the host, token by token, on the shared tiny models: the same tokens, across
// the switch from the short-position recordings to the whole-context ones, through a stop and a
// continuation, and after the caller's exception. Validation (with synchronization validation) is
// on; any message fails the test.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/vulkan/greedy_chain.h"
#include "backend/vulkan/kernels.h"
#include "backend/vulkan/vulkan_backend.h"
#include "common/error.h"
#include "common/shared_data.h"
#include "model/model.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr int32_t kFirstToken = 1;

struct GreedyCase {
  const char* file;
  // Tokens decoded from position 0, and the context length: more than the short-position
  // recordings reach (64 and 32 positions on lavapipe at subgroup sizes 8 and 4) where the model is
  // fast enough, so that decoding uses both kinds of recording.
  uint32_t tokens;
};

void PrintTo(const GreedyCase& greedy_case, std::ostream* os) {
  *os << greedy_case.file;
}

// The host's way: forward() then greedy_token(), from position 0 of an empty sequence.
std::vector<int32_t> host_greedy_tokens(VulkanBackend& backend, uint32_t count) {
  backend.reset();
  std::vector<int32_t> tokens;
  int32_t token = kFirstToken;
  for (uint32_t pos = 0; pos < count; ++pos) {
    token = greedy_token(backend.forward(token, pos));
    tokens.push_back(token);
  }
  backend.reset();
  return tokens;
}

uint64_t submits(const VulkanBackend& backend) {
  return backend.device_counters() ? backend.device_counters()->submits : 0;
}

class GreedyDecodingTest : public ::testing::TestWithParam<GreedyCase> {};

TEST_P(GreedyDecodingTest, ChoosesAsTheHostDoes) {
  QUANT_REQUIRE_SHARED();
  const std::string skip = vulkan_unavailable_reason();
  if (!skip.empty()) GTEST_SKIP() << "skipped: " << skip;
  const GreedyCase& c = GetParam();
  const model::Model model =
      model::Model::load(quant::test::shared_path(std::string("data/models/") + c.file));
  VulkanBackend backend(
      model.plan(),
      VulkanBackendOptions{.context_length = c.tokens, .validation = true, .pipelines = {}});
  keep_vulkan_libraries_loaded();
  const bool timed = backend.device_counters().has_value();
  // Plans without recurrent states take several tokens per submission and keep a second
  // submission in flight; the others one token in one submission.
  const uint32_t per_submission =
      model.plan().states.empty() ? GreedyChain::kTokensPerSubmission : 1;
  const uint32_t in_flight = model.plan().states.empty() ? GreedyChain::kSubmissions : 1;
  // The submissions made for `count` tokens when the caller stops after `handed_out`.
  const auto submissions = [&](uint32_t count, uint32_t handed_out) -> uint64_t {
    const uint32_t last = (handed_out - 1) / per_submission;  // holds the last token handed out
    const uint32_t total = (count + per_submission - 1) / per_submission;
    return std::min(last + in_flight, total);
  };
  const bool both_recordings =
      c.tokens > attention_single_dispatch_positions(Pipelines(backend.context()));

  const std::vector<int32_t> expected = host_greedy_tokens(backend, c.tokens);

  // All the way to the end of the context.
  std::vector<int32_t> tokens;
  uint64_t before = submits(backend);
  backend.decode_greedy(kFirstToken, 0, c.tokens, [&](int32_t token) {
    tokens.push_back(token);
    return true;
  });
  EXPECT_EQ(tokens, expected);
  if (timed) {
    EXPECT_EQ(submits(backend) - before, submissions(c.tokens, c.tokens));
  }

  // A stop after a few tokens (within a submission where it takes several), then the rest from
  // there (not a whole number of submissions): the tokens fed past the stop leave nothing the
  // continuation sees.
  for (uint32_t stop_after : {1u, c.tokens / 2}) {
    SCOPED_TRACE("stop after " + std::to_string(stop_after));
    backend.reset();
    tokens.clear();
    before = submits(backend);
    backend.decode_greedy(kFirstToken, 0, c.tokens, [&](int32_t token) {
      tokens.push_back(token);
      return tokens.size() < stop_after;
    });
    ASSERT_EQ(tokens.size(), stop_after);
    if (timed) {
      EXPECT_EQ(submits(backend) - before, submissions(c.tokens, stop_after));
    }
    backend.decode_greedy(tokens.back(), stop_after, c.tokens - stop_after, [&](int32_t token) {
      tokens.push_back(token);
      return true;
    });
    EXPECT_EQ(tokens, expected);
  }

  // An exception from the caller ends decoding the same way (the tokens in flight are waited
  // for), and reaches the caller.
  backend.reset();
  tokens.clear();
  EXPECT_THROW(backend.decode_greedy(kFirstToken, 0, c.tokens,
                                     [&](int32_t token) -> bool {
                                       tokens.push_back(token);
                                       if (tokens.size() == 3) throw std::runtime_error("enough");
                                       return true;
                                     }),
               std::runtime_error);
  backend.decode_greedy(tokens.back(), 3, 5, [&](int32_t token) {
    tokens.push_back(token);
    return true;
  });
  EXPECT_EQ(tokens, std::vector<int32_t>(expected.begin(), expected.begin() + 8));

  // Nothing past the context, nothing outside the vocabulary.
  EXPECT_THROW(backend.decode_greedy(kFirstToken, 1, c.tokens, [](int32_t) { return true; }),
               Error);
  EXPECT_THROW(backend.decode_greedy(-1, 0, 1, [](int32_t) { return true; }), Error);

  std::printf("[greedy] %s subgroup=%u: %u tokens as the host chose them%s\n", c.file,
              backend.context().info().subgroup_size, c.tokens,
              both_recordings ? ", short-position and whole-context recordings" : "");
  for (const std::string& message : backend.context().validation_messages())
    ADD_FAILURE() << "validation message: " << message;
}

std::string file_case_name(const ::testing::TestParamInfo<GreedyCase>& param) {
  std::string name = param.param.file;
  name = name.substr(0, name.find(".gguf"));
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

// An F32 llama, a quantized one, and a hybrid with recurrent states (one token in flight).
INSTANTIATE_TEST_SUITE_P(TinyModels, GreedyDecodingTest,
                         ::testing::Values(GreedyCase{"stories260K-f32.gguf", 136},
                                           GreedyCase{"tiny-llama-Q8_0.gguf", 40},
                                           GreedyCase{"tiny-qwen35-f16.gguf", 12}),
                         file_case_name);

}  // namespace
}  // namespace quant::vulkan::test
