#pragma once
// The generation loop shared by `quant run`, `quant chat` and the server: prefill a prompt, then
// sample and feed one token at a time, streaming the text as it becomes valid UTF-8, until an
// end-of-generation token, a stop string, the token limit, the end of the context or a
// cancellation. Greedy sampling without a repetition penalty goes through Session::decode_greedy,
// which chooses on the device where the backend can.
//
// A Generator drives one Session and remembers which tokens that session has evaluated, so a later
// prompt that shares a start with them (the next turn of a chat, or one that edits earlier text)
// only evaluates what follows the common start.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

namespace quant {

struct GenerationOptions {
  SamplerOptions sampling;
  // Tokens to sample at most; nullopt: until something else stops generation (at the latest the end
  // of the context). 0 only evaluates the prompt.
  std::optional<uint32_t> max_tokens = 256;
  // Generation ends where one of these appears in the text; the stop string and what follows are
  // not streamed. Each must be non-empty.
  std::vector<std::string> stop_strings;
  // Keep going past end-of-generation tokens (their text is streamed like any other).
  bool ignore_eos = false;
};

enum class FinishReason {
  Stop,       // an end-of-generation token or a stop string
  Length,     // max_tokens were sampled
  Context,    // the context is full: the last sampled token could not be evaluated
  Cancelled,  // the cancellation hook asked to stop
};

// "stop", "length", "context", "cancelled".
std::string_view finish_reason_name(FinishReason reason);

struct GenerationStats {
  uint32_t prompt_tokens = 0;     // tokens in the prompt
  uint32_t reused_tokens = 0;     // of those, evaluated by an earlier call and not again
  uint32_t generated_tokens = 0;  // tokens sampled
  double prefill_seconds = 0.0;   // evaluating the prompt tokens that were not reused
  double decode_seconds = 0.0;    // from the end of the prefill to the end of generation

  // Prompt tokens evaluated per second (0 when none were).
  double prefill_tokens_per_second() const;
  // Tokens sampled per second (0 when none were).
  double decode_tokens_per_second() const;
};

struct GenerationResult {
  FinishReason finish_reason = FinishReason::Stop;
  // Everything that was streamed, concatenated.
  std::string text;
  // Every sampled token, in order, including the one that ended generation (an end-of-generation
  // token, or the one completing a stop string). The last one has not been evaluated, except
  // after a cancellation.
  std::vector<int32_t> tokens;
  GenerationStats stats;
};

// Receives the generated text in order, in non-empty pieces of complete UTF-8 characters.
using TextCallback = std::function<void(std::string_view text)>;
// Polled before each prefill chunk and each sampled token; returning true ends generation with
// FinishReason::Cancelled. Called on the generating thread.
using CancelCallback = std::function<bool()>;

class Generator {
 public:
  // `session` must outlive the generator, and only the generator may feed it from now on. It is
  // reset: the generator starts from an empty sequence.
  Generator(Session& session, Tokenizer tokenizer);

  // Generates after `prompt`, the whole token sequence so far (BOS included when the model wants
  // one). The longest start of `prompt` the session has already evaluated is kept, except its last
  // token, whose logits are needed again; the session drops what it holds past that start
  // (Session::truncate), or starts over when it cannot (a model with recurrent state). When
  // `prompt` ends in BOS, a SentencePiece model's first word loses the space its tokenizer puts
  // before a text (llama.cpp prints it so). Throws quant::Error, before evaluating anything, for an
  // empty prompt, a token outside the vocabulary, a prompt longer than the context, or bad options.
  GenerationResult generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                            const TextCallback& on_text = {}, const CancelCallback& cancelled = {});

  // Throws quant::Error when generate() would refuse `prompt` or `options` (see there); evaluates
  // nothing. For callers that want to fail before showing anything.
  void check(std::span<const int32_t> prompt, const GenerationOptions& options) const;

  // Forgets the evaluated tokens and resets the session.
  void reset();

  // The tokens the session has evaluated, in order (session.position() of them).
  const std::vector<int32_t>& evaluated() const { return evaluated_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  // Evaluates prompt[reused..] and returns the logits after the last token, or nothing when
  // cancelled.
  std::optional<std::span<const float>> prefill(std::span<const int32_t> prompt, size_t reused,
                                                const CancelCallback& cancelled);
  size_t reusable_prefix(std::span<const int32_t> prompt) const;
  // Goes back to the first `keep` evaluated tokens, or to none when the session cannot truncate;
  // returns how many are kept.
  size_t rewind_to(size_t keep);
  bool starts_after_space_prefix(std::span<const int32_t> prompt) const;

  Session& session_;
  Tokenizer tokenizer_;
  std::vector<int32_t> evaluated_;
};

}  // namespace quant
