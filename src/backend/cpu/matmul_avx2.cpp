// The AVX2 + FMA + F16C kernels (the x86-64-v3 build baseline). Integer dot products per block with
// _mm256_maddubs_epi16 (unsigned weight levels times signed activation levels, pairs summed to
// int16) and _mm256_madd_epi16 (times the sub-block scale, pairs summed to int32); block scales
// applied with FMA into float accumulators that are summed across lanes once per row.
//
// Each kernel call takes one weight row and a group of up to kTokenGroup tokens: a weight block is
// decoded once per group. The code each token runs is the same whatever the group size, so results
// do not depend on how tokens are grouped.

#include "backend/cpu/matmul_kernels.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "formats/blocks.h"

namespace quant::cpu {
namespace {

// Tokens per kernel call: their sums and accumulators fit the 16 vector registers.
constexpr int kTokenGroup = 4;
// Rows per tile: every token group runs over a tile before the next, so the tile's weights are
// read from memory once per batch and the group's activations stay in the L1 cache.
constexpr uint64_t kRowTile = 16;

__m256i load(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float half(uint16_t h) {
  return _cvtsh_ss(h);
}

// The quantized activation rows of a token group.
struct Activations {
  const uint8_t* first;  // the group's first token
  size_t stride;
  const ActivationLayout& layout;

  const int8_t* levels(int t) const { return reinterpret_cast<const int8_t*>(first + t * stride); }
  float scale(int t, uint64_t block) const {
    return reinterpret_cast<const float*>(first + t * stride + layout.scales_offset)[block];
  }
  // Q8_1: d * the sum of the block's levels.
  float sum(int t, uint64_t block) const {
    return reinterpret_cast<const float*>(first + t * stride + layout.sums_offset)[block];
  }
  // Q8_K: the 16 sums of 16 levels of a block.
  __m256i sums16(int t, uint64_t block) const {
    return load(first + t * stride + layout.sums_offset + block * 16 * sizeof(int16_t));
  }
};

// ---- Float weights times F32 activations

template <TensorType kType>
struct FloatKernel {
  static constexpr size_t kElementBytes = kType == TensorType::F32 ? 4 : 2;

  static __m256 load8(const uint8_t* p) {
    if constexpr (kType == TensorType::F32)
      return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
    const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (kType == TensorType::F16) return _mm256_cvtph_ps(halves);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16));
  }

  template <int N>
  static void run(const MatmulArgs& a, const uint8_t* row, const uint8_t* act, float* out) {
    const float* x[N];
    __m256 acc0[N], acc1[N];
    for (int t = 0; t < N; ++t) {
      x[t] = reinterpret_cast<const float*>(act + t * a.activation_stride);
      acc0[t] = acc1[t] = _mm256_setzero_ps();
    }
    uint64_t i = 0;
    for (; i + 16 <= a.cols; i += 16) {
      const __m256 w0 = load8(row + i * kElementBytes), w1 = load8(row + (i + 8) * kElementBytes);
      for (int t = 0; t < N; ++t) {
        acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + i), acc0[t]);
        acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[t] + i + 8), acc1[t]);
      }
    }
    if (i < a.cols) {  // the last few columns, zero-padded to 16
      const size_t rest = a.cols - i;
      uint8_t w_tail[16 * 4] = {};
      std::memcpy(w_tail, row + i * kElementBytes, rest * kElementBytes);
      const __m256 w0 = load8(w_tail), w1 = load8(w_tail + 8 * kElementBytes);
      for (int t = 0; t < N; ++t) {
        float x_tail[16] = {};
        std::memcpy(x_tail, x[t] + i, rest * sizeof(float));
        acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x_tail), acc0[t]);
        acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x_tail + 8), acc1[t]);
      }
    }
    for (int t = 0; t < N; ++t) out[t * a.out_stride] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
  }
};

// ---- Blocks of 32 times Q8_1 activations

// The 32 levels of a Q4_0/Q4_1 block as bytes 0..15, in element order.
__m256i nibbles_32(const uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// The fifth bits of a Q5_0/Q5_1 block (bit j of qh for element j) as 0x10 or 0 per byte.
__m256i fifth_bits_32(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  // Byte j takes byte j / 8 of the bits, then keeps its bit j % 8.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// d * sum(w * y) per block, plus a per-block term folded in at the end: Q4_0 and Q5_0 store levels
// q = w + offset, so sum((q - offset) * y) * d_y = sum(q * y) * d_y - offset * s_y; Q4_1 and Q5_1
// add m * s_y. Q8_0 levels are signed: maddubs needs an unsigned operand, so the weight's sign
// moves onto the activation.
template <typename Block>
struct LegacyKernel {
  static constexpr bool kSigned = std::is_same_v<Block, Q8_0Block>;
  static constexpr bool kHasMin =
      std::is_same_v<Block, Q4_1Block> || std::is_same_v<Block, Q5_1Block>;
  static constexpr float kOffset = std::is_same_v<Block, Q4_0Block>   ? 8.0f
                                   : std::is_same_v<Block, Q5_0Block> ? 16.0f
                                                                      : 0.0f;

  static __m256i levels(const Block& x) {
    if constexpr (kSigned) return load(x.qs);
    if constexpr (std::is_same_v<Block, Q4_0Block> || std::is_same_v<Block, Q4_1Block>)
      return nibbles_32(x.qs);
    if constexpr (std::is_same_v<Block, Q5_0Block> || std::is_same_v<Block, Q5_1Block>)
      return _mm256_or_si256(nibbles_32(x.qs), fifth_bits_32(x.qh));
  }

  template <int N>
  static void run(const MatmulArgs& a, const uint8_t* row, const uint8_t* act, float* out) {
    const auto* blocks = reinterpret_cast<const Block*>(row);
    const Activations y{act, a.activation_stride, a.layout};
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[N];
    float extra[N];  // sum of d * s_y (offset types) or m * s_y (types with a min)
    for (int t = 0; t < N; ++t) {
      acc[t] = _mm256_setzero_ps();
      extra[t] = 0.0f;
    }
    for (uint64_t b = 0; b < a.cols / kLegacyBlockElements; ++b) {
      const Block& x = blocks[b];
      const float d = half(x.d);
      const __m256i q = levels(x);
      const __m256i q_unsigned = kSigned ? _mm256_abs_epi8(q) : q;
      for (int t = 0; t < N; ++t) {
        __m256i y_levels = load(y.levels(t) + b * kLegacyBlockElements);
        if constexpr (kSigned) y_levels = _mm256_sign_epi8(y_levels, q);
        const __m256i products =
            _mm256_madd_epi16(_mm256_maddubs_epi16(q_unsigned, y_levels), ones);
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y.scale(t, b)), _mm256_cvtepi32_ps(products),
                                 acc[t]);
        if constexpr (kHasMin) extra[t] = std::fma(half(x.m), y.sum(t, b), extra[t]);
        if constexpr (kOffset != 0.0f) extra[t] = std::fma(d, y.sum(t, b), extra[t]);
      }
    }
    for (int t = 0; t < N; ++t) {
      float result = hsum(acc[t]);
      if constexpr (kHasMin) result += extra[t];
      if constexpr (kOffset != 0.0f) result -= kOffset * extra[t];
      out[t * a.out_stride] = result;
    }
  }
};

// ---- K-quants times Q8_K activations

// The 8 six-bit scales and 8 six-bit mins of a Q4_K/Q5_K block as bytes [sc0..sc7, m0..m7]
// (packing in formats/blocks.h).
__m128i k_scales_mins(const uint8_t* packed) {
  uint32_t w[3];
  std::memcpy(w, packed, sizeof(w));
  const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
  const uint32_t scales_0_3 = w[0] & low6;
  const uint32_t mins_0_3 = w[1] & low6;
  const uint32_t scales_4_7 = (w[2] & low4) | (((w[0] >> 6) & low2) << 4);
  const uint32_t mins_4_7 = ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4);
  return _mm_setr_epi32(static_cast<int>(scales_0_3), static_cast<int>(scales_4_7),
                        static_cast<int>(mins_0_3), static_cast<int>(mins_4_7));
}

// Int16 word w of each 128-bit lane of v in all 8 words of that lane.
__m256i broadcast_word(__m256i v, int w) {
  return _mm256_shuffle_epi8(v, _mm256_set1_epi16(static_cast<int16_t>((2 * w + 1) << 8 | 2 * w)));
}

// Q4_K and Q5_K: sub-block j (32 elements) has scale sc_j and min m_j; per block
// d_y * (d * sum_j sc_j * sum(q * y) - dmin * sum_j m_j * sum(y)), sum(y) from the 16-sums.
template <bool kFiveBits>
struct KAffineKernel {
  using Block = std::conditional_t<kFiveBits, Q5KBlock, Q4KBlock>;

  template <int N>
  static void run(const MatmulArgs& a, const uint8_t* row, const uint8_t* act, float* out) {
    const auto* blocks = reinterpret_cast<const Block*>(row);
    const Activations y{act, a.activation_stride, a.layout};
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m256 acc[N];
    for (int t = 0; t < N; ++t) acc[t] = _mm256_setzero_ps();
    for (uint64_t b = 0; b < a.cols / kSuperBlockElements; ++b) {
      const Block& x = blocks[b];
      const __m128i scales_mins = k_scales_mins(x.scales);
      const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales_mins));
      // Each min twice, to meet the two 16-sums of its sub-block.
      const __m256i mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(
          scales_mins, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15)));
      [[maybe_unused]] __m256i high_bits;
      if constexpr (kFiveBits) high_bits = load(x.qh);
      __m256i isum[N];
      for (int t = 0; t < N; ++t) isum[t] = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) {  // sub-blocks 2k (low nibbles) and 2k + 1 (high nibbles)
        const __m256i packed = load(x.qs + 32 * k);
        __m256i q_lo = _mm256_and_si256(packed, low4);
        __m256i q_hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
        if constexpr (kFiveBits) {
          const __m256i bit_lo = _mm256_set1_epi8(static_cast<char>(1 << (2 * k)));
          const __m256i bit_hi = _mm256_set1_epi8(static_cast<char>(1 << (2 * k + 1)));
          const __m256i ten = _mm256_set1_epi8(0x10);
          q_lo = _mm256_or_si256(
              q_lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(high_bits, bit_lo), bit_lo),
                                     ten));
          q_hi = _mm256_or_si256(
              q_hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(high_bits, bit_hi), bit_hi),
                                     ten));
        }
        const __m256i scale_lo = broadcast_word(scales, 2 * k);
        const __m256i scale_hi = broadcast_word(scales, 2 * k + 1);
        for (int t = 0; t < N; ++t) {
          const int8_t* levels = y.levels(t) + b * kSuperBlockElements + 64 * k;
          const __m256i p_lo =
              _mm256_madd_epi16(_mm256_maddubs_epi16(q_lo, load(levels)), scale_lo);
          const __m256i p_hi =
              _mm256_madd_epi16(_mm256_maddubs_epi16(q_hi, load(levels + 32)), scale_hi);
          isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(p_lo, p_hi));
        }
      }
      const float d = half(x.d), dmin = half(x.dmin);
      for (int t = 0; t < N; ++t) {
        const float dy = y.scale(t, b);
        const __m256i min_sum = _mm256_madd_epi16(y.sums16(t, b), mins);
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * dy), _mm256_cvtepi32_ps(isum[t]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * dy), _mm256_cvtepi32_ps(min_sum), acc[t]);
      }
    }
    for (int t = 0; t < N; ++t) out[t * a.out_stride] = hsum(acc[t]);
  }
};

// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales and levels q - 32, q in 0..63. The - 32 is
// taken out of the integer sum as 32 * sum_j sc_j * sum(y over sub-block j), from the 16-sums.
struct Q6KKernel {
  template <int N>
  static void run(const MatmulArgs& a, const uint8_t* row, const uint8_t* act, float* out) {
    const auto* blocks = reinterpret_cast<const Q6KBlock*>(row);
    const Activations y{act, a.activation_stride, a.layout};
    const __m256i low4 = _mm256_set1_epi8(0x0f), low2 = _mm256_set1_epi8(0x03);
    __m256 acc[N];
    for (int t = 0; t < N; ++t) acc[t] = _mm256_setzero_ps();
    for (uint64_t b = 0; b < a.cols / kSuperBlockElements; ++b) {
      const Q6KBlock& x = blocks[b];
      const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
      const __m256i scales16 = _mm256_cvtepi8_epi16(scales8);
      __m256i isum[N];
      for (int t = 0; t < N; ++t)
        isum[t] =
            _mm256_sub_epi32(_mm256_setzero_si256(),
                             _mm256_slli_epi32(_mm256_madd_epi16(y.sums16(t, b), scales16), 5));
      for (int h = 0; h < 2; ++h) {  // halves of 128 elements
        const __m256i low_a = load(x.ql + 64 * h), low_b = load(x.ql + 64 * h + 32);
        const __m256i top = load(x.qh + 32 * h);
        for (int j = 0; j < 4; ++j) {  // elements 32j..32j+31 of the half
          const __m256i low = j % 2 == 0 ? low_a : low_b;
          const __m256i nibble = j < 2 ? _mm256_and_si256(low, low4)
                                       : _mm256_and_si256(_mm256_srli_epi16(low, 4), low4);
          const __m256i top_bits =
              _mm256_and_si256(_mm256_srl_epi16(top, _mm_cvtsi32_si128(2 * j)), low2);
          const __m256i q = _mm256_or_si256(nibble, _mm256_slli_epi16(top_bits, 4));
          // Sub-blocks 8h + 2j and 8h + 2j + 1: eight int16 products each.
          const int s = 8 * h + 2 * j;
          const __m256i scale = _mm256_cvtepi8_epi16(
              _mm_shuffle_epi8(scales8, _mm_setr_epi8(s, s, s, s, s, s, s, s, s + 1, s + 1, s + 1,
                                                      s + 1, s + 1, s + 1, s + 1, s + 1)));
          for (int t = 0; t < N; ++t) {
            const int8_t* levels = y.levels(t) + b * kSuperBlockElements + 128 * h + 32 * j;
            isum[t] = _mm256_add_epi32(
                isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q, load(levels)), scale));
          }
        }
      }
      const float d = half(x.d);
      for (int t = 0; t < N; ++t)
        acc[t] =
            _mm256_fmadd_ps(_mm256_set1_ps(d * y.scale(t, b)), _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
    for (int t = 0; t < N; ++t) out[t * a.out_stride] = hsum(acc[t]);
  }
};

// ---- The driver

template <typename Kernel, int N>
void run_tile(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end, uint32_t first_token) {
  const uint8_t* act = a.activations + first_token * a.activation_stride;
  float* out = a.out + first_token * a.out_stride;
  for (uint64_t r = row_begin; r < row_end; ++r)
    Kernel::template run<N>(a, a.weights + r * a.weight_row_bytes, act, out + r);
}

template <typename Kernel>
void matmul_rows(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end) {
  for (uint64_t tile = row_begin; tile < row_end; tile += kRowTile) {
    const uint64_t tile_end = std::min(tile + kRowTile, row_end);
    uint32_t t = 0;
    for (; t + kTokenGroup <= a.n_tokens; t += kTokenGroup)
      run_tile<Kernel, kTokenGroup>(a, tile, tile_end, t);
    switch (a.n_tokens - t) {
      case 3:
        run_tile<Kernel, 3>(a, tile, tile_end, t);
        break;
      case 2:
        run_tile<Kernel, 2>(a, tile, tile_end, t);
        break;
      case 1:
        run_tile<Kernel, 1>(a, tile, tile_end, t);
        break;
      default:
        break;
    }
  }
}

}  // namespace

MatmulRowsFn avx2_matmul_kernel(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::F32:
      return matmul_rows<FloatKernel<TensorType::F32>>;
    case TensorType::F16:
      return matmul_rows<FloatKernel<TensorType::F16>>;
    case TensorType::BF16:
      return matmul_rows<FloatKernel<TensorType::BF16>>;
    case TensorType::Q4_0:
      return matmul_rows<LegacyKernel<Q4_0Block>>;
    case TensorType::Q4_1:
      return matmul_rows<LegacyKernel<Q4_1Block>>;
    case TensorType::Q5_0:
      return matmul_rows<LegacyKernel<Q5_0Block>>;
    case TensorType::Q5_1:
      return matmul_rows<LegacyKernel<Q5_1Block>>;
    case TensorType::Q8_0:
      return matmul_rows<LegacyKernel<Q8_0Block>>;
    case TensorType::Q4_K:
      return matmul_rows<KAffineKernel<false>>;
    case TensorType::Q5_K:
      return matmul_rows<KAffineKernel<true>>;
    case TensorType::Q6_K:
      return matmul_rows<Q6KKernel>;
    default:
      return nullptr;
  }
}

}  // namespace quant::cpu

#endif
