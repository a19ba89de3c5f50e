// The AVX-512 kernels (F, BW, VL and VNNI) of the K-quants, chosen at run time where the machine
// has them (matmul.cpp); other types use the AVX2 kernels (AVX-512 versions of the 32-element
// types measured no faster).
//
// Blocks are taken in pairs, in the order of the activations' pair copy (matmul.h): register k
// holds levels 32j + 4k .. 32j + 4k + 3 of every 32-level group j of both blocks, in int32 lane
// 8h + j for block h. A pair of weight blocks is decoded once per tile of tokens into eight such
// registers; then per token one _mm512_dpbusd_epi32 (VNNI) per register multiplies 64 weight
// levels with 64 activation levels and adds them in fours into the lane of their group, so all
// products of a pair meet in one register (two for Q6_K's 16-level sub-blocks), and the group
// scales, the activation scales and the terms that multiply sums of activation levels (Q4_K's
// mins, Q6_K's - 32) are applied once per pair, in float. That is one multiply instruction per 64
// levels where _mm512_maddubs_epi16 + _mm512_madd_epi16 take two, and a few more per pair; the
// multiply ports are what prompt processing is bound by. Every (row, token) result is the same
// sequence of operations whatever the tile, so batching never changes a bit.
//
// This file is compiled with AVX-512 enabled, so nothing here may be shared with the rest of the
// program: everything is in an unnamed namespace and it includes no header that defines inline
// functions (their out-of-line copies could carry AVX-512 instructions to a machine without it)
// but matmul_avx512_blocks.h, whose functions are in an unnamed namespace too.

#include "backend/cpu/matmul_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__F16C__) && defined(__FMA__)

#include "backend/cpu/avx512_intrinsics.h"

#include <type_traits>
#include <utility>

#include "backend/cpu/matmul_avx512_blocks.h"
#include "formats/blocks.h"

namespace quant::cpu {
namespace {

// Rows per tile, as in the AVX2 driver.
constexpr uint64_t kRowTile = 16;
// Tokens per tile: their accumulators and a decoded block fit the 32 registers.
constexpr int kTokenTile = 16;
// Pairs of blocks a full tile of tokens takes at a time: their activations (3 KiB a token and
// pair) stay in the L1 cache.
constexpr uint64_t kStretchPairs = 2;
// How far ahead of its reads a one-token product prefetches the weights, in bytes.
constexpr size_t kPrefetchDistance = 2048;

// The sum of the 16 lanes, added in pairs: lane i + lane i + 8, then i + 4, i + 2 and i + 1.
float hsum512(__m512 v) {
  const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 sum8 = _mm256_add_ps(_mm512_castps512_ps256(v), high);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(sum8), _mm256_extractf128_ps(sum8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Steps of store_sums16: two registers of partial sums to one, lanes added in pairs (128-bit
// lanes 0 + 2 and 1 + 3; 0 + 1 and 2 + 3; then elements 0 + 2 and 1 + 3, 0 + 1 and 2 + 3 of each
// 128-bit lane), the result holding a's sums before b's.
__m512 add_halves(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}
__m512 add_quarters(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
__m512 add_eighths(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}
__m512 add_sixteenths(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Stores hsum512(acc[t]) at out[t * stride] for 16 accumulators: the same pairs of lanes are
// added, for all tokens at once.
template <int... I>  // 0..7
[[gnu::always_inline]] inline void store_sums16(const __m512 (&acc)[16], float* out, size_t stride,
                                                std::integer_sequence<int, I...>) {
  const __m512 pairs[8] = {add_halves(acc[2 * I], acc[2 * I + 1])...};  // tokens 2i, 2i + 1
  // Token 4i + k in 128-bit lane k of quads[i].
  const __m512 quads[4] = {add_quarters(pairs[0], pairs[1]), add_quarters(pairs[2], pairs[3]),
                           add_quarters(pairs[4], pairs[5]), add_quarters(pairs[6], pairs[7])};
  const __m512 halves[2] = {add_eighths(quads[0], quads[1]), add_eighths(quads[2], quads[3])};
  // Element e of 128-bit lane k is token k + 4e.
  alignas(64) float sums[16];
  _mm512_store_ps(sums, add_sixteenths(halves[0], halves[1]));
  for (int t = 0; t < 16; ++t) out[t * stride] = sums[4 * (t % 4) + t / 4];
}

// One token's pair of Q8_K blocks, in the parts the kernels read (matmul.h).
struct ActivationPair {
  const uint8_t* levels;  // 8 registers of 64 levels
  const float* scales;    // lane 8h + j: d of block h
  const float* sums;      // group sums, 16-sums 2j, 16-sums 2j + 1, times d

  [[gnu::always_inline]] ActivationPair(const MatmulArgs& a, const uint8_t* row, uint64_t pair)
      : levels(row + a.layout.pair_levels_offset + pair * 2 * kSuperBlockElements),
        scales(reinterpret_cast<const float*>(row + a.layout.pair_scales_offset) + pair * 16),
        sums(reinterpret_cast<const float*>(row + a.layout.pair_sums_offset) + pair * 48) {}

  // The products of register k of a decoded pair with this pair's, summed in fours per lane,
  // added to `sum`.
  [[gnu::always_inline]] __m512i dot(__m512i sum, __m512i q, int k) const {
    return _mm512_dpbusd_epi32(sum, q, load512(levels + 64 * k));
  }
  __m512 scale() const { return _mm512_loadu_ps(scales); }
  __m512 group_sums() const { return _mm512_loadu_ps(sums); }
  __m512 sixteen_sums(int half) const { return _mm512_loadu_ps(sums + 16 + 16 * half); }
};

// Per lane 8h + j: the float of block h (a, then b).
__m512 per_block(float a, float b) {
  return _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(a), _mm512_set1_ps(b));
}

// Q4_K and Q5_K: per block d_y * (d * sum_j sc_j * sum(q * y over group j) - dmin * sum_j m_j *
// sum(y over group j)). Bytes 32m .. 32m + 31 of qs hold group 2m in their low nibbles and group
// 2m + 1 in their high nibbles, so register k takes dword 8m + k of qs for groups 2m and 2m + 1,
// shifted by 0 and 4.
template <bool kFiveBits>
struct KAffineKernel {
  using Block = std::conditional_t<kFiveBits, Q5KBlock, Q4KBlock>;

  struct Decoded {
    __m512i q[8];
    __m512 scale;  // lane 8h + j: d * sc_j of block h
    __m512 min;    // lane 8h + j: dmin * m_j of block h
  };

  [[gnu::always_inline]] static Decoded decode(const Block& x0, const Block& x1) {
    Decoded r;
    const __m128i sm0 = k_scales_mins(x0.scales), sm1 = k_scales_mins(x1.scales);
    r.scale = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi64(sm0, sm1))),
                            per_block(half(x0.d), half(x1.d)));
    r.min = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpackhi_epi64(sm0, sm1))),
                          per_block(half(x0.dmin), half(x1.dmin)));
    k_affine_levels(x0, x1, r.q);
    return r;
  }

  [[gnu::always_inline]] static __m512 add(const Decoded& x, const ActivationPair& y, __m512 acc) {
    __m512i sum = y.dot(_mm512_setzero_si512(), x.q[0], 0);
    for (int k = 1; k < 8; ++k) sum = y.dot(sum, x.q[k], k);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(x.scale, y.scale()), acc);
    return _mm512_fnmadd_ps(x.min, y.group_sums(), acc);
  }
};

// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales and levels q - 32, q in 0..63. Level
// 128i + 32s + l (group j = 4i + s) takes the low (s = 0, 1) or high (s = 2, 3) nibble of
// ql[64i + 32(s % 2) + l] and bits 2s, 2s + 1 of qh[32i + l]. Registers 0-3 hold the first
// 16 levels of each group, sub-block 2j, and registers 4-7 the rest, sub-block 2j + 1: they sum
// apart and are scaled apart.
struct Q6KKernel {
  using Block = Q6KBlock;

  struct Decoded {
    __m512i q[8];
    __m512 scale[2];   // lane 8h + j: d * sc_2j (registers 0-3), d * sc_2j+1 (4-7) of block h
    __m512 offset[2];  // 32 times the same
  };

  [[gnu::always_inline]] static Decoded decode(const Block& x0, const Block& x1) {
    Decoded r;
    const __m512 d = per_block(half(x0.d), half(x1.d));
    // Scales 2j and 2j + 1 of both blocks.
    const __m128i first = q6k_scales(x0, x1, 0), second = q6k_scales(x0, x1, 1);
    r.scale[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(first)), d);
    r.scale[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(second)), d);
    r.offset[0] = _mm512_mul_ps(r.scale[0], _mm512_set1_ps(32.0f));
    r.offset[1] = _mm512_mul_ps(r.scale[1], _mm512_set1_ps(32.0f));
    q6k_levels(x0, x1, r.q);
    return r;
  }

  [[gnu::always_inline]] static __m512 add(const Decoded& x, const ActivationPair& y, __m512 acc) {
    __m512i first = y.dot(_mm512_setzero_si512(), x.q[0], 0);
    __m512i second = y.dot(_mm512_setzero_si512(), x.q[4], 4);
    for (int k = 1; k < 4; ++k) {
      first = y.dot(first, x.q[k], k);
      second = y.dot(second, x.q[4 + k], 4 + k);
    }
    const __m512 sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(second), x.scale[1],
                                       _mm512_mul_ps(_mm512_cvtepi32_ps(first), x.scale[0]));
    acc = _mm512_fmadd_ps(sum, y.scale(), acc);
    acc = _mm512_fnmadd_ps(x.offset[0], y.sixteen_sums(0), acc);
    return _mm512_fnmadd_ps(x.offset[1], y.sixteen_sums(1), acc);
  }
};

// Pairs [first_pair, end_pair) of one weight row times N tokens' activation rows (act, act +
// stride, ...). The accumulators start at zero for the first pair, else from `partial`, and end in
// out[t * out_stride] after the last pair, else in `partial`. The token loop is unrolled by the
// index pack, so they live in registers.
template <typename Kernel, int... T>
void run_row(const MatmulArgs& a, const uint8_t* row, const uint8_t* act, uint64_t first_pair,
             uint64_t end_pair, __m512* partial, float* out, std::integer_sequence<int, T...>) {
  using Block = typename Kernel::Block;
  const auto* blocks = reinterpret_cast<const Block*>(row);
  const uint64_t n_blocks = a.cols / kSuperBlockElements;
  static constexpr Block kZeroBlock{};  // the partner of a last, unpaired block
  __m512 acc[sizeof...(T)];
  if (first_pair == 0)
    ((acc[T] = _mm512_setzero_ps()), ...);
  else
    ((acc[T] = partial[T]), ...);
  for (uint64_t b = 2 * first_pair; b < 2 * end_pair; b += 2) {
    if constexpr (sizeof...(T) == 1) {
      // One token reads the weights faster than the hardware prefetcher fetches them (it stops at
      // each 4 KiB page): ask for the lines kPrefetchDistance bytes ahead of this pair.
      const auto* start = reinterpret_cast<const char*>(blocks + b) + kPrefetchDistance;
      for (const char* line = start; line < start + 2 * sizeof(Block); line += 64)
        _mm_prefetch(line, _MM_HINT_T0);
    }
    const typename Kernel::Decoded x =
        Kernel::decode(blocks[b], b + 1 < n_blocks ? blocks[b + 1] : kZeroBlock);
    ((acc[T] = Kernel::add(x, ActivationPair(a, act + T * a.activation_stride, b / 2), acc[T])),
     ...);
  }
  if (2 * end_pair < n_blocks)
    ((partial[T] = acc[T]), ...);
  else if constexpr (sizeof...(T) == 16)
    store_sums16(acc, out, a.out_stride, std::make_integer_sequence<int, 8>());
  else
    ((out[T * a.out_stride] = hsum512(acc[T])), ...);
}

// Rows [row_begin, row_end) (at most kRowTile) times N tokens from first_token. A full tile of
// tokens takes the row in stretches of kStretchPairs pairs, each for all rows of the tile before
// the next, so that the tokens' activations for a stretch stay in the L1 cache.
template <typename Kernel, int N>
void run_tile(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end, uint32_t first_token) {
  const uint8_t* act = a.activations + first_token * a.activation_stride;
  float* out = a.out + first_token * a.out_stride;
  const uint64_t n_pairs = (a.cols / kSuperBlockElements + 1) / 2;
  const uint64_t stretch = N == kTokenTile ? kStretchPairs : n_pairs;
  __m512 partial[kRowTile][N];
  for (uint64_t first = 0; first < n_pairs; first += stretch) {
    const uint64_t end = first + stretch < n_pairs ? first + stretch : n_pairs;
    for (uint64_t r = row_begin; r < row_end; ++r)
      run_row<Kernel>(a, a.weights + r * a.weight_row_bytes, act, first, end,
                      partial[r - row_begin], out + r, std::make_integer_sequence<int, N>());
  }
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
    for (; t + kTokenTile <= a.n_tokens; t += kTokenTile)
      run_tile<Kernel, kTokenTile>(a, tile, tile_end, t);
    run_tail<Kernel, kTokenTile - 1>(a, tile, tile_end, t, a.n_tokens - t);
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
