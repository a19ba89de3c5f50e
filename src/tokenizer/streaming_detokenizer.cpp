#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace quant {

StreamingDetokenizer::StreamingDetokenizer(Tokenizer tokenizer, bool render_special)
    : tokenizer_(std::move(tokenizer)), render_special_(render_special) {}

std::string StreamingDetokenizer::push(int32_t id) {
  pending_ += tokenizer_.piece(id, render_special_);
  std::string ready;
  size_t at = 0;
  while (at < pending_.size()) {
    if (static_cast<uint8_t>(pending_[at]) < 0x80) {
      ready += pending_[at++];
      continue;
    }
    const utf8::Decoded d = utf8::decode(std::string_view(pending_).substr(at));
    if (d.status == utf8::Decoded::Status::Truncated) break;  // wait for the rest of the character
    if (d.status == utf8::Decoded::Status::Complete)
      ready.append(pending_, at, d.length);
    else
      ready += utf8::kReplacementCharacter;
    at += d.length;
  }
  pending_.erase(0, at);
  return ready;
}

std::string StreamingDetokenizer::flush() {
  // What is left is at most one incomplete character.
  std::string rest = pending_.empty() ? std::string() : std::string(utf8::kReplacementCharacter);
  pending_.clear();
  return rest;
}

}  // namespace quant
