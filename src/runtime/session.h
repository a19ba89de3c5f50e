#pragma once
// A Session runs one model on one backend, one sequence at a time: it owns the position in the
// sequence and feeds tokens through the backend's plan, checking each token id and the room left in
// the context.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/model.h"
#include "plan/backend.h"
#include "runtime/backend_factory.h"

namespace quant {

struct SessionOptions {
  BackendChoice backend = BackendChoice::Auto;
  uint32_t threads = 0;         // CPU threads; 0: the physical cores
  uint32_t context_length = 0;  // 0: the model's trained context, capped (see kv_cache.h)
  uint32_t max_batch = 128;     // tokens per batched step of forward_batch()
  // MatVec with F32 activations (the reference arithmetic) instead of int8-quantized ones, on
  // either backend.
  bool exact_activations = false;
  // Vulkan: which device (`quant devices` lists them); the CPU backend ignores it.
  uint32_t device = 0;
};

class Session {
 public:
  // `model` must outlive the session. Throws quant::Error for an unavailable backend or a bad
  // context.
  Session(const model::Model& model, const SessionOptions& options);

  // Feeds `token` at position(), advances it, and returns the n_vocab logits predicting the next
  // token (valid until the next call). Throws quant::Error for a token outside the vocabulary or a
  // full context.
  std::span<const float> forward(int32_t token);
  // The same, calling `observer` with every intermediate value of the plan.
  std::span<const float> forward(int32_t token, const PlanObserver& observer);
  // Feeds all `tokens` and returns their logits, tokens.size() x n_vocab (row i follows tokens[i]),
  // valid until the next call. The same numbers as forward() per token, computed in batches.
  std::span<const float> forward_batch(std::span<const int32_t> tokens);
  // Feeds all `tokens` (at least one) and returns only the logits after the last one (n_vocab,
  // valid until the next call): the last row of forward_batch() (bit for bit on the CPU, up to
  // rounding on Vulkan: Backend::prefill), without computing the vocabulary projection of the
  // others.
  std::span<const float> prefill(std::span<const int32_t> tokens);

  // Greedy decoding (Backend::decode_greedy, on the device where the backend can): feeds `token`
  // at position(), hands the greedy choice (greedy_token()) to `on_token`, feeds that next, and so
  // on, until `on_token` returns false or `count` tokens were handed out. position() has counted
  // the token fed before each call of `on_token`; the last token handed out is not fed. Throws
  // quant::Error for a token outside the vocabulary, for more tokens than the context has room
  // for, and as greedy_token() does.
  void decode_greedy(int32_t token, uint32_t count, const GreedyCallback& on_token);

  // Starts a new, empty sequence at position 0.
  void reset();
  // Whether truncate() can go back to any earlier position. Not for a model with recurrent state
  // (qwen35): that state holds all tokens so far at once and cannot drop the last ones.
  bool can_truncate() const { return model_.plan().states.empty(); }
  // Goes back to `position` (<= position()): the next token is fed there, and the KV cache entries
  // past it are overwritten as the sequence goes on. truncate(0) is reset() and
  // truncate(position()) does nothing, for every model; any other position throws quant::Error
  // unless can_truncate().
  void truncate(uint32_t position);

  uint32_t position() const { return position_; }
  uint32_t context_length() const { return context_length_; }
  uint32_t n_vocab() const { return model_.plan().n_vocab; }
  const model::Model& model() const { return model_; }
  Backend& backend() { return *backend_; }

 private:
  void check_tokens(std::span<const int32_t> tokens) const;

  const model::Model& model_;
  uint32_t context_length_;
  std::unique_ptr<Backend> backend_;
  uint32_t position_ = 0;
  std::vector<float> batch_logits_;  // forward_batch's result
};

}  // namespace quant
