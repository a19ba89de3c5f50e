#pragma once
// A tokenizer vocabulary: token texts, types and scores, text -> id lookup and BPE merge ranks. It
// owns its strings (one buffer for all token texts, one for all merges), so it never depends on the
// GGUF mapping it was read from. Everything is validated when built; errors name the GGUF key and
// the index.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/id_index.h"

namespace quant {

// tokenizer.ggml.token_type values.
enum class TokenType : uint8_t {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

// tokenizer.ggml.model: "gpt2" (byte-level BPE with merges) or "llama" (SentencePiece,
// score-based).
enum class TokenizerModel { BytePairEncoding, SentencePiece };

// The tokenizer as GGUF describes it, one field per key. The views only need to live while a
// Tokenizer is built from it. Absent keys are empty vectors / nullopt; ids are kept as stored (any
// integer) and checked when the Tokenizer is built.
struct VocabularySpec {
  TokenizerModel model = TokenizerModel::SentencePiece;
  std::string_view pre_tokenizer;        // tokenizer.ggml.pre
  std::vector<std::string_view> tokens;  // tokenizer.ggml.tokens
  std::vector<float> scores;             // tokenizer.ggml.scores (absent: all 0)
  std::vector<int64_t> token_types;      // tokenizer.ggml.token_type (absent: all normal)
  std::vector<std::string_view>
      merges;                         // tokenizer.ggml.merges, "left right" (byte-level BPE only)
  std::optional<int64_t> bos_id;      // tokenizer.ggml.bos_token_id
  std::optional<int64_t> eos_id;      // tokenizer.ggml.eos_token_id
  std::optional<int64_t> eot_id;      // tokenizer.ggml.eot_token_id
  std::optional<int64_t> eom_id;      // tokenizer.ggml.eom_token_id
  std::optional<int64_t> unknown_id;  // tokenizer.ggml.unknown_token_id
  std::optional<int64_t> padding_id;  // tokenizer.ggml.padding_token_id
  std::optional<bool> add_bos;        // tokenizer.ggml.add_bos_token
  std::optional<bool> add_eos;        // tokenizer.ggml.add_eos_token
  std::optional<bool> add_space_prefix;  // tokenizer.ggml.add_space_prefix
};

class Vocabulary {
 public:
  // Validates tokens, scores, types and (for byte-level BPE) merges. Recoverable oddities (an empty
  // token text, renamed "[EMPTY_<id>]" as llama.cpp does) are appended to `warnings`.
  Vocabulary(const VocabularySpec& spec, std::vector<std::string>& warnings);

  int32_t size() const { return static_cast<int32_t>(types_.size()); }
  bool contains(int32_t id) const { return id >= 0 && id < size(); }
  std::string_view text(int32_t id) const { return texts_[static_cast<size_t>(id)]; }
  TokenType type(int32_t id) const { return types_[static_cast<size_t>(id)]; }
  float score(int32_t id) const {
    return scores_.empty() ? 0.0f : scores_[static_cast<size_t>(id)];
  }
  // The byte a Byte-type token ("<0xNN>") stands for.
  uint8_t byte_value(int32_t id) const { return byte_values_[static_cast<size_t>(id)]; }
  // The Byte-type token for a byte, if the vocabulary has one.
  std::optional<int32_t> byte_token(uint8_t byte) const;

  std::optional<int32_t> find(std::string_view text) const;
  // Rank of the merge "left right" (lower merges first), or nullopt.
  std::optional<int32_t> merge_rank(std::string_view left, std::string_view right) const;

  // Used when llama.cpp's conventions promote a token (an end-of-generation text typed normal) to
  // control.
  void set_type(int32_t id, TokenType type) { types_[static_cast<size_t>(id)] = type; }

 private:
  struct Merge {
    std::string_view left;
    std::string_view right;
  };

  void load_tokens(const VocabularySpec& spec, std::vector<std::string>& warnings);
  void load_merges(const std::vector<std::string_view>& merges);

  std::unique_ptr<char[]> text_storage_;  // every token text, back to back
  std::vector<std::string_view> texts_;   // views into text_storage_
  std::vector<TokenType> types_;
  std::vector<float> scores_;              // empty when the vocabulary has none
  std::vector<uint8_t> byte_values_;       // per token; meaningful for Byte-type tokens
  std::vector<int32_t> byte_tokens_;       // 256 entries, -1 where absent
  IdIndex ids_;                            // token text -> id
  std::unique_ptr<char[]> merge_storage_;  // every merge string, back to back
  std::vector<Merge> merges_;              // by rank; views into merge_storage_
  IdIndex merge_ranks_;                    // (left, right) -> rank
};

}  // namespace quant
