// The argmax kernel (greedy choice on the device) against std::max_element, with both reductions:
// random vectors at sizes that are and are not multiples of a workgroup's share, many ties, the
// largest value first or last, NaN and infinities, and one scratch reused by many dispatches.

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend/vulkan/argmax_kernel.h"
#include "backend/vulkan/kernels.h"
#include "common/error.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// std::max_element's choice, NaN counting as -infinity (the kernel's contract).
ArgmaxResult expected_argmax(std::vector<float> values) {
  for (float& value : values)
    if (std::isnan(value)) value = -kInfinity;
  const auto largest = std::max_element(values.begin(), values.end());
  return {*largest, static_cast<uint32_t>(largest - values.begin())};
}

struct ArgmaxCase {
  std::string name;
  std::vector<float> values;
};

// Integers in [0, 4): the largest value occurs many times.
std::vector<float> many_ties(uint64_t n, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int> pick(0, 3);
  std::vector<float> values(n);
  for (float& value : values) value = static_cast<float>(pick(generator));
  return values;
}

std::vector<ArgmaxCase> argmax_cases(uint64_t values_per_group) {
  std::vector<ArgmaxCase> cases;
  // Sizes around one and several workgroups' shares, and a vocabulary (Qwen3's).
  for (uint64_t n : {uint64_t{1}, uint64_t{5}, values_per_group - 1, values_per_group,
                     values_per_group + 1, 3 * values_per_group + 7, uint64_t{151936}}) {
    const auto seed = static_cast<uint32_t>(n);
    cases.push_back({"random " + std::to_string(n), random_floats(n, seed, -20.0f, 20.0f)});
    cases.push_back({"ties " + std::to_string(n), many_ties(n, seed + 1)});
  }
  std::vector<float> last = random_floats(4099, 7);
  last.back() = 2.0f;
  cases.push_back({"largest last", last});
  std::vector<float> first = random_floats(4099, 8);
  first.front() = 2.0f;
  first.back() = 2.0f;
  cases.push_back({"largest first and last", first});
  std::vector<float> nan_first = random_floats(1000, 9);
  for (size_t i = 0; i < nan_first.size(); i += 3) nan_first[i] = kNaN;
  cases.push_back({"NaN among the values and first", nan_first});
  cases.push_back({"all NaN", std::vector<float>(700, kNaN)});
  std::vector<float> nan_and_minus_infinity(700, -kInfinity);
  nan_and_minus_infinity[0] = kNaN;
  nan_and_minus_infinity[650] = kNaN;
  cases.push_back({"NaN and -infinity", nan_and_minus_infinity});
  std::vector<float> infinity = random_floats(3000, 10);
  infinity[2500] = kInfinity;
  infinity[2900] = kInfinity;
  infinity[100] = kNaN;
  cases.push_back({"+infinity twice", infinity});
  std::vector<float> zeros(600, -1.0f);
  zeros[400] = -0.0f;
  zeros[500] = 0.0f;
  cases.push_back({"-0 and +0 tie", zeros});
  std::vector<float> near_zeros(600, -1.0f);
  near_zeros[1] = -0.0f;
  near_zeros[2] = 0.0f;
  cases.push_back({"-0 and +0 tie side by side", near_zeros});
  near_zeros[1] = 0.0f;
  near_zeros[2] = -0.0f;
  cases.push_back({"+0 and -0 tie side by side", near_zeros});
  return cases;
}

class ArgmaxTest : public VulkanTest, public ::testing::WithParamInterface<bool> {
 protected:
  ArgmaxResult read_result(const Buffer& result, uint64_t offset = 0) {
    ArgmaxResult value;
    std::memcpy(&value, result.mapped().data() + offset, sizeof(value));
    return value;
  }
};

void expect_same(const ArgmaxResult& actual, const ArgmaxResult& expected,
                 const std::string& what) {
  EXPECT_EQ(actual.index, expected.index) << what;
  // Bit for bit: the value at that index, -0 included.
  EXPECT_EQ(std::bit_cast<uint32_t>(actual.value), std::bit_cast<uint32_t>(expected.value))
      << what << ": " << actual.value << " vs " << expected.value;
}

TEST_P(ArgmaxTest, MatchesMaxElement) {
  Pipelines& kernels = pipelines(GetParam());
  const std::vector<ArgmaxCase> cases = argmax_cases(argmax_values_per_group(kernels));
  // One scratch for every case: each dispatch must leave it as it found it.
  Buffer scratch = make_buffer(argmax_scratch_bytes(kernels, 151936));
  transfer().fill_zero(scratch);
  Buffer result = make_buffer(sizeof(ArgmaxResult), MemoryRole::Staging, "result");
  for (const ArgmaxCase& c : cases) {
    Buffer values = upload_floats(c.values);
    CommandSequence sequence(kernels);
    sequence.begin();
    encode_argmax(sequence, whole(values), static_cast<uint32_t>(c.values.size()), whole(scratch),
                  whole(result));
    sequence.end();
    sequence.submit_and_wait();
    expect_same(read_result(result), expected_argmax(c.values), c.name);
  }
}

// Several dispatches in one recording share the scratch (each waits for the one before) and give
// each its own answer; the recording submitted again gives the same ones.
TEST_P(ArgmaxTest, DispatchesShareTheScratch) {
  Pipelines& kernels = pipelines(GetParam());
  const std::vector<uint32_t> sizes = {3000, 17, 151936};
  std::vector<std::vector<float>> inputs;
  std::vector<Buffer> values;
  for (uint32_t n : sizes) {
    inputs.push_back(random_floats(n, n, -5.0f, 5.0f));
    values.push_back(upload_floats(inputs.back()));
  }
  Buffer scratch = make_buffer(argmax_scratch_bytes(kernels, 151936));
  transfer().fill_zero(scratch);
  // Results 16 bytes apart: each binding starts at an allowed offset.
  const uint64_t stride =
      std::max<uint64_t>(16, context().info().min_storage_buffer_offset_alignment);
  Buffer results = make_buffer(stride * sizes.size(), MemoryRole::Staging, "results");
  CommandSequence sequence(kernels);
  sequence.begin();
  for (size_t i = 0; i < sizes.size(); ++i)
    encode_argmax(sequence, whole(values[i]), sizes[i], whole(scratch),
                  {&results, i * stride, sizeof(ArgmaxResult)});
  sequence.end();
  for (int submission = 0; submission < 2; ++submission) {
    std::memset(results.mapped().data(), 0xff, results.size());
    sequence.submit_and_wait();
    for (size_t i = 0; i < sizes.size(); ++i)
      expect_same(
          read_result(results, i * stride), expected_argmax(inputs[i]),
          "size " + std::to_string(sizes[i]) + ", submission " + std::to_string(submission));
  }
}

// With next step inputs, the index becomes their token and their position moves on by one, in every
// submission of the recording (a greedy chain's: greedy_chain.h); the result is written as before.
TEST_P(ArgmaxTest, AdvancesTheNextStepInputs) {
  Pipelines& kernels = pipelines(GetParam());
  const std::vector<float> input = random_floats(5000, 11, -5.0f, 5.0f);
  Buffer values = upload_floats(input);
  Buffer scratch = make_buffer(argmax_scratch_bytes(kernels, input.size()));
  transfer().fill_zero(scratch);
  Buffer result = make_buffer(sizeof(ArgmaxResult), MemoryRole::Staging, "result");
  Buffer step = make_buffer(sizeof(StepInputs), MemoryRole::Staging, "step");
  const StepInputs first{123, 41};
  std::memcpy(step.mapped().data(), &first, sizeof(first));
  CommandSequence sequence(kernels);
  sequence.begin();
  const BufferRange next_step = whole(step);
  encode_argmax(sequence, whole(values), static_cast<uint32_t>(input.size()), whole(scratch),
                whole(result), &next_step);
  sequence.end();
  const ArgmaxResult expected = expected_argmax(input);
  for (uint32_t submission = 1; submission <= 2; ++submission) {
    sequence.submit_and_wait();
    expect_same(read_result(result), expected, "submission " + std::to_string(submission));
    StepInputs now;
    std::memcpy(&now, step.mapped().data(), sizeof(now));
    EXPECT_EQ(now.token, expected.index);
    EXPECT_EQ(now.pos, first.pos + submission);
  }
  const BufferRange too_small{&step, 0, 4};
  sequence.begin();
  EXPECT_THROW(
      encode_argmax(sequence, whole(values), 64, whole(scratch), whole(result), &too_small), Error);
  sequence.end();
}

TEST_P(ArgmaxTest, RefusesBadBindings) {
  Pipelines& kernels = pipelines(GetParam());
  Buffer values = make_buffer(64 * sizeof(float));
  Buffer scratch = make_buffer(argmax_scratch_bytes(kernels, 64));
  Buffer result = make_buffer(sizeof(ArgmaxResult), MemoryRole::Staging, "result");
  CommandSequence sequence(kernels);
  sequence.begin();
  EXPECT_THROW(encode_argmax(sequence, whole(values), 0, whole(scratch), whole(result)), Error);
  EXPECT_THROW(encode_argmax(sequence, whole(values), 65, whole(scratch), whole(result)), Error);
  EXPECT_THROW(encode_argmax(sequence, whole(values), 64, {&scratch, 0, 4}, whole(result)), Error);
  EXPECT_THROW(encode_argmax(sequence, whole(values), 64, whole(scratch), {&result, 0, 4}), Error);
  sequence.end();
}

INSTANTIATE_TEST_SUITE_P(BothReductions, ArgmaxTest, ::testing::Bool(), reduction_case_name);

}  // namespace
}  // namespace quant::vulkan::test
