#pragma once
// SentencePiece BPE (tokenizer.ggml.model "llama"): starting from single characters, repeatedly
// merge the adjacent pair whose concatenation is the vocabulary token with the highest score
// (leftmost on ties); what stays unknown falls back to byte tokens (<0xNN>). Spaces must already be
// "▁" (U+2581).

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/vocabulary.h"

namespace quant {

// Appends the ids of `text` (valid UTF-8, spaces escaped) to `out`. A byte without a byte token
// becomes `unknown_id`; without one either, it throws quant::Error.
void encode_sentencepiece(const Vocabulary& vocab, std::optional<int32_t> unknown_id,
                          std::string_view text, std::vector<int32_t>& out);

}  // namespace quant
