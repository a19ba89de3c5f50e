#include "model_parity.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "logit_compare.h"
#include "plan/backend.h"
#include "runtime/reference_data.h"
#include "runtime/session.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

// The error `limits` measure at one position.
double parity_error(std::span<const float> vulkan, std::span<const float> cpu,
                    const ParityLimits& limits) {
  return limits.absolute ? quant::test::max_abs_difference(vulkan, cpu)
                         : quant::test::relative_error(vulkan, cpu);
}

// Whether the CPU's choice at a position is clear by `limits`.
bool clear_choice(std::span<const float> cpu, const ParityLimits& limits) {
  double max_magnitude = 0.0;
  for (const float value : cpu) max_magnitude = std::max(max_magnitude, std::fabs(double{value}));
  const double allowed = limits.absolute ? limits.max_error : limits.max_error * max_magnitude;
  return top_two(cpu).gap > std::max(limits.min_clear_gap, limits.clear_gap_errors * allowed);
}

// Compares one position's logits; returns the error.
double expect_close(std::span<const float> vulkan, std::span<const float> cpu,
                    const ParityLimits& limits, const std::string& where) {
  const double error = parity_error(vulkan, cpu, limits);
  EXPECT_LE(error, limits.max_error) << where;
  if (clear_choice(cpu, limits)) {
    EXPECT_EQ(top_two(vulkan).top1, top_two(cpu).top1) << where;
  }
  return error;
}

}  // namespace

ParityLimits int8_parity_limits(const std::string& model, double perplexity_tolerance) {
  const quant::test::ReferenceTolerance tolerance = quant::test::reference_tolerance(model);
  return ParityLimits{.max_error = tolerance.max_error,
                      .absolute = tolerance.absolute,
                      .min_clear_gap = tolerance.near_tie,
                      .clear_gap_errors = 2.0,
                      .min_clear_steps = tolerance.absolute ? 0u : 32u,
                      .perplexity = perplexity_tolerance};
}

ParityFigures expect_vulkan_matches_cpu(const model::Model& model, std::span<const int32_t> prompt,
                                        std::span<const int32_t> text, int32_t window_start,
                                        const ParityOptions& options) {
  // One CPU thread: ctest runs two tests at once on the two cores CI has, and the Vulkan side
  // (lavapipe) takes a core of its own.
  Session cpu(model, SessionOptions{.backend = BackendChoice::Cpu,
                                    .threads = 1,
                                    .context_length = options.context_length,
                                    .exact_activations = options.exact_activations});
  Session vulkan(model, SessionOptions{.backend = BackendChoice::Vulkan,
                                       .context_length = options.context_length,
                                       .exact_activations = options.exact_activations});
  keep_vulkan_libraries_loaded();
  ParityFigures figures;

  std::span<const float> cpu_logits;
  std::span<const float> vulkan_logits;
  for (size_t pos = 0; pos < prompt.size(); ++pos) {
    cpu_logits = cpu.forward(prompt[pos]);
    vulkan_logits = vulkan.forward(prompt[pos]);
    figures.worst_error =
        std::max(figures.worst_error, expect_close(vulkan_logits, cpu_logits, options.limits,
                                                   fmt::format("prompt position {}", pos)));
  }

  // Greedy decoding, both sessions fed the CPU's choice. Step 0 chooses from the prompt's last
  // logits, compared above.
  const std::optional<DeviceCounters> before = vulkan.backend().device_counters();
  const uint32_t position_before = vulkan.position();
  figures.greedy_first_near_tie = kGreedySteps;
  figures.greedy_agreed = kGreedySteps;
  for (uint32_t step = 0; step < kGreedySteps; ++step) {
    const TopTwo choice = top_two(cpu_logits);
    if (clear_choice(cpu_logits, options.limits)) {
      ++figures.greedy_clear_steps;
    } else {
      figures.greedy_first_near_tie = std::min<size_t>(figures.greedy_first_near_tie, step);
    }
    if (top_two(vulkan_logits).top1 != choice.top1)
      figures.greedy_agreed = std::min<size_t>(figures.greedy_agreed, step);
    if (step + 1 == kGreedySteps) break;
    cpu_logits = cpu.forward(choice.top1);
    vulkan_logits = vulkan.forward(choice.top1);
    figures.worst_error =
        std::max(figures.worst_error, expect_close(vulkan_logits, cpu_logits, options.limits,
                                                   fmt::format("greedy step {}", step + 1)));
  }
  EXPECT_GE(figures.greedy_agreed, figures.greedy_first_near_tie)
      << "the greedy texts differ before the CPU's first near-tie";
  EXPECT_GE(figures.greedy_clear_steps, options.limits.min_clear_steps)
      << "too few clear greedy steps for a meaningful comparison";

  const uint32_t decoded = vulkan.position() - position_before;
  const std::optional<DeviceCounters> after = vulkan.backend().device_counters();
  figures.submits = "no device counters";
  if (before && after) {
    EXPECT_EQ(after->submits - before->submits, decoded) << "submissions while decoding";
    figures.submits =
        fmt::format("{} submits for {} tokens", after->submits - before->submits, decoded);
  }

  figures.cpu_perplexity = compute_perplexity(cpu, text, window_start, options.perplexity);
  figures.vulkan_perplexity = compute_perplexity(vulkan, text, window_start, options.perplexity);
  EXPECT_EQ(figures.vulkan_perplexity.tokens_scored, figures.cpu_perplexity.tokens_scored);
  EXPECT_NEAR(figures.vulkan_perplexity.ppl / figures.cpu_perplexity.ppl, 1.0,
              options.limits.perplexity)
      << "perplexity: cpu " << figures.cpu_perplexity.ppl << ", vulkan "
      << figures.vulkan_perplexity.ppl;
  return figures;
}

std::string describe(const ParityFigures& figures) {
  return fmt::format(
      "max error {:.2e}; greedy: same text for {} tokens, first near-tie at {}, {} clear "
      "steps; ppl cpu {:.4f} vulkan {:.4f} ({:+.2e}) over {} tokens; {}",
      figures.worst_error, figures.greedy_agreed, figures.greedy_first_near_tie,
      figures.greedy_clear_steps, figures.cpu_perplexity.ppl, figures.vulkan_perplexity.ppl,
      figures.vulkan_perplexity.ppl / figures.cpu_perplexity.ppl - 1.0,
      figures.vulkan_perplexity.tokens_scored, figures.submits);
}

}  // namespace quant::vulkan::test
