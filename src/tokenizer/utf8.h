#pragma once
// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. The tokenizer
// checks every text it encodes with this and decodes known-valid text with the fast helpers below.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quant::utf8 {

// What one attempt to read a code point from a byte position found.
struct Decoded {
  enum class Status { Complete, Truncated, Invalid };
  Status status;
  char32_t code_point = 0;  // valid when Complete
  size_t length = 0;        // Complete: bytes used; Truncated: bytes available (a valid prefix);
                            // Invalid: bytes to skip (the maximal invalid subpart, at least 1)
};

// Reads one code point from the start of `bytes` (which must not be empty).
Decoded decode(std::string_view bytes);

// Byte offset of the first invalid or truncated sequence, or nullopt when `text` is valid UTF-8.
std::optional<size_t> first_invalid_offset(std::string_view text);

// Number of bytes of the sequence that starts with `lead` in valid UTF-8 (1 to 4).
inline size_t sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Appends the UTF-8 form of a valid code point.
void append(std::string& out, char32_t code_point);

// U+FFFD, what undecodable bytes turn into when text must be shown.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

}  // namespace quant::utf8
