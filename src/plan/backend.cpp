#include "plan/backend.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "common/error.h"

namespace quant {

int32_t greedy_token(std::span<const float> logits) {
  if (logits.empty()) fail("greedy choice: the logits vector is empty");
  size_t best = 0;
  float best_logit = -INFINITY;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best_logit) {  // strict: ties keep the lower index; NaN never passes
      best = i;
      best_logit = logits[i];
    }
  }
  if (!std::isfinite(best_logit)) fail("greedy choice: the largest logit is {}", best_logit);
  return static_cast<int32_t>(best);
}

void Backend::decode_greedy(int32_t token, uint32_t pos, uint32_t count,
                            const GreedyCallback& on_token) {
  for (uint32_t i = 0; i < count; ++i) {
    token = greedy_token(forward(token, pos + i));
    if (!on_token(token)) return;
  }
}

void Backend::forward_batch(std::span<const int32_t> tokens, uint32_t pos,
                            std::span<float> logits_out) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::span<const float> logits = forward(tokens[i], pos + static_cast<uint32_t>(i));
    assert(logits_out.size() == tokens.size() * logits.size());
    std::copy(logits.begin(), logits.end(), logits_out.begin() + i * logits.size());
  }
}

std::span<const float> Backend::prefill(std::span<const int32_t> tokens, uint32_t pos) {
  assert(!tokens.empty());
  std::span<const float> logits;
  for (size_t i = 0; i < tokens.size(); ++i)
    logits = forward(tokens[i], pos + static_cast<uint32_t>(i));
  return logits;
}

}  // namespace quant
