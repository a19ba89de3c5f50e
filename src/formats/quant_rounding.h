#pragma once
// Rounding helpers of the quantizers. They reproduce the integer conversions of ggml's reference
// quantizers exactly (so our blocks match theirs) while staying defined for any input, NaN
// included.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace quant::detail {

// Round to nearest, ties to even, for |value| < 2^22, as ggml's K-quant code rounds: adding 1.5 *
// 2^23 leaves the integer in the low mantissa bits. Beyond that range (or for NaN) the result is
// some int that callers clamp. Cheap, branch-free and vectorizable.
inline int nearest_int(float value) {
  const float shifted = value + 12582912.0f;
  return static_cast<int>(std::bit_cast<uint32_t>(shifted) & 0x7fffffu) - 0x400000;
}

// std::min/std::max (not a chain of ?:) so that loops using it vectorize.
inline int clamp_int(int value, int lo, int hi) {
  return std::max(lo, std::min(value, hi));
}

// `value` limited to [lo, hi] in float, NaN mapping to lo, so that converting it to int is always
// defined.
inline float clamp_float(float value, float lo, float hi) {
  return value > lo ? (value < hi ? value : hi) : lo;
}

// C's float-to-int conversion (toward zero) of `value` limited to [lo, hi].
inline int truncate_clamped(float value, int lo, int hi) {
  return static_cast<int>(clamp_float(value, static_cast<float>(lo), static_cast<float>(hi)));
}

// C's roundf (halves away from zero) of `value` limited to [lo, hi].
inline int round_clamped(float value, int lo, int hi) {
  return static_cast<int>(
      std::round(clamp_float(value, static_cast<float>(lo), static_cast<float>(hi))));
}

}  // namespace quant::detail
