#pragma once
// Small vocabularies built in memory for the unit tests, shaped like the real ones (SentencePiece
// with <unk> <s> </s> and 256 byte tokens; byte-level BPE in GPT-2's byte alphabet).

#include <string>
#include <utility>
#include <vector>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocabulary.h"

namespace quant::test {

// Owns the strings a VocabularySpec points to.
struct OwnedVocabulary {
  std::vector<std::string> tokens;
  std::vector<std::string> merges;
  VocabularySpec spec;

  void add(std::string text, TokenType type = TokenType::Normal, float score = 0.0f) {
    tokens.push_back(std::move(text));
    spec.token_types.push_back(static_cast<int64_t>(type));
    spec.scores.push_back(score);
  }
  int32_t id_of(const std::string& text) const {
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] == text) return static_cast<int32_t>(i);
    return -1;
  }
  // The spec with its views pointed at the strings owned here.
  const VocabularySpec& view() {
    spec.tokens.assign(tokens.begin(), tokens.end());
    spec.merges.assign(merges.begin(), merges.end());
    return spec;
  }
};

// <unk> <s> </s>, <0x00>..<0xFF>, then `pieces` (scores: the k-th piece scores -k, so earlier ones
// win).
inline OwnedVocabulary sentencepiece_vocabulary(const std::vector<std::string>& pieces) {
  OwnedVocabulary v;
  v.spec.model = TokenizerModel::SentencePiece;
  v.add("<unk>", TokenType::Unknown);
  v.add("<s>", TokenType::Control);
  v.add("</s>", TokenType::Control);
  for (int byte = 0; byte < 256; ++byte) {
    static const char* const hex = "0123456789ABCDEF";
    v.add(std::string("<0x") + hex[byte >> 4] + hex[byte & 15] + ">", TokenType::Byte);
  }
  float score = 0.0f;
  for (const std::string& piece : pieces) v.add(piece, TokenType::Normal, score -= 1.0f);
  return v;
}

// GPT-2's byte alphabet in text form.
inline std::string byte_level(const std::string& raw) {
  std::string out;
  for (const char c : raw) utf8::append(out, byte_unicode::code_point_of(static_cast<uint8_t>(c)));
  return out;
}

// The 256 single-byte tokens, then `words` (raw text, stored in byte-level form), with `merges`
// given in raw text too ("a b").
inline OwnedVocabulary byte_level_vocabulary(
    const std::vector<std::string>& words,
    const std::vector<std::pair<std::string, std::string>>& merges,
    std::string_view pre_tokenizer = "gpt-2") {
  OwnedVocabulary v;
  v.spec.model = TokenizerModel::BytePairEncoding;
  v.spec.pre_tokenizer = pre_tokenizer;
  for (int byte = 0; byte < 256; ++byte) v.add(byte_level(std::string(1, static_cast<char>(byte))));
  for (const std::string& word : words) v.add(byte_level(word));
  for (const auto& [left, right] : merges)
    v.merges.push_back(byte_level(left) + " " + byte_level(right));
  v.spec.scores.clear();  // byte-level BPE vocabularies carry no scores
  return v;
}

}  // namespace quant::test
