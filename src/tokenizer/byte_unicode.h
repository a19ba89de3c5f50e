#pragma once
// GPT-2's reversible byte <-> character mapping used by byte-level BPE vocabularies: every byte
// becomes one printable code point, so that token texts never contain raw control bytes or spaces.
// Bytes that are printable Latin-1 ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) map to themselves;
// the other 68 map, in byte order, to U+0100, U+0101, ... (so a space, 0x20, is 'Ġ' U+0120 and a
// newline, 0x0A, is 'Ċ' U+010A).

#include <array>
#include <cstdint>
#include <optional>

namespace quant::byte_unicode {

namespace detail {

constexpr bool maps_to_itself(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

constexpr std::array<char32_t, 256> make_byte_to_code_point() {
  std::array<char32_t, 256> table{};
  char32_t next = 0x100;
  for (int byte = 0; byte < 256; ++byte)
    table[byte] = maps_to_itself(byte) ? char32_t(byte) : next++;
  return table;
}

inline constexpr std::array<char32_t, 256> kByteToCodePoint = make_byte_to_code_point();
inline constexpr char32_t kCodePointLimit = 0x100 + 68;  // every mapped code point is below this

constexpr std::array<int16_t, kCodePointLimit> make_code_point_to_byte() {
  std::array<int16_t, kCodePointLimit> table{};
  for (auto& entry : table) entry = -1;
  for (int byte = 0; byte < 256; ++byte) table[kByteToCodePoint[byte]] = int16_t(byte);
  return table;
}

inline constexpr std::array<int16_t, kCodePointLimit> kCodePointToByte = make_code_point_to_byte();

}  // namespace detail

constexpr char32_t code_point_of(uint8_t byte) {
  return detail::kByteToCodePoint[byte];
}

// The byte a code point stands for, or nullopt when it is not one of the 256 mapped code points.
constexpr std::optional<uint8_t> byte_of(char32_t code_point) {
  if (code_point >= detail::kCodePointLimit) return std::nullopt;
  const int16_t byte = detail::kCodePointToByte[code_point];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

}  // namespace quant::byte_unicode
