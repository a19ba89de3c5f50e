#include "modelgen/synthetic_vocab.h"

#include <algorithm>
#include <unordered_set>

#include "common/error.h"
#include "modelgen/deterministic_random.h"

namespace quant::modelgen {

namespace {

// The vocabulary does not depend on --seed: every model of a preset tokenizes the same way.
constexpr uint64_t kVocabSeed = 0x766f636162ULL;
constexpr uint32_t kByteTokens = 256;
constexpr const char* kSpecialTokens[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
constexpr uint32_t kSpecialCount = 3;

void append_utf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else {  // every code point here is below U+0800
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Relative frequencies of the letters a..z in English text (per mille), so that common letter pairs
// get merged more often and ordinary text tokenizes into longer tokens.
constexpr uint32_t kLetterWeights[26] = {82, 15, 28, 43, 127, 22, 20, 61, 70, 2,  8, 40, 24,
                                         67, 75, 19, 1,  60,  63, 91, 28, 10, 24, 2, 20, 1};

uint32_t weighted_letter(uint64_t bits) {
  uint32_t total = 0;
  for (uint32_t w : kLetterWeights) total += w;
  uint64_t pick = bits % total;
  uint32_t letter = 0;
  while (pick >= kLetterWeights[letter]) pick -= kLetterWeights[letter++];
  return 'a' + letter;
}

bool prints_as_itself(uint32_t byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
}

}  // namespace

std::string byte_token(uint8_t byte) {
  uint32_t code_point = byte;
  if (!prints_as_itself(byte)) {
    // The n-th byte that does not print as itself becomes U+0100 + n.
    uint32_t n = 0;
    for (uint32_t b = 0; b < byte; ++b) n += prints_as_itself(b) ? 0 : 1;
    code_point = 0x100 + n;
  }
  std::string s;
  append_utf8(s, code_point);
  return s;
}

SyntheticVocab build_synthetic_vocab(uint32_t size) {
  if (size < kByteTokens + kSpecialCount + 1) {
    fail("a synthetic vocabulary needs at least {} tokens, not {}", kByteTokens + kSpecialCount + 1,
         size);
  }
  SyntheticVocab vocab;
  vocab.tokens.reserve(size);
  for (uint32_t b = 0; b < kByteTokens; ++b)
    vocab.tokens.push_back(byte_token(static_cast<uint8_t>(b)));

  // Left parts: a space or a letter to start with, then every merged token. Right parts: letters.
  std::vector<uint32_t> left_parts = {' '};
  for (uint32_t c = 'a'; c <= 'z'; ++c) left_parts.push_back(c);
  std::unordered_set<std::string> known(vocab.tokens.begin(), vocab.tokens.end());
  SplitMix64 random(kVocabSeed);
  const uint32_t n_merged = size - kByteTokens - kSpecialCount;
  vocab.merges.reserve(n_merged);
  while (vocab.merges.size() < n_merged) {
    // The smaller of two draws favours early, short tokens, so lengths grow slowly.
    const uint64_t a = random.next() % left_parts.size();
    const uint64_t b = random.next() % left_parts.size();
    const uint32_t left = left_parts[std::min(a, b)];
    const uint32_t right = weighted_letter(random.next());
    std::string merged = vocab.tokens[left] + vocab.tokens[right];
    if (!known.insert(merged).second) continue;
    vocab.merges.push_back(vocab.tokens[left] + " " + vocab.tokens[right]);
    left_parts.push_back(static_cast<uint32_t>(vocab.tokens.size()));
    vocab.tokens.push_back(std::move(merged));
  }
  vocab.token_types.assign(vocab.tokens.size(), static_cast<int32_t>(TokenType::Normal));

  const auto first_special = static_cast<uint32_t>(vocab.tokens.size());
  for (const char* special : kSpecialTokens) {
    vocab.tokens.emplace_back(special);
    vocab.token_types.push_back(static_cast<int32_t>(TokenType::Control));
  }
  vocab.endoftext_id = first_special;
  vocab.im_start_id = first_special + 1;
  vocab.im_end_id = first_special + 2;
  return vocab;
}

std::string_view chatml_template() {
  return "{% for message in messages %}"
         "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' "
         "}}"
         "{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

}  // namespace quant::modelgen
