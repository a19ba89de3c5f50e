#include "tokenizer/sentencepiece.h"

#include "common/error.h"
#include "tokenizer/symbol_merger.h"

namespace quant {

void encode_sentencepiece(const Vocabulary& vocab, std::optional<int32_t> unknown_id,
                          std::string_view text, std::vector<int32_t>& out) {
  const auto score_priority = [&](std::string_view left,
                                  std::string_view right) -> std::optional<double> {
    // Both halves are adjacent slices of `text`, so their concatenation is the slice spanning them.
    const std::string_view joined(left.data(), left.size() + right.size());
    const std::optional<int32_t> id = vocab.find(joined);
    if (!id) return std::nullopt;
    return static_cast<double>(vocab.score(*id));
  };
  for (const std::string_view symbol : SymbolMerger::merge(text, score_priority)) {
    if (const auto id = vocab.find(symbol)) {
      out.push_back(*id);
      continue;
    }
    for (const char c : symbol) {
      const auto byte = static_cast<uint8_t>(c);
      auto id = vocab.byte_token(byte);
      if (!id) id = unknown_id;
      if (!id)
        fail("the vocabulary has neither a token for byte 0x{:02X} nor an unknown token", byte);
      out.push_back(*id);
    }
  }
}

}  // namespace quant
