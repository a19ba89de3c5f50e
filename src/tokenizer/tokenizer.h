#pragma once
// The tokenizer of a GGUF model: text -> token ids and back, computing what llama.cpp computes
// (its llama-vocab.cpp is the reference) for the two tokenizer models GGUF language models use:
// byte-level BPE ("gpt2", with the pre-tokenizer named by tokenizer.ggml.pre) and SentencePiece
// ("llama").
//
// A Tokenizer is immutable once built and cheap to copy (copies share one state), so one instance
// can serve any number of threads. It owns its strings: it does not need the GgufFile it was read
// from.
//
// Known differences from llama.cpp: a byte-level BPE vocabulary without tokenizer.ggml.bos_token_id
// / eos_token_id has no BOS / EOS (llama.cpp falls back to id 11); the per-model left/right-strip
// hacks for special tokens (Phi-3, Jina, ModernBERT, chosen by general.name) are not applied; an
// unknown tokenizer.ggml.pre falls back to the "default" pre-tokenizer with a warning instead of
// failing; the fill-in-the-middle id keys (tokenizer.ggml.fim_*_token_id) are not read, those
// tokens are found by their text only; decode() does not undo the spaces llama.cpp's clean-up
// removes (" ," -> ",").

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocabulary.h"

namespace quant {

namespace gguf {
class GgufFile;
}

class Tokenizer {
 public:
  // Reads the tokenizer.ggml.* keys of a model or vocab-only GGUF. Throws quant::Error naming the
  // file and the offending key.
  static Tokenizer from_gguf(const gguf::GgufFile& file);
  // Builds from an in-memory description (tests, tools). Throws quant::Error naming the offending
  // key.
  static Tokenizer from_spec(const VocabularySpec& spec);

  // Text to ids. `text` must be valid UTF-8 (otherwise quant::Error names the byte offset).
  // `add_bos` prepends BOS (quant::Error when the vocabulary has none); pass add_bos() to do what
  // the model expects. With `parse_special`, control tokens written in the text (such as
  // <|im_start|>) become their ids; user-defined tokens (such as <tool_call>) become their ids
  // either way.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;

  // The bytes a token stands for: byte tokens give their byte, "▁" becomes a space (SentencePiece),
  // GPT-2's byte alphabet is mapped back (byte-level BPE). A piece may be part of a UTF-8 sequence.
  // Control and unknown tokens give their text when `render_special`, else nothing; unused tokens
  // give nothing. An id outside the vocabulary throws quant::Error.
  std::string piece(int32_t id, bool render_special = true) const;
  // The pieces of `ids`, concatenated (no clean-up of spaces). May hold invalid UTF-8 where the ids
  // do.
  std::string decode(std::span<const int32_t> ids, bool render_special = true) const;

  int32_t n_vocab() const;
  TokenizerModel model() const;
  // The pre-tokenizer in use (byte-level BPE), "" for SentencePiece.
  const std::string& pre_tokenizer() const;
  // The vocabulary entry itself (e.g. "Ġthe", "▁the", "<0x0A>"). Throws for an id outside the
  // vocabulary.
  std::string_view token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  std::optional<int32_t> find_token(std::string_view text) const;

  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> eot_id() const;
  std::optional<int32_t> eom_id() const;
  std::optional<int32_t> unknown_id() const;
  std::optional<int32_t> padding_id() const;
  // What the model expects at the start / end of a prompt (tokenizer.ggml.add_bos_token /
  // add_eos_token, else llama.cpp's default for the tokenizer type: BOS for SentencePiece and
  // llama3-style BPE).
  bool add_bos() const;
  bool add_eos() const;
  // SentencePiece only: whether a space is put before text that starts the prompt or follows a
  // special token (tokenizer.ggml.add_space_prefix, default true).
  bool add_space_prefix() const;

  // Whether generation should stop at `id`: EOS, EOT, EOM, and the tokens llama.cpp recognises by
  // their text (<|im_end|>, <|endoftext|>, <|eot_id|>, <end_of_turn>, <|fim_pad|>, ...).
  bool is_end_of_generation(int32_t id) const;
  // Those ids, ascending.
  const std::vector<int32_t>& end_of_generation_ids() const;

  // What was odd but usable in the metadata (out-of-range special ids, an unknown pre-tokenizer,
  // ...).
  const std::vector<std::string>& warnings() const;

 private:
  struct State;
  explicit Tokenizer(std::shared_ptr<const State> state);
  void check_id(int32_t id) const;

  std::shared_ptr<const State> state_;
};

// Turns a stream of token ids into text that is always valid UTF-8: bytes of a character split over
// several tokens are held back until it is complete; bytes that can never form a character become
// U+FFFD.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(Tokenizer tokenizer, bool render_special = true);

  // Adds one token; returns the text it completes (often empty or one piece).
  std::string push(int32_t id);
  // Ends the stream: returns what was held back, an incomplete character as U+FFFD. The detokenizer
  // can then start a new stream.
  std::string flush();

 private:
  Tokenizer tokenizer_;
  bool render_special_;
  std::string pending_;  // bytes not yet returned: at most one incomplete UTF-8 sequence
};

}  // namespace quant
