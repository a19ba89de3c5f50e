#pragma once
// The whole-model comparison of the Vulkan backend with the CPU backend in exact mode (F32
// activations, the reference arithmetic), run on both side by side: the logits of a prompt fed
// token by token, a greedy continuation, and perplexity. Every mismatch is a test failure (EXPECT);
// the figures come back for the test to print and to check further.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/perplexity.h"

namespace quant::vulkan::test {

// Limits from the issue that asks for this comparison.
constexpr double kMaxRelativeError = 5e-3;     // max|vk - cpu| / max|cpu|, at every position
constexpr float kClearGap = 0.05f;             // a top1-top2 gap that rounding cannot flip
constexpr double kPerplexityTolerance = 1e-3;  // relative

constexpr uint32_t kGreedySteps = 64;
// At least this many of the CPU's greedy choices must be clear (gap > kClearGap), so that the
// greedy comparison cannot pass by comparing next to nothing.
constexpr size_t kMinClearSteps = 32;

struct ParityOptions {
  uint32_t context_length = 128;  // of both sessions
  PerplexityOptions perplexity;
};

struct ParityFigures {
  double worst_error = 0.0;  // the largest relative error at any position, prompt or greedy
  // Greedy steps the Vulkan backend chooses as the CPU does before the first that differs: the
  // length of the common prefix of the two greedy texts.
  size_t greedy_agreed = 0;
  size_t greedy_first_near_tie = 0;  // the first step the CPU chose by a gap <= kClearGap
  size_t greedy_clear_steps = 0;     // steps the CPU chose by a gap > kClearGap
  std::string submits;               // submissions per decoded token, in words
  PerplexityResult cpu_perplexity;
  PerplexityResult vulkan_perplexity;
};

// Runs `model` on a Vulkan session and an exact CPU session: feeds `prompt` one token at a time,
// then decodes kGreedySteps tokens greedily, both sessions fed the CPU's choice so that the logits
// stay comparable at every step (the Vulkan backend's own greedy text is the same up to
// greedy_agreed); then computes the perplexity of the tokenized `text` with windows starting with
// `window_start` (compute_perplexity's bos_id). Expects the limits above at every position, the
// same choice at every clear greedy step, one submission per decoded token, and the same
// perplexity.
ParityFigures expect_vulkan_matches_exact_cpu(const model::Model& model,
                                              std::span<const int32_t> prompt,
                                              std::span<const int32_t> text, int32_t window_start,
                                              const ParityOptions& options);

// One line of the figures, for the test log.
std::string describe(const ParityFigures& figures);

}  // namespace quant::vulkan::test
