#include "tokenizer/bpe.h"

#include <string>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/symbol_merger.h"
#include "tokenizer/utf8.h"

namespace quant {

namespace {

// Appends the ids of one pre-tokenized word, already in GPT-2's byte alphabet.
void encode_word(const Vocabulary& vocab, std::string_view word, std::vector<int32_t>& out) {
  const auto rank_priority = [&](std::string_view left,
                                 std::string_view right) -> std::optional<double> {
    const std::optional<int32_t> rank = vocab.merge_rank(left, right);
    if (!rank) return std::nullopt;
    return -static_cast<double>(*rank);
  };
  for (const std::string_view symbol : SymbolMerger::merge(word, rank_priority)) {
    if (const auto id = vocab.find(symbol)) {
      out.push_back(*id);
      continue;
    }
    // A symbol outside the vocabulary (only possible when merges and tokens disagree): llama.cpp
    // looks up each of its bytes alone and drops those that are not tokens either.
    for (const char byte : symbol)
      if (const auto id = vocab.find(std::string_view(&byte, 1))) out.push_back(*id);
  }
}

}  // namespace

void encode_byte_level_bpe(const Vocabulary& vocab, const PreTokenizer& pre_tokenizer,
                           std::string_view text, std::vector<int32_t>& out) {
  std::vector<std::string_view> words;
  pre_tokenizer.split(text, words);
  std::string mapped;
  for (const std::string_view word : words) {
    mapped.clear();
    for (const char byte : word)
      utf8::append(mapped, byte_unicode::code_point_of(static_cast<uint8_t>(byte)));
    if (pre_tokenizer.ignore_merges()) {
      if (const auto id = vocab.find(mapped)) {
        out.push_back(*id);
        continue;
      }
    }
    encode_word(vocab, mapped, out);
  }
}

}  // namespace quant
