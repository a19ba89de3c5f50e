#include "plan/backend.h"

#include <algorithm>
#include <cassert>

namespace quant {

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
