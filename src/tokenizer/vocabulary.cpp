#include "tokenizer/vocabulary.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"

namespace quant {

namespace {

constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTypesKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
constexpr size_t kPrefetchDistance = 16;  // bulk index inserts prefetch this many keys ahead

std::optional<uint8_t> hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
  if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
  return std::nullopt;
}

// "<0xNN>" -> NN, the form of SentencePiece byte-fallback tokens.
std::optional<uint8_t> parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return std::nullopt;
  const auto high = hex_digit_value(text[3]);
  const auto low = hex_digit_value(text[4]);
  if (!high || !low) return std::nullopt;
  return static_cast<uint8_t>(*high * 16 + *low);
}

TokenType checked_token_type(int64_t value, size_t index) {
  if (value < static_cast<int64_t>(TokenType::Normal) ||
      value > static_cast<int64_t>(TokenType::Byte))
    fail("{}[{}]: token type {} is not one of 1 (normal) .. 6 (byte)", kTypesKey, index, value);
  return static_cast<TokenType>(value);
}

uint64_t text_hash(std::string_view text) {
  return std::hash<std::string_view>{}(text);
}

uint64_t pair_hash(std::string_view left, std::string_view right) {
  const uint64_t a = text_hash(left);
  return a ^ (text_hash(right) + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
}

}  // namespace

Vocabulary::Vocabulary(const VocabularySpec& spec, std::vector<std::string>& warnings) {
  load_tokens(spec, warnings);
  if (spec.model == TokenizerModel::BytePairEncoding) {
    if (spec.merges.empty())
      fail("{}: missing or empty (the byte-level BPE tokenizer needs it)", kMergesKey);
    load_merges(spec.merges);
  }
}

void Vocabulary::load_tokens(const VocabularySpec& spec, std::vector<std::string>& warnings) {
  const size_t n = spec.tokens.size();
  if (n == 0) fail("{}: missing or empty", kTokensKey);
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    fail("{}: {} tokens is more than token ids can address", kTokensKey, n);
  if (!spec.scores.empty() && spec.scores.size() != n)
    fail("{}: {} entries for {} tokens", kScoresKey, spec.scores.size(), n);
  if (!spec.token_types.empty() && spec.token_types.size() != n)
    fail("{}: {} entries for {} tokens", kTypesKey, spec.token_types.size(), n);

  // Token texts: empty ones get llama.cpp's placeholder so that every id keeps a distinct, visible
  // text.
  const auto placeholder = [](size_t id) { return "[EMPTY_" + std::to_string(id) + "]"; };
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (spec.tokens[i].empty())
      warnings.push_back(fmt::format("{}[{}] is empty; using '{}'", kTokensKey, i, placeholder(i)));
    total += spec.tokens[i].empty() ? placeholder(i).size() : spec.tokens[i].size();
  }
  text_storage_ = std::make_unique_for_overwrite<char[]>(total);
  texts_.reserve(n);
  char* cursor = text_storage_.get();
  for (size_t i = 0; i < n; ++i) {
    const std::string empty_placeholder = spec.tokens[i].empty() ? placeholder(i) : std::string();
    const std::string_view source =
        spec.tokens[i].empty() ? std::string_view(empty_placeholder) : spec.tokens[i];
    std::memcpy(cursor, source.data(), source.size());
    texts_.emplace_back(cursor, source.size());
    cursor += source.size();
  }
  std::vector<uint64_t> hashes(n);
  for (size_t i = 0; i < n; ++i) hashes[i] = text_hash(texts_[i]);
  ids_ = IdIndex(n);
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) ids_.prefetch(hashes[i + kPrefetchDistance]);
    const std::string_view text = texts_[i];
    const auto existing = ids_.insert(hashes[i], static_cast<int32_t>(i), [&](int32_t id) {
      return texts_[static_cast<size_t>(id)] == text;
    });
    if (existing) fail("{}: duplicate token '{}' at ids {} and {}", kTokensKey, text, *existing, i);
  }

  if (!spec.scores.empty()) {
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(spec.scores[i]))
        fail("{}[{}]: score {} is not finite", kScoresKey, i, spec.scores[i]);
    scores_ = spec.scores;
  }

  types_.assign(n, TokenType::Normal);
  byte_values_.assign(n, 0);
  for (size_t i = 0; i < spec.token_types.size(); ++i) {
    types_[i] = checked_token_type(spec.token_types[i], i);
    if (types_[i] != TokenType::Byte) continue;
    const auto byte = parse_byte_token(texts_[i]);
    if (!byte) fail("{}[{}]: byte token '{}' is not of the form <0xNN>", kTokensKey, i, texts_[i]);
    byte_values_[i] = *byte;
  }

  // Byte fallback as llama.cpp resolves it: the "<0xNN>" token, else a token whose text is that one
  // byte.
  byte_tokens_.assign(256, -1);
  for (int byte = 0; byte < 256; ++byte) {
    const std::string hex_form = fmt::format("<0x{:02X}>", byte);
    const char raw = static_cast<char>(byte);
    auto id = find(hex_form);
    if (!id) id = find(std::string_view(&raw, 1));
    if (id) byte_tokens_[static_cast<size_t>(byte)] = *id;
  }
}

void Vocabulary::load_merges(const std::vector<std::string_view>& merges) {
  if (merges.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    fail("{}: {} merges is more than ranks can address", kMergesKey, merges.size());
  size_t total = 0;
  for (const auto merge : merges) total += merge.size();
  merge_storage_ = std::make_unique_for_overwrite<char[]>(total);
  merges_.reserve(merges.size());
  char* cursor = merge_storage_.get();
  for (size_t i = 0; i < merges.size(); ++i) {
    // As in llama.cpp, the separator is the first space after the first byte, so a left part may
    // itself be a space.
    const size_t space = merges[i].find(' ', 1);
    if (space == std::string_view::npos || space + 1 == merges[i].size())
      fail("{}[{}]: '{}' is not two tokens separated by a space", kMergesKey, i, merges[i]);
    std::memcpy(cursor, merges[i].data(), merges[i].size());
    const std::string_view merge(cursor, merges[i].size());
    cursor += merges[i].size();
    merges_.push_back({merge.substr(0, space), merge.substr(space + 1)});
  }
  std::vector<uint64_t> hashes(merges_.size());
  for (size_t i = 0; i < merges_.size(); ++i)
    hashes[i] = pair_hash(merges_[i].left, merges_[i].right);
  merge_ranks_ = IdIndex(merges_.size());
  for (size_t i = 0; i < merges_.size(); ++i) {
    if (i + kPrefetchDistance < merges_.size())
      merge_ranks_.prefetch(hashes[i + kPrefetchDistance]);
    const Merge& merge = merges_[i];
    // A repeated merge keeps its first (lowest) rank.
    merge_ranks_.insert(hashes[i], static_cast<int32_t>(i), [&](int32_t rank) {
      const Merge& other = merges_[static_cast<size_t>(rank)];
      return other.left == merge.left && other.right == merge.right;
    });
  }
}

std::optional<int32_t> Vocabulary::byte_token(uint8_t byte) const {
  const int32_t id = byte_tokens_[byte];
  if (id < 0) return std::nullopt;
  return id;
}

std::optional<int32_t> Vocabulary::find(std::string_view text) const {
  return ids_.find(text_hash(text),
                   [&](int32_t id) { return texts_[static_cast<size_t>(id)] == text; });
}

std::optional<int32_t> Vocabulary::merge_rank(std::string_view left, std::string_view right) const {
  return merge_ranks_.find(pair_hash(left, right), [&](int32_t rank) {
    const Merge& merge = merges_[static_cast<size_t>(rank)];
    return merge.left == left && merge.right == right;
  });
}

}  // namespace quant
