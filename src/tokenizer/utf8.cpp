#include "tokenizer/utf8.h"

#include <cassert>

namespace quant::utf8 {

namespace {

bool is_continuation(uint8_t byte) {
  return (byte & 0xC0) == 0x80;
}

// The allowed range of the second byte after a lead byte (RFC 3629, table 3-7 of the Unicode
// standard): it is what excludes overlong forms, surrogates and code points above U+10FFFF.
struct SecondByteRange {
  uint8_t low;
  uint8_t high;
};

SecondByteRange second_byte_range(uint8_t lead) {
  switch (lead) {
    case 0xE0:
      return {0xA0, 0xBF};
    case 0xED:
      return {0x80, 0x9F};
    case 0xF0:
      return {0x90, 0xBF};
    case 0xF4:
      return {0x80, 0x8F};
    default:
      return {0x80, 0xBF};
  }
}

}  // namespace

Decoded decode(std::string_view bytes) {
  assert(!bytes.empty());
  const auto lead = static_cast<uint8_t>(bytes[0]);
  if (lead < 0x80) return {Decoded::Status::Complete, lead, 1};
  size_t length;
  char32_t code_point;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07;
  } else {
    return {Decoded::Status::Invalid, 0, 1};  // continuation byte, C0, C1 or F5..FF as a lead
  }
  const SecondByteRange second = second_byte_range(lead);
  for (size_t i = 1; i < length; ++i) {
    if (i == bytes.size()) return {Decoded::Status::Truncated, 0, i};
    const auto byte = static_cast<uint8_t>(bytes[i]);
    const bool allowed =
        i == 1 ? (byte >= second.low && byte <= second.high) : is_continuation(byte);
    if (!allowed) return {Decoded::Status::Invalid, 0, i};
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  return {Decoded::Status::Complete, code_point, length};
}

std::optional<size_t> first_invalid_offset(std::string_view text) {
  size_t offset = 0;
  while (offset < text.size()) {
    // ASCII runs are the common case; skip them without decoding.
    if (static_cast<uint8_t>(text[offset]) < 0x80) {
      ++offset;
      continue;
    }
    const Decoded d = decode(text.substr(offset));
    if (d.status != Decoded::Status::Complete) return offset;
    offset += d.length;
  }
  return std::nullopt;
}

void append(std::string& out, char32_t code_point) {
  assert(code_point <= 0x10FFFF && !(code_point >= 0xD800 && code_point <= 0xDFFF));
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

}  // namespace quant::utf8
