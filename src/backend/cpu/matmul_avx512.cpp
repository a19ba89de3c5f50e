// The AVX-512 kernels (F, BW, VL and VNNI) of the K-quants, chosen at run time where the machine
// has them (matmul.cpp); other types use the AVX2 kernels (AVX-512 versions of the 32-element
// types measured no faster). A 512-bit register holds 64 levels, two or four sub-blocks:
// _mm512_maddubs_epi16 multiplies weight and activation levels into int16 pairs and
// _mm512_dpwssd_epi32 (VNNI) multiplies those by the sub-block scales and accumulates in int32.
//
// This file is compiled with AVX-512 enabled, so nothing here may be shared with the rest of the
// program: everything is in an unnamed namespace and it includes no header that defines inline
// functions (their out-of-line copies could carry AVX-512 instructions to a machine without it).

#include "backend/cpu/matmul_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__F16C__) && defined(__FMA__)

// GCC 12's AVX-512 intrinsics read a deliberately uninitialized vector (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <type_traits>

#include "formats/blocks.h"

namespace quant::cpu {
namespace {

// Rows per tile, as in the AVX2 driver.
constexpr uint64_t kRowTile = 16;
// Blocks whose offset or min terms one register takes at once, a block per 32-bit lane.
constexpr int kBlockGroup = 16;

__m512i load512(const void* p) {
  return _mm512_loadu_si512(p);
}

__m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

float half(uint16_t h) {
  return _cvtsh_ss(h);
}

float hsum512(__m512 v) {
  const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 sum8 = _mm256_add_ps(_mm512_castps512_ps256(v), high);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(sum8), _mm256_extractf128_ps(sum8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The quantized activation rows (Q8_K) of a token group.
struct Activations {
  const uint8_t* first;  // the group's first token
  size_t stride;
  const ActivationLayout& layout;
  uint64_t n_blocks;

  const int8_t* levels(int t, uint64_t block) const {
    return reinterpret_cast<const int8_t*>(first + t * stride) + block * kSuperBlockElements;
  }
  const float* scales(int t) const {
    return reinterpret_cast<const float*>(first + t * stride + layout.scales_offset);
  }
  // The 16-sums of blocks [block, block + 16) paired for sub-blocks 2i and 2i + 1, lanes past
  // `lanes` zero.
  __m512i sum_pairs(int t, int i, uint64_t block, __mmask16 lanes) const {
    const auto* words =
        reinterpret_cast<const int32_t*>(first + t * stride + layout.sum_pairs_offset);
    return _mm512_maskz_loadu_epi32(lanes, words + i * n_blocks + block);
  }
};

// The words of `words` (16 int16) that `index` picks, one per int16 of the result.
__m512i pick_words(__m256i words, __m512i index) {
  return _mm512_permutexvar_epi16(index, _mm512_castsi256_si512(words));
}

// Word index vector for pick_words: int16 w of the result takes word first + w / run.
__m512i word_index(int first, int run) {
  alignas(64) int16_t index[32];
  for (int w = 0; w < 32; ++w) index[w] = static_cast<int16_t>(first + w / run);
  return _mm512_load_si512(index);
}

// Per token: acc += d * dy * sum_j sc_j * (q . y over sub-block j) for the 256 levels of block b,
// q[k] holding levels 64k..64k+63 and scale[k] the scale of each of their 32 int16 pair sums.
template <int N>
void add_block_dots(const Activations& y, uint64_t b, const __m512i (&q)[4],
                    const __m512i (&scale)[4], float d, __m512 (&acc)[N]) {
  const __m512 dw = _mm512_set1_ps(d);
  for (int t = 0; t < N; ++t) {
    const int8_t* levels = y.levels(t, b);
    __m512i isum = _mm512_madd_epi16(_mm512_maddubs_epi16(q[0], load512(levels)), scale[0]);
    for (int k = 1; k < 4; ++k)
      isum =
          _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q[k], load512(levels + 64 * k)), scale[k]);
    // The weight scale first, then the activation scale broadcast straight from memory: no
    // scalar product to move into a vector register per token.
    acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum), dw),
                             _mm512_set1_ps(y.scales(t)[b]), acc[t]);
  }
}

// Terms that every block of a group of up to 16 contributes through the activation 16-sums: per
// block, eight int32 words that pair with the eight words of activation sum pairs (Q4_K: the
// min m_j twice; Q6_K: scales 2i and 2i + 1), and a float factor. Collected block by block, then
// turned around to a block per lane.
struct SumTerms {
  alignas(64) int32_t words[kBlockGroup][8];
  alignas(64) float factor[kBlockGroup];

  void set(int block, __m256i block_words, float block_factor) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(words[block]), block_words);
    factor[block] = block_factor;
  }

  // Per token: acc -= factor * dy * (sum pairs . words), for blocks [first_block,
  // first_block + count).
  template <int N>
  void subtract(const Activations& y, uint64_t first_block, int count, __m512 (&acc)[N]) const {
    const __mmask16 lanes = static_cast<__mmask16>((1u << count) - 1);
    // In int32 words: block i's eight words start 8 i words in.
    const __m512i block_offsets =
        _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120);
    __m512i w[8];
    for (int i = 0; i < 8; ++i)
      w[i] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes, block_offsets, &words[0][i],
                                         sizeof(int32_t));
    const __m512 f = _mm512_maskz_load_ps(lanes, factor);
    for (int t = 0; t < N; ++t) {
      __m512i sum = _mm512_madd_epi16(y.sum_pairs(t, 0, first_block, lanes), w[0]);
      for (int i = 1; i < 8; ++i)
        sum = _mm512_dpwssd_epi32(sum, y.sum_pairs(t, i, first_block, lanes), w[i]);
      const __m512 dy = _mm512_maskz_loadu_ps(lanes, y.scales(t) + first_block);
      acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), f), dy, acc[t]);
    }
  }
};

// Q4_K and Q5_K (layout and math as in the AVX2 kernel). A 512-bit load of 64 packed bytes holds
// sub-blocks 4m (low nibbles, bytes 0-31), 4m + 1 (high nibbles, bytes 0-31), 4m + 2 and 4m + 3
// (bytes 32-63); lane shuffles put them in element order, so the activations load as they lie.
// The min terms, dmin * sum_j m_j * sum(y over sub-block j) per block, are taken for 16 blocks at
// once from the activation sum pairs.
template <bool kFiveBits>
struct KAffineKernel {
  using Block = std::conditional_t<kFiveBits, Q5KBlock, Q4KBlock>;
  static constexpr int kTokens = 16;  // accumulators and a decoded block fit the 32 registers

  template <int N>
  static void run(const MatmulArgs& a, const uint8_t* row, const uint8_t* act, float* out) {
    const auto* blocks = reinterpret_cast<const Block*>(row);
    const uint64_t n_blocks = a.cols / kSuperBlockElements;
    const Activations y{act, a.activation_stride, a.layout, n_blocks};
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    // The pair sums of q[k] belong to sub-blocks 2k (the first 16) and 2k + 1.
    __m512i scale_index[4];
    for (int k = 0; k < 4; ++k) scale_index[k] = word_index(2 * k, 16);
    __m512 acc[N];
    for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
    SumTerms mins;
    for (uint64_t group = 0; group < n_blocks; group += kBlockGroup) {
      const int count =
          static_cast<int>(n_blocks - group < kBlockGroup ? n_blocks - group : kBlockGroup);
      for (int i = 0; i < count; ++i) {
        const Block& x = blocks[group + i];
        uint32_t w[3];
        __builtin_memcpy(w, x.scales, sizeof(w));
        const uint32_t low6 = 0x3f3f3f3f, low4_32 = 0x0f0f0f0f, low2 = 0x03030303;
        const __m128i scales_mins =
            _mm_setr_epi32(static_cast<int>(w[0] & low6),
                           static_cast<int>((w[2] & low4_32) | (((w[0] >> 6) & low2) << 4)),
                           static_cast<int>(w[1] & low6),
                           static_cast<int>(((w[2] >> 4) & low4_32) | (((w[1] >> 6) & low2) << 4)));
        const __m256i scales = _mm256_cvtepu8_epi16(scales_mins);  // sc0..sc7, then m0..m7
        const __m256i min32 = _mm256_cvtepu8_epi32(_mm_srli_si128(scales_mins, 8));
        mins.set(i, _mm256_or_si256(min32, _mm256_slli_epi32(min32, 16)), half(x.dmin));
        __m512i q[4];
        for (int m = 0; m < 2; ++m) {
          const __m512i packed = load512(x.qs + 64 * m);
          const __m512i lo = _mm512_and_si512(packed, low4);
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low4);
          q[2 * m] = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(1, 0, 1, 0));
          q[2 * m + 1] = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(3, 2, 3, 2));
        }
        if constexpr (kFiveBits) {
          // Bit j of qh[l] is the fifth bit of element 32j + l: the 32 bytes, repeated, meet both
          // 32-element halves of each register, which take bits 2k and 2k + 1.
          const __m512i top = _mm512_broadcast_i64x4(load256(x.qh));
          for (int k = 0; k < 4; ++k) {
            const __m512i bits =
                _mm512_srlv_epi64(top, _mm512_setr_epi64(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1,
                                                         2 * k + 1, 2 * k + 1, 2 * k + 1));
            q[k] = _mm512_or_si512(
                q[k], _mm512_slli_epi16(_mm512_and_si512(bits, _mm512_set1_epi8(1)), 4));
          }
        }
        __m512i scale[4];
        for (int k = 0; k < 4; ++k) scale[k] = pick_words(scales, scale_index[k]);
        add_block_dots<N>(y, group + i, q, scale, half(x.d), acc);
      }
      mins.subtract<N>(y, group, count, acc);
    }
    for (int t = 0; t < N; ++t) out[t * a.out_stride] = hsum512(acc[t]);
  }
};

// Q6_K (math as in the AVX2 kernel). A 512-bit load of 64 bytes of ql holds elements 0-63 of a
// half in its low nibbles and 64-127 in its high nibbles, in order; the 32 bytes of qh, repeated,
// give each 32-element part its two top bits by a per-lane shift. The - 32 of every level,
// 32 * d * sum_j sc_j * sum(y over sub-block j) per block, is taken for 16 blocks at once from
// the activation sum pairs.
struct Q6KKernel {
  static constexpr int kTokens = 16;

  template <int N>
  static void run(const MatmulArgs& a, const uint8_t* row, const uint8_t* act, float* out) {
    const auto* blocks = reinterpret_cast<const Q6KBlock*>(row);
    const uint64_t n_blocks = a.cols / kSuperBlockElements;
    const Activations y{act, a.activation_stride, a.layout, n_blocks};
    const __m512i low4 = _mm512_set1_epi8(0x0f), low2 = _mm512_set1_epi8(0x03);
    const __m512i shift_lo = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    const __m512i shift_hi = _mm512_setr_epi64(4, 4, 4, 4, 6, 6, 6, 6);
    // The pair sums of q[v] belong to sub-blocks 4v..4v+3 (16 levels, 8 pair sums each).
    __m512i scale_index[4];
    for (int v = 0; v < 4; ++v) scale_index[v] = word_index(4 * v, 8);
    __m512 acc[N];
    for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
    SumTerms offsets;
    for (uint64_t group = 0; group < n_blocks; group += kBlockGroup) {
      const int count =
          static_cast<int>(n_blocks - group < kBlockGroup ? n_blocks - group : kBlockGroup);
      for (int i = 0; i < count; ++i) {
        const Q6KBlock& x = blocks[group + i];
        const float d = half(x.d);
        // As int16 words, the 16 scales are also the 8 pairs of scales 2i, 2i + 1.
        const __m256i scales16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
        offsets.set(i, scales16, 32.0f * d);
        __m512i q[4];
        for (int h = 0; h < 2; ++h) {
          const __m512i low = load512(x.ql + 64 * h);
          const __m512i top = _mm512_broadcast_i64x4(load256(x.qh + 32 * h));
          const __m512i top_lo = _mm512_and_si512(_mm512_srlv_epi64(top, shift_lo), low2);
          const __m512i top_hi = _mm512_and_si512(_mm512_srlv_epi64(top, shift_hi), low2);
          q[2 * h] = _mm512_or_si512(_mm512_and_si512(low, low4), _mm512_slli_epi16(top_lo, 4));
          q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), low4),
                                         _mm512_slli_epi16(top_hi, 4));
        }
        __m512i scale[4];
        for (int v = 0; v < 4; ++v) scale[v] = pick_words(scales16, scale_index[v]);
        add_block_dots<N>(y, group + i, q, scale, d, acc);
      }
      offsets.subtract<N>(y, group, count, acc);
    }
    for (int t = 0; t < N; ++t) out[t * a.out_stride] = hsum512(acc[t]);
  }
};

template <typename Kernel, int N>
void run_tile(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end, uint32_t first_token) {
  const uint8_t* act = a.activations + first_token * a.activation_stride;
  float* out = a.out + first_token * a.out_stride;
  for (uint64_t r = row_begin; r < row_end; ++r)
    Kernel::template run<N>(a, a.weights + r * a.weight_row_bytes, act, out + r);
}

template <typename Kernel, int N>
void run_tail(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end, uint32_t first_token,
              uint32_t n) {
  if constexpr (N > 0) {
    if (n == N) return run_tile<Kernel, N>(a, row_begin, row_end, first_token);
    run_tail<Kernel, N - 1>(a, row_begin, row_end, first_token, n);
  }
}

template <typename Kernel>
void matmul_rows(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end) {
  for (uint64_t tile = row_begin; tile < row_end; tile += kRowTile) {
    const uint64_t tile_end = tile + kRowTile < row_end ? tile + kRowTile : row_end;
    uint32_t t = 0;
    for (; t + Kernel::kTokens <= a.n_tokens; t += Kernel::kTokens)
      run_tile<Kernel, Kernel::kTokens>(a, tile, tile_end, t);
    run_tail<Kernel, Kernel::kTokens - 1>(a, tile, tile_end, t, a.n_tokens - t);
  }
}

}  // namespace

MatmulRowsFn avx512_matmul_kernel(TensorType weight_type) {
  switch (weight_type) {
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
