// The partners of the AMX kernels (matmul_amx.cpp) for batches they take without tiles, decode
// above all: AVX-512 VNNI kernels that give the same bits as the tile products. They compute each
// block's exact integer sums S1 (of sc_j * q * y; Q6_K: sc_j * (q - 32) * y) and S2 (of m_j *
// sum(y over group j)) and then apply the float operations matmul_amx.cpp defines, in the same
// order.
//
// The integer products are those of the AVX-512 kernels (matmul_avx512.cpp): a pair of blocks is
// decoded into eight registers that meet the activations' pair copy (matmul.h) in one
// _mm512_dpbusd_epi32 each, the sums of each group landing in int32 lane 8h + j. The group scales
// multiply those lanes as integers, and the lanes of each block are added up.
//
// Compiled with AVX-512 enabled: everything is in an unnamed namespace and it includes no header
// that defines inline functions but matmul_avx512_blocks.h (see there).

#include "backend/cpu/matmul_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__F16C__) && defined(__FMA__)

#include "backend/cpu/avx512_intrinsics.h"

#include <type_traits>

#include "backend/cpu/matmul_avx512_blocks.h"
#include "formats/blocks.h"

namespace quant::cpu {
namespace {

// Tokens whose accumulators stay in registers while a row's pairs are decoded once for them.
constexpr uint32_t kTokenGroup = 8;
// How far ahead of its reads a one-token product prefetches the weights, in bytes.
constexpr size_t kPrefetchDistance = 2048;

// One token's pair p of Q8_K blocks: the pair copy of its levels and its 16-sums.
struct ActivationPair {
  const uint8_t* levels;
  const int16_t* sums16;  // 16 per block, blocks 2p and 2p + 1
  __mmask32 present;      // the 16-sums that exist (not those of a missing last block)

  // The products of register k of a decoded pair with this pair's, summed in fours per lane,
  // added to `sum`.
  [[gnu::always_inline]] __m512i dot(__m512i sum, __m512i q, int k) const {
    return _mm512_dpbusd_epi32(sum, q, load512(levels + 64 * k));
  }
  __m512i sums() const { return _mm512_maskz_loadu_epi16(present, sums16); }
};

// Q4_K and Q5_K (decoded as in matmul_avx512.cpp), with the scales and mins as integers.
template <bool kFiveBits>
struct KAffineRows {
  using Block = std::conditional_t<kFiveBits, Q5KBlock, Q4KBlock>;

  struct Decoded {
    __m512i q[8];
    __m512i scales;  // lane 8h + j: sc_j of block h
    __m512i mins;    // lane 8h + j: m_j of block h
    float d[2], dmin[2];
  };

  [[gnu::always_inline]] static Decoded decode(const Block& x0, const Block& x1) {
    Decoded r;
    const __m128i sm0 = k_scales_mins(x0.scales), sm1 = k_scales_mins(x1.scales);
    r.scales = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(sm0, sm1));
    r.mins = _mm512_cvtepu8_epi32(_mm_unpackhi_epi64(sm0, sm1));
    r.d[0] = half(x0.d);
    r.d[1] = half(x1.d);
    r.dmin[0] = half(x0.dmin);
    r.dmin[1] = half(x1.dmin);
    k_affine_levels(x0, x1, r.q);
    return r;
  }

  // Lanes 8h + j of S1 and S2 of block h: sc_j * sum(q * y), m_j * sum(y) over group j.
  [[gnu::always_inline]] static void sums(const Decoded& x, const ActivationPair& y, __m512i& s1,
                                          __m512i& s2) {
    __m512i sum = y.dot(_mm512_setzero_si512(), x.q[0], 0);
    for (int k = 1; k < 8; ++k) sum = y.dot(sum, x.q[k], k);
    s1 = _mm512_mullo_epi32(sum, x.scales);
    s2 = _mm512_mullo_epi32(_mm512_madd_epi16(y.sums(), _mm512_set1_epi16(1)), x.mins);
  }
};

// Q6_K (decoded as in matmul_avx512.cpp): registers 0-3 hold sub-blocks 2j, registers 4-7
// sub-blocks 2j + 1, q in 0..63; q - 32 comes in through the 16-sums.
struct Q6KRows {
  using Block = Q6KBlock;

  struct Decoded {
    __m512i q[8];
    __m512i scales[2];  // lane 8h + j: sc_2j, sc_2j+1 of block h
    float d[2], dmin[2];
  };

  [[gnu::always_inline]] static Decoded decode(const Block& x0, const Block& x1) {
    Decoded r;
    r.d[0] = half(x0.d);
    r.d[1] = half(x1.d);
    r.dmin[0] = r.dmin[1] = 0.0f;
    r.scales[0] = _mm512_cvtepi8_epi32(q6k_scales(x0, x1, 0));
    r.scales[1] = _mm512_cvtepi8_epi32(q6k_scales(x0, x1, 1));
    q6k_levels(x0, x1, r.q);
    return r;
  }

  // Lanes 8h + j of S1 of block h: sc_2j * sum((q - 32) * y) + sc_2j+1 * the same over
  // sub-block 2j + 1. No S2.
  [[gnu::always_inline]] static void sums(const Decoded& x, const ActivationPair& y, __m512i& s1,
                                          __m512i& s2) {
    __m512i first = y.dot(_mm512_setzero_si512(), x.q[0], 0);
    __m512i second = y.dot(_mm512_setzero_si512(), x.q[4], 4);
    for (int k = 1; k < 4; ++k) {
      first = y.dot(first, x.q[k], k);
      second = y.dot(second, x.q[4 + k], 4 + k);
    }
    const __m512i sums16 = y.sums();  // int32 lane i: 16-sums 2i (low half), 2i + 1 (high half)
    const __m512i even = _mm512_srai_epi32(_mm512_slli_epi32(sums16, 16), 16);
    const __m512i odd = _mm512_srai_epi32(sums16, 16);
    s1 = _mm512_add_epi32(
        _mm512_mullo_epi32(_mm512_sub_epi32(first, _mm512_slli_epi32(even, 5)), x.scales[0]),
        _mm512_mullo_epi32(_mm512_sub_epi32(second, _mm512_slli_epi32(odd, 5)), x.scales[1]));
    s2 = _mm512_setzero_si512();
  }
};

// [S1 of block 0, S2 of block 0, S1 of block 1, S2 of block 1] from their lanes 8h + j.
__m128i block_sums(__m512i s1, __m512i s2) {
  // 128-bit lanes: S1 of block 0, of block 1, S2 of block 0, of block 1, four partial sums each.
  const __m512i quarters = _mm512_add_epi32(_mm512_shuffle_i32x4(s1, s2, _MM_SHUFFLE(2, 0, 2, 0)),
                                            _mm512_shuffle_i32x4(s1, s2, _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i halves = _mm512_add_epi32(quarters, _mm512_shuffle_epi32(quarters, _MM_PERM_BADC));
  const __m512i totals = _mm512_add_epi32(halves, _mm512_shuffle_epi32(halves, _MM_PERM_CDAB));
  return _mm512_castsi512_si128(_mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 8, 4, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), totals));
}

// One row times N tokens' activation rows: per token acc lanes 0 and 1 hold acc1 and acc2.
template <typename Kernel, uint32_t N>
void run_row(const MatmulArgs& a, const uint8_t* row, const uint8_t* act, float* out) {
  using Block = typename Kernel::Block;
  const auto* blocks = reinterpret_cast<const Block*>(row);
  const uint64_t n_blocks = a.cols / kSuperBlockElements;
  static constexpr Block kZeroBlock{};  // the partner of a last, unpaired block
  __m128 acc[N];
  for (uint32_t t = 0; t < N; ++t) acc[t] = _mm_setzero_ps();
  for (uint64_t b = 0; b < n_blocks; b += 2) {
    const bool paired = b + 1 < n_blocks;
    if constexpr (N == 1) {
      const auto* start = reinterpret_cast<const char*>(blocks + b) + kPrefetchDistance;
      for (const char* line = start; line < start + 2 * sizeof(Block); line += 64)
        _mm_prefetch(line, _MM_HINT_T0);
    }
    const typename Kernel::Decoded x =
        Kernel::decode(blocks[b], paired ? blocks[b + 1] : kZeroBlock);
    const __m128 weight_scales = _mm_setr_ps(x.d[0], x.dmin[0], x.d[1], x.dmin[1]);
    for (uint32_t t = 0; t < N; ++t) {
      const uint8_t* y_row = act + t * a.activation_stride;
      const ActivationPair y{
          .levels = y_row + a.layout.pair_levels_offset + b * kSuperBlockElements,
          .sums16 = reinterpret_cast<const int16_t*>(y_row + a.layout.sums_offset) + b * 16,
          .present = paired ? ~__mmask32{0} : __mmask32{0xffff}};
      __m512i s1, s2;
      Kernel::sums(x, y, s1, s2);
      const __m128 v = _mm_cvtepi32_ps(block_sums(s1, s2));
      const auto* dy = reinterpret_cast<const float*>(y_row + a.layout.scales_offset) + b;
      const __m128 w = _mm_mul_ps(
          weight_scales, _mm_setr_ps(dy[0], dy[0], paired ? dy[1] : 0.0f, paired ? dy[1] : 0.0f));
      acc[t] = _mm_fmadd_ps(v, w, acc[t]);
      if (paired) acc[t] = _mm_fmadd_ps(_mm_movehl_ps(v, v), _mm_movehl_ps(w, w), acc[t]);
    }
  }
  for (uint32_t t = 0; t < N; ++t)
    out[t * a.out_stride] = _mm_cvtss_f32(_mm_sub_ss(acc[t], _mm_movehdup_ps(acc[t])));
}

template <typename Kernel, uint32_t N>
void run_rows(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end, uint32_t first_token,
              uint32_t n) {
  if constexpr (N > 0) {
    if (n == N) {
      for (uint64_t r = row_begin; r < row_end; ++r)
        run_row<Kernel, N>(a, a.weights + r * a.weight_row_bytes,
                           a.activations + first_token * a.activation_stride,
                           a.out + first_token * a.out_stride + r);
      return;
    }
    run_rows<Kernel, N - 1>(a, row_begin, row_end, first_token, n);
  }
}

template <typename Kernel>
void matmul_rows(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end) {
  for (uint32_t t = 0; t < a.n_tokens; t += kTokenGroup) {
    const uint32_t n = a.n_tokens - t < kTokenGroup ? a.n_tokens - t : kTokenGroup;
    run_rows<Kernel, kTokenGroup>(a, row_begin, row_end, t, n);
  }
}

}  // namespace

MatmulRowsFn amx_rows_matmul_kernel(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::Q4_K:
      return matmul_rows<KAffineRows<false>>;
    case TensorType::Q5_K:
      return matmul_rows<KAffineRows<true>>;
    case TensorType::Q6_K:
      return matmul_rows<Q6KRows>;
    default:
      return nullptr;
  }
}

}  // namespace quant::cpu

#endif
