#pragma once
// Byte-level BPE (tokenizer.ggml.model "gpt2"): pre-tokenize, map each word's bytes to GPT-2's
// printable characters, then merge adjacent symbols by merge rank (lowest first, leftmost on ties)
// until no ranked pair remains, as llama.cpp does.

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocabulary.h"

namespace quant {

// Appends the ids of `text` (valid UTF-8 holding no special token) to `out`.
void encode_byte_level_bpe(const Vocabulary& vocab, const PreTokenizer& pre_tokenizer,
                           std::string_view text, std::vector<int32_t>& out);

}  // namespace quant
