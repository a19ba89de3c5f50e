#pragma once
// The contract every backend (CPU, Vulkan) implements: run a checked Plan for one token at a time.
// A backend is created for one plan and one context length; it owns the activation buffers and the
// state the plan declares (KV caches, recurrent states), sized once at creation. The Session
// (src/runtime/session.h) owns the position and checks the context limit and the token range before
// calling forward().

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plan/plan.h"

namespace quant {

// Called after each op that writes a buffer, in plan order, with that buffer's value (F32, the size
// declared in the plan). The span is valid only during the call. Used to dump intermediates.
using PlanObserver = std::function<void(const plan::Op& op, std::span<const float> value)>;

// Receives each token of greedy decoding (Backend::decode_greedy); returns false to stop.
using GreedyCallback = std::function<bool(int32_t token)>;

// The greedy choice: the index of the largest logit, the lowest such index on ties (as
// std::max_element), NaN counting as -infinity. Throws quant::Error when the largest logit is not
// finite (all NaN or -infinity, or +infinity): such logits choose nothing.
int32_t greedy_token(std::span<const float> logits);

// What a backend that runs on a device with a timer (Vulkan timestamp queries) can say about the
// work it submitted, for `quant bench`. Backends without one (CPU) keep the defaults below, which
// say "not available".

// Totals over every submission since the backend was created (reset() does not clear them), so a
// caller measures a stretch of work as the difference of two readings.
struct DeviceCounters {
  double gpu_seconds = 0.0;  // device time: per submission, its last timestamp minus its first
  uint64_t submits = 0;      // command buffers submitted
  uint64_t dispatches = 0;   // compute dispatches in them
  uint64_t barriers = 0;     // pipeline barriers in them
};

// One dispatch of a profiled token or prompt batch, in submission order.
struct DispatchTiming {
  std::string kernel;  // the kernel (pipeline) name, e.g. "matvec_q4_k"
  std::string op;      // the plan op(s) it computes, e.g. "MatVec 'q'"; what a backend adds itself
                       // (the token's inputs, the logits' read-back) it names as it likes
  int32_t layer = -1;  // the ops' layer; -1 outside the layers
  double gpu_seconds = 0.0;  // from the timestamp before it to the one after it
  uint64_t bytes = 0;        // bytes its bindings cover: weights and activations read and written
};

// One token (or one batch of prompt tokens: PrefillProfile) measured dispatch by dispatch.
struct TokenProfile {
  DeviceCounters totals;  // this token's submission(s) alone, timestamps included
  std::vector<DispatchTiming> dispatches;
};

// The first submission of a batched prefill measured dispatch by dispatch.
struct PrefillProfile {
  uint32_t n_tokens = 0;  // the prompt tokens that submission processed
  TokenProfile submission;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", "vulkan": how the run header and errors name it.
  virtual std::string_view name() const = 0;

  // Runs the plan for `token` (0 <= token < n_vocab) at position `pos` (< the context length).
  // State for positions 0..pos-1 is what earlier calls since the last reset() stored. Returns the
  // n_vocab logits, valid until the next forward() or reset(). `pos` may go back to an earlier
  // position when the plan has no recurrent states: KV cache entries from pos on are then
  // overwritten, never read (Session::truncate).
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

  // Runs tokens[i] (at least one) at position pos + i as forward_batch() does, and returns only
  // the logits after the last token (n_vocab, valid until the next call): the last row of
  // forward_batch(), bit for bit where the backend computes both the same way (the CPU); up to
  // rounding where it computes the tokens together with other kernels (Vulkan's batched
  // prefill). The default calls forward() for each token; a backend may skip the vocabulary
  // projection of all but the last token (prompt prefill).
  virtual std::span<const float> prefill(std::span<const int32_t> tokens, uint32_t pos);

  // Greedy decoding: feeds `token` at `pos`, hands the greedy choice of the logits
  // (greedy_token()) to `on_token`, feeds that at pos + 1, and so on, until `on_token` returns
  // false or `count` tokens were handed out. Token i handed out (from 0) is the choice after the
  // token fed at pos + i: n tokens handed out took positions pos .. pos + n - 1, and the last one
  // is not fed. pos + count must not pass the context length. Throws quant::Error as forward() and
  // greedy_token() do; after an error, state past the tokens handed out is undefined.
  // The default runs forward() and greedy_token() on the host, one token after the other. A backend
  // may instead choose on the device and feed tokens before `on_token` has seen the ones before
  // them; tokens fed past a stop leave no trace but KV cache rows past the last position taken,
  // which the next tokens there overwrite (never where the plan has recurrent states, which such
  // tokens would change).
  virtual void decode_greedy(int32_t token, uint32_t pos, uint32_t count,
                             const GreedyCallback& on_token);

  // Forgets all state (KV caches, and recurrent states, which it zeroes): the next forward() starts
  // a new sequence at position 0.
  virtual void reset() = 0;

  // The device counters so far, or nullopt when the backend has no device timer (the default).
  virtual std::optional<DeviceCounters> device_counters() const { return std::nullopt; }

  // Does what forward(token, pos) does (the same state changes; no logits are returned), with a
  // timestamp between consecutive dispatches, and returns the timings. Slower than forward(): for
  // `quant bench --profile`. Returns nullopt, having run nothing, when the backend cannot time its
  // dispatches (the default).
  virtual std::optional<TokenProfile> forward_profiled(int32_t /*token*/, uint32_t /*pos*/) {
    return std::nullopt;
  }

  // Makes the first submission that prefill(tokens, pos) would make, a batch of the first tokens
  // (with the output head only when that batch is all of them), with a timestamp between
  // consecutive dispatches, and returns its timings: the state changes as prefill() of that batch's
  // tokens would change it. Slower than prefill(): for `quant bench --profile`. Returns nullopt,
  // having run nothing, when the backend cannot time its dispatches or would not prefill `tokens`
  // in batches (the default).
  virtual std::optional<PrefillProfile> prefill_profiled(std::span<const int32_t> /*tokens*/,
                                                         uint32_t /*pos*/) {
    return std::nullopt;
  }
};

}  // namespace quant
