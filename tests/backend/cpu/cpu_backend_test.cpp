// The CPU backend's two MatVec paths on a small plan (Embed, two MatVecs of one input that the fast
// path runs as one step, an Add that rewrites that input, two more MatVecs): the exact path gives
// the bits of the reference kernels, the fast path stays close to it, and neither the thread count
// nor batching changes a bit.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels.h"
#include "plan/plan.h"

namespace quant::cpu {
namespace {

constexpr uint64_t kWidth = 512;  // columns of every matrix, and rows of the square one
constexpr uint32_t kVocab = 300;  // rows of the output matrix: no multiple of a thread's chunk
const std::vector<int32_t> kTokens = {5, 17, 2, 299, 0, 42, 8};

std::vector<float> normal_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

std::vector<uint8_t> quantized(TensorType type, uint64_t rows, uint32_t seed) {
  const std::vector<float> values = normal_values(rows * kWidth, seed);
  std::vector<uint8_t> bytes(rows * *row_bytes(type, kWidth));
  quantize_rows(type, values.data(), bytes.data(), static_cast<int64_t>(rows), kWidth);
  return bytes;
}

// x = embed(token); h = W·x; g = U·x; x = h + g; h = W·x; logits = V·x.
struct TestModel {
  std::vector<uint8_t> table, square, square2, output;
  plan::Plan plan;

  explicit TestModel(TensorType type)
      : table(quantized(TensorType::F32, kVocab, 1)),
        square(quantized(type, kWidth, 2)),
        square2(quantized(type, kWidth, 4)),
        output(quantized(type, kVocab, 3)) {
    const plan::WeightId t = plan.add_weight(
        {.name = "table", .type = TensorType::F32, .dims = {kWidth, kVocab}, .data = table});
    const plan::WeightId w =
        plan.add_weight({.name = "square", .type = type, .dims = {kWidth, kWidth}, .data = square});
    const plan::WeightId v =
        plan.add_weight({.name = "output", .type = type, .dims = {kWidth, kVocab}, .data = output});
    const plan::WeightId u = plan.add_weight(
        {.name = "square2", .type = type, .dims = {kWidth, kWidth}, .data = square2});
    const plan::BufferId x = plan.add_buffer("x", kWidth);
    const plan::BufferId h = plan.add_buffer("h", kWidth);
    const plan::BufferId g = plan.add_buffer("g", kWidth);
    plan.logits = plan.add_buffer("logits", kVocab);
    plan.n_vocab = kVocab;
    plan.add_op(plan::Embed{.table = t, .out = x}, "embed", -1);
    // h and g: one step on the fast path.
    plan.add_op(plan::MatVec{.weight = w, .in = x, .out = h}, "h", 0);
    plan.add_op(plan::MatVec{.weight = u, .in = x, .out = g}, "g", 0);
    plan.add_op(plan::Add{.a = h, .b = g, .out = x}, "x", 0);
    plan.add_op(plan::MatVec{.weight = w, .in = x, .out = h}, "h", 1);
    plan.add_op(plan::MatVec{.weight = v, .in = x, .out = plan.logits}, "logits", -1);
    plan::check_plan(plan);
  }

  // The logits of `token` computed with the reference kernels directly.
  std::vector<float> reference(int32_t token) const {
    const auto matrix = [](const plan::WeightRef& w) {
      const TypeTraits& traits = type_traits(w.type);
      return WeightMatrix{.data = w.data.data(),
                          .type = w.type,
                          .dequantize_row = traits.dequantize_row,
                          .cols = w.row_length(),
                          .rows = w.n_rows(),
                          .row_bytes = *row_bytes(w.type, w.row_length())};
    };
    std::vector<float> x(kWidth), h(kWidth), g(kWidth), logits(kVocab), scratch(kWidth);
    embed(matrix(plan.weights[0]), token, x.data());
    const WeightMatrix w = matrix(plan.weights[1]), v = matrix(plan.weights[2]),
                       u = matrix(plan.weights[3]);
    matvec_rows(w, x.data(), 0, h.data(), 0, 1, 0, kWidth, scratch.data());
    matvec_rows(u, x.data(), 0, g.data(), 0, 1, 0, kWidth, scratch.data());
    add(h.data(), g.data(), x.data(), kWidth);
    matvec_rows(w, x.data(), 0, h.data(), 0, 1, 0, kWidth, scratch.data());
    matvec_rows(v, x.data(), 0, logits.data(), 0, 1, 0, kVocab, scratch.data());
    return logits;
  }
};

std::vector<float> run_one_at_a_time(Backend& backend) {
  std::vector<float> all;
  for (size_t i = 0; i < kTokens.size(); ++i) {
    const std::span<const float> logits = backend.forward(kTokens[i], static_cast<uint32_t>(i));
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

CpuBackendOptions options(uint32_t threads, bool exact, uint32_t max_batch = 32) {
  return CpuBackendOptions{
      .threads = threads, .context_length = 16, .max_batch = max_batch, .exact_activations = exact};
}

const TensorType kTypes[] = {TensorType::F16,  TensorType::Q8_0, TensorType::Q4_0,
                             TensorType::Q4_1, TensorType::Q5_0, TensorType::Q4_K,
                             TensorType::Q5_K, TensorType::Q6_K};

TEST(CpuBackendMatvecTest, ExactModeGivesTheReferenceKernelsBits) {
  for (const TensorType type : kTypes) {
    const TestModel model(type);
    CpuBackend backend(model.plan, options(2, true));
    std::vector<float> expected;
    for (const int32_t token : kTokens) {
      const std::vector<float> logits = model.reference(token);
      expected.insert(expected.end(), logits.begin(), logits.end());
    }
    EXPECT_EQ(run_one_at_a_time(backend), expected) << type_traits(type).name;
  }
}

TEST(CpuBackendMatvecTest, FastModeStaysCloseToExactMode) {
  for (const TensorType type : kTypes) {
    const TestModel model(type);
    CpuBackend exact(model.plan, options(2, true));
    CpuBackend fast(model.plan, options(2, false));
    const std::vector<float> expected = run_one_at_a_time(exact);
    const std::vector<float> got = run_one_at_a_time(fast);
    float max_ref = 0.0f, max_diff = 0.0f;
    for (size_t i = 0; i < got.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs(expected[i]));
      max_diff = std::max(max_diff, std::fabs(got[i] - expected[i]));
    }
    // int8 activations cost about 1/127 of a block's largest value per element; F16 weights keep
    // F32 activations.
    const float limit = type == TensorType::F16 ? 1e-5f : 1.5e-2f;
    EXPECT_LE(max_diff / max_ref, limit) << type_traits(type).name;
    std::printf("  %s: fast vs exact max |diff| / max |ref| = %.2e (%s kernels)\n",
                std::string(type_traits(type).name).c_str(), max_diff / max_ref,
                std::string(isa_name(fast.isa())).c_str());
  }
}

TEST(CpuBackendMatvecTest, ThreadCountsAndBatchesGiveTheSameBits) {
  for (const TensorType type : kTypes) {
    const TestModel model(type);
    CpuBackend one(model.plan, options(1, false));
    const std::vector<float> expected = run_one_at_a_time(one);
    for (const uint32_t threads : {2u, 3u}) {
      CpuBackend backend(model.plan, options(threads, false));
      EXPECT_EQ(run_one_at_a_time(backend), expected)
          << type_traits(type).name << ", " << threads << " threads";
    }
    // Steps of 4 and 3 tokens.
    CpuBackend batched(model.plan, options(2, false, 4));
    std::vector<float> got(kTokens.size() * kVocab);
    batched.forward_batch(kTokens, 0, got);
    EXPECT_EQ(got, expected) << type_traits(type).name << ", batched";
  }
}

}  // namespace
}  // namespace quant::cpu
