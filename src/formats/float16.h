#pragma once
// IEEE binary16 (F16) and bfloat16 (BF16) <-> float32 conversions.
//
// Widening is exact. Narrowing rounds to nearest, ties to even; values beyond the F16 range become
// infinities (BF16 has float32's range); subnormals are kept, never flushed. A NaN stays a NaN of
// the same sign, made quiet, with the upper bits of its payload kept: this is what the x86 F16C
// instructions do, so the row conversions below, which use F16C where the build targets it, give
// exactly the bits of these scalar functions. ggml agrees on every non-NaN value (its F16 NaN is
// always 0x7E00 with the sign). None of this depends on the floating-point environment (rounding
// mode, flush-to-zero).

#include <bit>
#include <cstdint>

namespace quant {

constexpr float fp16_to_fp32(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0x1f) {  // infinity, or NaN (made quiet)
    const uint32_t quiet = mantissa != 0 ? 0x400000u : 0u;
    return std::bit_cast<float>(sign | 0x7f800000u | quiet | (mantissa << 13));
  }
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float32
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

constexpr uint16_t fp32_to_fp16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {  // NaN: quiet, upper payload bits kept
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  if (magnitude >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 2^16: infinity
  if (magnitude >= 0x38800000u) {
    // Normal in F16 (>= 2^-14). Rebias the exponent (127 -> 15), then round away the 13 low
    // mantissa bits; a carry out of the mantissa correctly bumps the exponent, up to infinity at
    // 65520.
    const uint32_t rebiased = magnitude - (112u << 23);
    const uint32_t rounded = rebiased + 0xfffu + ((rebiased >> 13) & 1u);
    return static_cast<uint16_t>(sign | (rounded >> 13));
  }
  const uint32_t exponent = magnitude >> 23;
  if (exponent < 102) return sign;  // below 2^-25: rounds to zero
  // Subnormal in F16: the value is full_mantissa * 2^(exponent - 150) and the F16 unit is 2^-24, so
  // the level is full_mantissa >> (126 - exponent), rounded; rounding up to 0x400 gives the
  // smallest normal.
  const uint32_t full_mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exponent;  // 14..24
  const uint32_t level = full_mantissa >> shift;
  const uint32_t remainder = full_mantissa & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  const bool round_up = remainder > halfway || (remainder == halfway && (level & 1u) != 0);
  return static_cast<uint16_t>(sign | (level + (round_up ? 1u : 0u)));
}

constexpr float bf16_to_fp32(uint16_t bf16) {
  return std::bit_cast<float>(static_cast<uint32_t>(bf16) << 16);
}

constexpr uint16_t fp32_to_bf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {  // NaN: quiet, upper payload bits kept
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  }
  // Round away the low 16 bits, ties to even; a carry may reach the exponent (up to infinity).
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// Row conversions of n values; same bits as the scalar functions, faster.
void fp16_to_fp32_row(const uint16_t* in, float* out, int64_t n);
void fp32_to_fp16_row(const float* in, uint16_t* out, int64_t n);
void bf16_to_fp32_row(const uint16_t* in, float* out, int64_t n);
void fp32_to_bf16_row(const float* in, uint16_t* out, int64_t n);

}  // namespace quant
