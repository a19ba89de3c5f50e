#include "runtime/session.h"

#include "common/error.h"
#include "runtime/kv_cache.h"

namespace quant {

Session::Session(const model::Model& model, const SessionOptions& options)
    : model_(model),
      context_length_(
          resolve_context_length(options.context_length, model.hparams().context_length)),
      backend_(create_backend(model.plan(), BackendOptions{
                                                .choice = options.backend,
                                                .threads = options.threads,
                                                .context_length = context_length_,
                                                .max_batch = options.max_batch,
                                                .exact_activations = options.exact_activations,
                                                .device = options.device,
                                            })) {}

void Session::check_tokens(std::span<const int32_t> tokens) const {
  for (const int32_t token : tokens)
    if (token < 0 || static_cast<uint32_t>(token) >= n_vocab())
      fail("token id {} is outside the vocabulary (0..{})", token, n_vocab() - 1);
  if (tokens.size() > context_length_ - position_)
    fail("context full: {} more token(s) at position {} do not fit in the context of {}",
         tokens.size(), position_, context_length_);
}

std::span<const float> Session::forward(int32_t token) {
  check_tokens({&token, 1});
  const std::span<const float> logits = backend_->forward(token, position_);
  ++position_;
  return logits;
}

std::span<const float> Session::forward(int32_t token, const PlanObserver& observer) {
  check_tokens({&token, 1});
  const std::span<const float> logits = backend_->forward_observed(token, position_, observer);
  ++position_;
  return logits;
}

std::span<const float> Session::forward_batch(std::span<const int32_t> tokens) {
  check_tokens(tokens);
  batch_logits_.resize(tokens.size() * n_vocab());
  backend_->forward_batch(tokens, position_, batch_logits_);
  position_ += static_cast<uint32_t>(tokens.size());
  return batch_logits_;
}

std::span<const float> Session::prefill(std::span<const int32_t> tokens) {
  if (tokens.empty()) fail("prefill needs at least one token");
  check_tokens(tokens);
  const std::span<const float> logits = backend_->prefill(tokens, position_);
  position_ += static_cast<uint32_t>(tokens.size());
  return logits;
}

void Session::decode_greedy(int32_t token, uint32_t count, const GreedyCallback& on_token) {
  if (count == 0) return;
  check_tokens({&token, 1});
  if (count > context_length_ - position_)
    fail("context full: {} greedy tokens at position {} do not fit in the context of {}", count,
         position_, context_length_);
  backend_->decode_greedy(token, position_, count, [&](int32_t next) {
    ++position_;
    return on_token(next);
  });
}

void Session::reset() {
  backend_->reset();
  position_ = 0;
}

void Session::truncate(uint32_t position) {
  if (position > position_)
    fail("cannot truncate the sequence to position {}: it has only {} token(s)", position,
         position_);
  if (position == position_) return;
  if (position == 0) {
    reset();
    return;
  }
  if (!can_truncate())
    fail(
        "cannot truncate the sequence from {} to {} tokens: the model's recurrent state cannot be "
        "rolled back (reset and evaluate the tokens again)",
        position_, position);
  position_ = position;
}

}  // namespace quant
