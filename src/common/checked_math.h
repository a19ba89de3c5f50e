#pragma once
// Overflow-checked size arithmetic for everything derived from untrusted input (file headers,
// requests).

#include <cstdint>
#include <optional>

namespace quant {

// a + b, or nullopt when it overflows uint64_t.
inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// a * b, or nullopt when it overflows uint64_t.
inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

}  // namespace quant
