#include "runtime/generator.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <utility>

#include "common/error.h"
#include "runtime/stop_strings.h"

namespace quant {

namespace {

using Clock = std::chrono::steady_clock;

// Prompt tokens per Session::prefill() call: bounds how long a cancellation waits during a long
// prefill.
constexpr size_t kPrefillChunk = 64;

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

// Sampled tokens -> the text the caller sees: valid UTF-8 only, stop strings held back and cut.
class TextStream {
 public:
  TextStream(Tokenizer tokenizer, StopStrings stops, bool strip_leading_space,
             const TextCallback& on_text, std::string& text)
      : detokenizer_(std::move(tokenizer)),
        stops_(std::move(stops)),
        strip_leading_space_(strip_leading_space),
        on_text_(on_text),
        text_(text) {}

  // Returns true when a stop string appeared.
  bool push(int32_t token) {
    std::string piece = detokenizer_.push(token);
    // A SentencePiece model's first word after BOS carries the space the tokenizer puts before a
    // prompt: it is not part of the text.
    if (strip_leading_space_ && !piece.empty()) {
      if (piece.front() == ' ') piece.erase(0, 1);
      strip_leading_space_ = false;
    }
    const StopStrings::Step step = stops_.push(piece);
    emit(step.text);
    return step.stopped;
  }

  // Releases what was held back (nothing after a stop string).
  void finish() {
    emit(stops_.push(detokenizer_.flush()).text);
    emit(stops_.flush());
  }

 private:
  void emit(const std::string& text) {
    if (text.empty()) return;
    text_ += text;
    if (on_text_) on_text_(text);
  }

  StreamingDetokenizer detokenizer_;
  StopStrings stops_;
  bool strip_leading_space_;
  const TextCallback& on_text_;
  std::string& text_;
};

}  // namespace

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::Context:
      return "context";
    case FinishReason::Cancelled:
      return "cancelled";
  }
  return "unknown";
}

double GenerationStats::prefill_tokens_per_second() const {
  const uint32_t evaluated = prompt_tokens - reused_tokens;
  return evaluated > 0 && prefill_seconds > 0.0 ? evaluated / prefill_seconds : 0.0;
}

double GenerationStats::decode_tokens_per_second() const {
  return generated_tokens > 0 && decode_seconds > 0.0 ? generated_tokens / decode_seconds : 0.0;
}

Generator::Generator(Session& session, Tokenizer tokenizer)
    : session_(session), tokenizer_(std::move(tokenizer)) {
  session_.reset();
}

void Generator::reset() {
  session_.reset();
  evaluated_.clear();
}

void Generator::check(std::span<const int32_t> prompt, const GenerationOptions& options) const {
  if (prompt.empty()) fail("the prompt is empty: generation needs at least one token");
  const uint32_t n_vocab = session_.n_vocab();
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || static_cast<uint32_t>(prompt[i]) >= n_vocab)
      fail("prompt token {} has id {}, outside the vocabulary (0..{})", i, prompt[i], n_vocab - 1);
  }
  if (prompt.size() > session_.context_length())
    fail(
        "the prompt has {} tokens, more than the context of {} (use a larger context or a shorter "
        "prompt)",
        prompt.size(), session_.context_length());
  // Both check their options on construction.
  Sampler{options.sampling};
  StopStrings{options.stop_strings};
}

size_t Generator::reusable_prefix(std::span<const int32_t> prompt) const {
  const size_t common = static_cast<size_t>(
      std::mismatch(evaluated_.begin(), evaluated_.end(), prompt.begin(), prompt.end()).first -
      evaluated_.begin());
  return std::min(common, prompt.size() - 1);
}

size_t Generator::rewind_to(size_t keep) {
  if (keep == evaluated_.size()) return keep;
  if (!session_.can_truncate()) keep = 0;
  session_.truncate(static_cast<uint32_t>(keep));
  evaluated_.resize(keep);
  return keep;
}

bool Generator::starts_after_space_prefix(std::span<const int32_t> prompt) const {
  return tokenizer_.model() == TokenizerModel::SentencePiece && tokenizer_.add_space_prefix() &&
         tokenizer_.bos_id() == prompt.back();
}

std::optional<std::span<const float>> Generator::prefill(std::span<const int32_t> prompt,
                                                         size_t reused,
                                                         const CancelCallback& cancelled) {
  assert(reused < prompt.size());
  std::span<const float> logits;
  for (size_t at = reused; at < prompt.size(); at += kPrefillChunk) {
    if (cancelled && cancelled()) return std::nullopt;
    const std::span<const int32_t> chunk =
        prompt.subspan(at, std::min(kPrefillChunk, prompt.size() - at));
    logits = session_.prefill(chunk);
    evaluated_.insert(evaluated_.end(), chunk.begin(), chunk.end());
  }
  return logits;
}

GenerationResult Generator::generate(std::span<const int32_t> prompt,
                                     const GenerationOptions& options, const TextCallback& on_text,
                                     const CancelCallback& cancelled) {
  check(prompt, options);
  Sampler sampler(options.sampling);
  StopStrings stops(options.stop_strings);
  GenerationResult result;
  result.finish_reason = FinishReason::Length;  // unless something else ends generation first
  result.stats.prompt_tokens = static_cast<uint32_t>(prompt.size());

  const size_t reused = rewind_to(reusable_prefix(prompt));
  assert(session_.position() == evaluated_.size());
  result.stats.reused_tokens = static_cast<uint32_t>(reused);

  const Clock::time_point prefill_start = Clock::now();
  std::optional<std::span<const float>> logits = prefill(prompt, reused, cancelled);
  const Clock::time_point decode_start = Clock::now();
  result.stats.prefill_seconds = seconds_between(prefill_start, decode_start);
  if (!logits) {
    result.finish_reason = FinishReason::Cancelled;
    return result;
  }

  TextStream text(tokenizer_, std::move(stops), starts_after_space_prefix(prompt), on_text,
                  result.text);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  const auto reached_max_tokens = [&] {
    return options.max_tokens && result.tokens.size() >= *options.max_tokens;
  };
  const auto was_cancelled = [&] {
    if (!cancelled || !cancelled()) return false;
    result.finish_reason = FinishReason::Cancelled;
    return true;
  };
  // Takes a sampled token; returns whether it is to be fed and generation goes on.
  const auto accept = [&](int32_t token) {
    result.tokens.push_back(token);
    history.push_back(token);
    if ((!options.ignore_eos && tokenizer_.is_end_of_generation(token)) || text.push(token)) {
      result.finish_reason = FinishReason::Stop;
      return false;
    }
    if (reached_max_tokens()) return false;  // the last token need not be evaluated
    if (session_.position() == session_.context_length()) {
      result.finish_reason = FinishReason::Context;
      return false;
    }
    return true;
  };
  int32_t token = 0;
  bool going = !reached_max_tokens() && !was_cancelled();
  if (going) {
    token = sampler.sample(*logits, history);
    going = accept(token);
  }
  if (sampler.chooses_greedily()) {
    // The session chooses (on the device where it can) and feeds the tokens: at most as many as
    // may still be sampled and as fit in the context, so that accept() stops it no later.
    while (going) {
      const uint32_t room = session_.context_length() - session_.position();
      const uint32_t count =
          options.max_tokens
              ? std::min<uint32_t>(
                    room, *options.max_tokens - static_cast<uint32_t>(result.tokens.size()))
              : room;
      session_.decode_greedy(token, count, [&](int32_t next) {
        evaluated_.push_back(token);
        token = next;
        going = !was_cancelled() && accept(next);
        return going;
      });
    }
  } else {
    while (going) {
      logits = session_.forward(token);
      evaluated_.push_back(token);
      if (was_cancelled()) break;
      token = sampler.sample(*logits, history);
      going = accept(token);
    }
  }
  text.finish();
  result.stats.generated_tokens = static_cast<uint32_t>(result.tokens.size());
  result.stats.decode_seconds = seconds_between(decode_start, Clock::now());
  return result;
}

}  // namespace quant
