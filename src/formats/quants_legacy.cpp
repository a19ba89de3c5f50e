// The 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1. Each quantizer takes its scale
// from the block's largest magnitude (symmetric types) or its min and max (types with an offset)
// and rounds every element once, as ggml's reference quantizers do, with the same float operations
// in the same order so that the blocks come out byte-identical.

#include <cassert>
#include <cfloat>
#include <cmath>

#include "formats/blocks.h"
#include "formats/float16.h"
#include "formats/quant_rounding.h"
#include "formats/quants.h"

namespace quant {
namespace {

using detail::round_clamped;
using detail::truncate_clamped;

constexpr int kBlock = kLegacyBlockElements;
constexpr int kHalf = kBlock / 2;

int64_t block_count(int64_t n) {
  assert(n % kBlock == 0);
  return n / kBlock;
}

// The block's element of largest magnitude (the first one, on ties), sign included.
float signed_absmax(const float* x) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

float absmax(const float* x) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
  return amax;
}

struct Range {
  float min = FLT_MAX;
  float max = -FLT_MAX;
};

Range value_range(const float* x) {
  Range range;
  for (int j = 0; j < kBlock; ++j) {
    if (x[j] < range.min) range.min = x[j];
    if (x[j] > range.max) range.max = x[j];
  }
  return range;
}

float inverse_or_zero(float d) {
  return d != 0.0f ? 1.0f / d : 0.0f;
}

// Element j < 16 goes to the low nibble of qs[j], element j + 16 to its high nibble.
void pack_nibbles(const uint8_t* levels, uint8_t* qs) {
  for (int j = 0; j < kHalf; ++j) {
    qs[j] = static_cast<uint8_t>((levels[j] & 0x0f) | ((levels[j + kHalf] & 0x0f) << 4));
  }
}

int nibble(const uint8_t* qs, int j) {
  return j < kHalf ? qs[j] & 0x0f : qs[j - kHalf] >> 4;
}

// Bit j of the little-endian 32-bit qh is the fifth bit of element j.
void pack_fifth_bits(const uint8_t* levels, uint8_t* qh) {
  uint32_t bits = 0;
  for (int j = 0; j < kBlock; ++j) bits |= static_cast<uint32_t>((levels[j] >> 4) & 1) << j;
  for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(bits >> (8 * k));
}

uint32_t fifth_bits(const uint8_t* qh) {
  return qh[0] | (uint32_t{qh[1]} << 8) | (uint32_t{qh[2]} << 16) | (uint32_t{qh[3]} << 24);
}

int level5(const uint8_t* qs, uint32_t qh, int j) {
  return nibble(qs, j) | static_cast<int>(((qh >> j) & 1) << 4);
}

}  // namespace

void dequantize_row_q4_0(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q4_0Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, out += kBlock) {
    const float d = fp16_to_fp32(block->d);
    for (int j = 0; j < kBlock; ++j) out[j] = static_cast<float>(nibble(block->qs, j) - 8) * d;
  }
}

void quantize_row_q4_0(const float* in, void* blocks, int64_t n) {
  auto* block = static_cast<Q4_0Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, in += kBlock) {
    // The extreme element maps to level 0 exactly, so the other side gets the extra level 15.
    const float d = signed_absmax(in) / -8;
    const float id = inverse_or_zero(d);
    block->d = fp32_to_fp16(d);
    uint8_t levels[kBlock];
    for (int j = 0; j < kBlock; ++j) {
      levels[j] = static_cast<uint8_t>(truncate_clamped(in[j] * id + 8.5f, 0, 15));
    }
    pack_nibbles(levels, block->qs);
  }
}

void dequantize_row_q4_1(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q4_1Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, out += kBlock) {
    const float d = fp16_to_fp32(block->d);
    const float m = fp16_to_fp32(block->m);
    for (int j = 0; j < kBlock; ++j) out[j] = static_cast<float>(nibble(block->qs, j)) * d + m;
  }
}

void quantize_row_q4_1(const float* in, void* blocks, int64_t n) {
  auto* block = static_cast<Q4_1Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, in += kBlock) {
    const Range range = value_range(in);
    const float d = (range.max - range.min) / 15;
    const float id = inverse_or_zero(d);
    block->d = fp32_to_fp16(d);
    block->m = fp32_to_fp16(range.min);
    uint8_t levels[kBlock];
    for (int j = 0; j < kBlock; ++j) {
      levels[j] = static_cast<uint8_t>(truncate_clamped((in[j] - range.min) * id + 0.5f, 0, 15));
    }
    pack_nibbles(levels, block->qs);
  }
}

void dequantize_row_q5_0(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q5_0Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, out += kBlock) {
    const float d = fp16_to_fp32(block->d);
    const uint32_t qh = fifth_bits(block->qh);
    for (int j = 0; j < kBlock; ++j) out[j] = static_cast<float>(level5(block->qs, qh, j) - 16) * d;
  }
}

void quantize_row_q5_0(const float* in, void* blocks, int64_t n) {
  auto* block = static_cast<Q5_0Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, in += kBlock) {
    const float d = signed_absmax(in) / -16;
    const float id = inverse_or_zero(d);
    block->d = fp32_to_fp16(d);
    uint8_t levels[kBlock];
    for (int j = 0; j < kBlock; ++j) {
      levels[j] = static_cast<uint8_t>(truncate_clamped(in[j] * id + 16.5f, 0, 31));
    }
    pack_nibbles(levels, block->qs);
    pack_fifth_bits(levels, block->qh);
  }
}

void dequantize_row_q5_1(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q5_1Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, out += kBlock) {
    const float d = fp16_to_fp32(block->d);
    const float m = fp16_to_fp32(block->m);
    const uint32_t qh = fifth_bits(block->qh);
    for (int j = 0; j < kBlock; ++j) out[j] = static_cast<float>(level5(block->qs, qh, j)) * d + m;
  }
}

void quantize_row_q5_1(const float* in, void* blocks, int64_t n) {
  auto* block = static_cast<Q5_1Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, in += kBlock) {
    const Range range = value_range(in);
    const float d = (range.max - range.min) / 31;
    const float id = inverse_or_zero(d);
    block->d = fp32_to_fp16(d);
    block->m = fp32_to_fp16(range.min);
    uint8_t levels[kBlock];
    for (int j = 0; j < kBlock; ++j) {
      levels[j] = static_cast<uint8_t>(truncate_clamped((in[j] - range.min) * id + 0.5f, 0, 31));
    }
    pack_nibbles(levels, block->qs);
    pack_fifth_bits(levels, block->qh);
  }
}

void dequantize_row_q8_0(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q8_0Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, out += kBlock) {
    const float d = fp16_to_fp32(block->d);
    for (int j = 0; j < kBlock; ++j) out[j] = static_cast<float>(block->qs[j]) * d;
  }
}

void quantize_row_q8_0(const float* in, void* blocks, int64_t n) {
  auto* block = static_cast<Q8_0Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, in += kBlock) {
    const float d = absmax(in) / 127;
    const float id = inverse_or_zero(d);
    block->d = fp32_to_fp16(d);
    for (int j = 0; j < kBlock; ++j) {
      block->qs[j] = static_cast<int8_t>(round_clamped(in[j] * id, -127, 127));
    }
  }
}

void dequantize_row_q8_1(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q8_1Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, out += kBlock) {
    const float d = fp16_to_fp32(block->d);
    for (int j = 0; j < kBlock; ++j) out[j] = static_cast<float>(block->qs[j]) * d;
  }
}

void quantize_row_q8_1(const float* in, void* blocks, int64_t n) {
  auto* block = static_cast<Q8_1Block*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, in += kBlock) {
    const float d = absmax(in) / 127;
    const float id = inverse_or_zero(d);
    block->d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < kBlock; ++j) {
      block->qs[j] = static_cast<int8_t>(round_clamped(in[j] * id, -127, 127));
      sum += block->qs[j];
    }
    block->s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

}  // namespace quant
