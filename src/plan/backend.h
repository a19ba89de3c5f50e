#pragma once
// The contract every backend (CPU, Vulkan) implements: run a checked Plan for one token at a time.
// A backend is created for one plan and one context length; it owns the activation buffers and the
// state the plan declares (KV caches, recurrent states), sized once at creation. The Session
// (src/runtime/session.h) owns the position and checks the context limit and the token range before
// calling forward().

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "plan/plan.h"

namespace quant {

// Called after each op that writes a buffer, in plan order, with that buffer's value (F32, the size
// declared in the plan). The span is valid only during the call. Used to dump intermediates.
using PlanObserver = std::function<void(const plan::Op& op, std::span<const float> value)>;

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", "vulkan": how the run header and errors name it.
  virtual std::string_view name() const = 0;

  // Runs the plan for `token` (0 <= token < n_vocab) at position `pos` (< the context length).
  // State for positions 0..pos-1 is what earlier calls since the last reset() stored. Returns the
  // n_vocab logits, valid until the next forward() or reset().
  virtual std::span<const float> forward(int32_t token, uint32_t pos) = 0;

  // The same, calling `observer` after each op that writes a buffer (slower; for debugging and
  // tests).
  virtual std::span<const float> forward_observed(int32_t token, uint32_t pos,
                                                  const PlanObserver& observer) = 0;

  // Runs tokens[i] at position pos + i, in order, and writes row i of `logits_out` (tokens.size() x
  // n_vocab floats) with the logits after tokens[i]: the same as calling forward() for each token.
  // The default does exactly that; a backend may process the tokens together (prompt prefill,
  // perplexity).
  virtual void forward_batch(std::span<const int32_t> tokens, uint32_t pos,
                             std::span<float> logits_out);

  // Forgets all state (KV caches, and recurrent states, which it zeroes): the next forward() starts
  // a new sequence at position 0.
  virtual void reset() = 0;
};

}  // namespace quant
