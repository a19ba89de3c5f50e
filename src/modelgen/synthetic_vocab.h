#pragma once
// A synthetic byte-level BPE vocabulary ("gpt2" tokenizer model) of any size, the same for every
// seed: the 256 byte tokens in GPT-2's byte-to-unicode spelling, then merged tokens, each the
// concatenation of two earlier tokens with its merge rule listed in creation order (so tokens and
// merges agree), then the special tokens <|endoftext|>, <|im_start|> and <|im_end|> (CONTROL).
// Merged tokens are made of lowercase letters, optionally after a space ("Ġ"), so that ordinary
// text merges into longer tokens.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quant::modelgen {

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t { Normal = 1, Control = 3 };

struct SyntheticVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;
  std::vector<std::string> merges;  // "left right", highest priority first
  uint32_t endoftext_id = 0;
  uint32_t im_start_id = 0;
  uint32_t im_end_id = 0;
};

// GPT-2's printable spelling of a byte (UTF-8): printable Latin-1 bytes stand for themselves, the
// others map to U+0100 and up (a space becomes "Ġ").
std::string byte_token(uint8_t byte);

// A vocabulary of exactly `size` tokens; throws quant::Error when `size` leaves no room for a
// merged token (fewer than 260).
SyntheticVocab build_synthetic_vocab(uint32_t size);

// A ChatML chat template (<|im_start|>role\ncontent<|im_end|>\n).
std::string_view chatml_template();

}  // namespace quant::modelgen
