#include "backend/cpu/quantize_activations.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "formats/blocks.h"
#include "formats/float16.h"
#include "formats/quant_rounding.h"

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#endif

namespace quant::cpu {
namespace {

using detail::clamp_int;
using detail::nearest_int;

constexpr int kLegacy = kLegacyBlockElements;
constexpr int kSuper = kSuperBlockElements;
constexpr int kSumGroup = 16;  // Q8_K keeps the sum of every 16 levels
// The copy of Q8_K levels for the AVX-512 kernels (matmul.h): pieces of 4 levels of each group of
// 32.
constexpr int kGroupElements = 32;
constexpr int kGroups = kSuper / kGroupElements;
constexpr int kPiece = 4;

struct RowParts {
  int8_t* levels;
  float* scales;
  uint8_t* sums;
};

RowParts parts(uint8_t* out, const ActivationLayout& layout) {
  return {reinterpret_cast<int8_t*>(out), reinterpret_cast<float*>(out + layout.scales_offset),
          out + layout.sums_offset};
}

float round_to_half(float value) {
  return fp16_to_fp32(fp32_to_fp16(value));
}

void write_group_sums(const int8_t* levels, uint8_t* sums) {
  for (int g = 0; g < kSuper / kSumGroup; ++g) {
    int sum = 0;
    for (int i = 0; i < kSumGroup; ++i) sum += levels[kSumGroup * g + i];
    const auto sum16 = static_cast<int16_t>(sum);
    std::memcpy(sums + g * sizeof(int16_t), &sum16, sizeof(sum16));
  }
}

// The element of largest magnitude (the first of equals), or 0 for an all-zero block.
float signed_max(const float* x, float amax) {
  for (int j = 0; j < kSuper; ++j)
    if (std::fabs(x[j]) == amax) return x[j];
  return 0.0f;
}

void q8_1_block_reference(const float* x, int8_t* levels, float& d_out, float& s_out) {
  float amax = 0.0f;
  for (int j = 0; j < kLegacy; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int sum = 0;
  for (int j = 0; j < kLegacy; ++j) {
    levels[j] = static_cast<int8_t>(clamp_int(nearest_int(x[j] * id), -128, 127));
    sum += levels[j];
  }
  d_out = round_to_half(d);
  s_out = d_out * static_cast<float>(sum);
}

void q8_k_block_reference(const float* x, int8_t* levels, float& d_out, uint8_t* sums) {
  float amax = 0.0f;
  for (int j = 0; j < kSuper; ++j) amax = std::max(amax, std::fabs(x[j]));
  if (amax == 0.0f) {
    std::memset(levels, 0, kSuper);
    std::memset(sums, 0, kSuper / kSumGroup * sizeof(int16_t));
    d_out = 0.0f;
    return;
  }
  const float iscale = -127.0f / signed_max(x, amax);
  for (int j = 0; j < kSuper; ++j)
    levels[j] = static_cast<int8_t>(clamp_int(nearest_int(iscale * x[j]), -128, 127));
  write_group_sums(levels, sums);
  d_out = 1.0f / iscale;
}

#if defined(__AVX2__) && defined(__F16C__)

float max_lane(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

__m256 abs_ps(__m256 v) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

// round(x[0..32) * scale) with ties to even, saturated to int8, stored in order; returns the
// four vectors of int32 levels summed.
__m256i round_32(const float* x, __m256 scale, int8_t* levels) {
  __m256i q[4];
  for (int k = 0; k < 4; ++k) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), scale);
    q[k] = _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  // The packs work within 128-bit lanes; the permutation puts the 32 levels back in order.
  const __m256i words = _mm256_packs_epi32(q[0], q[1]);
  const __m256i words2 = _mm256_packs_epi32(q[2], q[3]);
  const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words, words2),
                                                    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(levels), bytes);
  return _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
}

int sum_lanes(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

void q8_1_block(const float* x, int8_t* levels, float& d_out, float& s_out) {
  __m256 amax_v = abs_ps(_mm256_loadu_ps(x));
  for (int k = 1; k < 4; ++k) amax_v = _mm256_max_ps(amax_v, abs_ps(_mm256_loadu_ps(x + 8 * k)));
  const float amax = max_lane(amax_v);
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  const int sum = sum_lanes(round_32(x, _mm256_set1_ps(id), levels));
  d_out = round_to_half(d);
  s_out = d_out * static_cast<float>(sum);
}

void q8_k_block(const float* x, int8_t* levels, float& d_out, uint8_t* sums) {
  __m256 amax_v = _mm256_setzero_ps();
  for (int k = 0; k < kSuper / 8; ++k)
    amax_v = _mm256_max_ps(amax_v, abs_ps(_mm256_loadu_ps(x + 8 * k)));
  const float amax = max_lane(amax_v);
  if (amax == 0.0f) {
    q8_k_block_reference(x, levels, d_out, sums);
    return;
  }
  const float iscale = -127.0f / signed_max(x, amax);
  for (int k = 0; k < kSuper / 32; ++k)
    round_32(x + 32 * k, _mm256_set1_ps(iscale), levels + 32 * k);
  write_group_sums(levels, sums);
  d_out = 1.0f / iscale;
}

#else

void q8_1_block(const float* x, int8_t* levels, float& d_out, float& s_out) {
  q8_1_block_reference(x, levels, d_out, s_out);
}

void q8_k_block(const float* x, int8_t* levels, float& d_out, uint8_t* sums) {
  q8_k_block_reference(x, levels, d_out, sums);
}

#endif

// The parts of a Q8_K row for the AVX-512 kernels (layout in matmul.h), from its levels, scales
// and sums.
void write_pairs(const RowParts& p, uint64_t n_blocks, const ActivationLayout& layout,
                 uint8_t* out) {
  const uint64_t n_pairs = (n_blocks + 1) / 2;
  uint8_t* pair_levels = out + layout.pair_levels_offset;
  auto* pair_scales = reinterpret_cast<float*>(out + layout.pair_scales_offset);
  auto* pair_sums = reinterpret_cast<float*>(out + layout.pair_sums_offset);
  std::memset(pair_levels, 0, n_pairs * 2 * kSuper);
  std::memset(pair_scales, 0, n_pairs * 16 * sizeof(float));
  std::memset(pair_sums, 0, n_pairs * 48 * sizeof(float));
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint64_t pair = b / 2, h = b % 2;
    const int8_t* levels = p.levels + b * kSuper;
    const float d = p.scales[b];
    for (int j = 0; j < kGroups; ++j) {
      for (int k = 0; k < kGroupElements / kPiece; ++k)
        std::memcpy(pair_levels + pair * 2 * kSuper + 64 * k + 32 * h + kPiece * j,
                    levels + kGroupElements * j + kPiece * k, kPiece);
      int16_t sums[2];
      std::memcpy(sums, p.sums + (b * kSuper / kSumGroup + 2 * j) * sizeof(int16_t), sizeof(sums));
      pair_scales[pair * 16 + 8 * h + j] = d;
      pair_sums[pair * 48 + 8 * h + j] = static_cast<float>(sums[0] + sums[1]) * d;
      pair_sums[pair * 48 + 16 + 8 * h + j] = static_cast<float>(sums[0]) * d;
      pair_sums[pair * 48 + 32 + 8 * h + j] = static_cast<float>(sums[1]) * d;
    }
  }
}

template <bool kReference>
void quantize_row(const float* in, const ActivationLayout& layout, uint8_t* out) {
  const RowParts p = parts(out, layout);
  if (layout.format == ActivationFormat::Q8_1) {
    auto* s = reinterpret_cast<float*>(p.sums);
    for (uint64_t b = 0; b < layout.cols / kLegacy; ++b) {
      if constexpr (kReference)
        q8_1_block_reference(in + b * kLegacy, p.levels + b * kLegacy, p.scales[b], s[b]);
      else
        q8_1_block(in + b * kLegacy, p.levels + b * kLegacy, p.scales[b], s[b]);
    }
    return;
  }
  assert(layout.format == ActivationFormat::Q8_K);
  const uint64_t n_blocks = layout.cols / kSuper;
  for (uint64_t b = 0; b < n_blocks; ++b) {
    uint8_t* sums = p.sums + b * (kSuper / kSumGroup) * sizeof(int16_t);
    if constexpr (kReference)
      q8_k_block_reference(in + b * kSuper, p.levels + b * kSuper, p.scales[b], sums);
    else
      q8_k_block(in + b * kSuper, p.levels + b * kSuper, p.scales[b], sums);
  }
  write_pairs(p, n_blocks, layout, out);
}

}  // namespace

void quantize_activation_row(const float* in, const ActivationLayout& layout, uint8_t* out) {
  quantize_row<false>(in, layout, out);
}

void quantize_activation_row_reference(const float* in, const ActivationLayout& layout,
                                       uint8_t* out) {
  quantize_row<true>(in, layout, out);
}

}  // namespace quant::cpu
