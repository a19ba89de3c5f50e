// The AMX kernels of the K-quants: a tile of 16 weight rows times a tile of 16 tokens per
// instruction, 64 levels deep (TDPBUSD / TDPBSSD: 16 x 16 x 64 int8 multiply-adds), chosen at run
// time where the machine has AMX and Linux grants this process the tile registers (matmul.cpp).
// The activations come in tiles of 16 tokens (tile_activations, matmul.h), made once per input.
//
// A tile product sums 64 levels of a weight row with no scale between them, but the K-quants scale
// every group of 32 (Q6_K: 16) levels apart. So the group scale goes into the weight levels before
// the product: each block of 16 rows is decoded to the int16 products sc_j * q (Q6_K: sc_j *
// (q - 32)), split into a low byte (unsigned) and a high byte (Q6_K: signed), and two tile products
// give S1 = sum(low * y) + 256 * sum(high * y) = the block's sum of sc_j * q * y, exactly. Q4_K's
// and Q5_K's mins multiply the activations' group sums (from the tiles): S2 = sum_j m_j * sum(y
// over group j), four _mm512_dpwssd_epi32 per row for 16 tokens. The float work is then two
// multiply-adds per block, row and token:
//
//   acc1 = fma(float(S1), d * d_y, acc1);  acc2 = fma(float(S2), dmin * d_y, acc2);  over the
//   blocks in order from acc1 = acc2 = 0, and the result is acc1 - acc2 (Q6_K: acc1).
//
// The integer sums are exact, so that sequence is the result's definition: the AVX-512 VNNI
// partner kernels (matmul_amx_rows.cpp), which take batches too small for tiles (decode), compute
// the same S1 and S2 by other means and apply the same float operations, and every (row, token)
// comes out the same whatever the batch.
//
// This file is compiled with AVX-512 and AMX enabled: everything is in an unnamed namespace and it
// includes no header that defines inline functions but matmul_avx512_blocks.h (see there).

#include "backend/cpu/matmul_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VBMI__) && \
    defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(__F16C__) && defined(__FMA__)

#include "backend/cpu/avx512_intrinsics.h"

#include <type_traits>

#include "backend/cpu/matmul_avx512_blocks.h"
#include "formats/blocks.h"

namespace quant::cpu {
namespace {

constexpr int kTileRows = 16;  // weight rows per tile product
// Token tiles whose accumulators a pass over the weights keeps (on the stack): a larger batch
// decodes its weights again for each further group of tiles.
constexpr uint32_t kMaxTokenTiles = 8;
constexpr size_t kStepBytes = 1024;               // one B tile of activations
constexpr size_t kScalesOffset = 4 * kStepBytes;  // in a tile's block
constexpr size_t kGroupSumsOffset = kScalesOffset + kTileTokens * sizeof(float);
static_assert(kTileBlockBytes == kGroupSumsOffset + 256);

// Tile registers (the intrinsics take them as literal numbers): 0 and 1 the sums of the low and the
// high bytes, 2 and 3 the activations, 4 to 7 the weight's low and high bytes (multiply_step).

// The LDTILECFG operand: palette 1, every tile used 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

// A 16-row block of the weight, decoded for the tile products: per row 256 low bytes and 256 high
// bytes, (Q4_K, Q5_K) the mins as int16 pairs m_2i | m_2i+1 << 16, and the row's d and dmin.
struct alignas(64) DecodedBlock {
  uint8_t low[kTileRows][kSuperBlockElements];
  uint8_t high[kTileRows][kSuperBlockElements];
  int32_t min_pairs[kTileRows][4];
  float d[kTileRows];
  float dmin[kTileRows];
};

// Stores the low and high bytes of the int16 products of 64 levels `q` (unsigned) with the per-byte
// scales `scales` (signed), less `offsets` (per int16: the products' offset, or zero).
void store_products(__m512i q, __m512i scales, __m512i offsets, uint8_t* low, uint8_t* high) {
  const __m512i even_bytes = _mm512_set1_epi16(0x00ff);
  const __m512i even =
      _mm512_sub_epi16(_mm512_maddubs_epi16(q, _mm512_and_si512(scales, even_bytes)), offsets);
  const __m512i odd =
      _mm512_sub_epi16(_mm512_maddubs_epi16(q, _mm512_andnot_si512(even_bytes, scales)), offsets);
  constexpr __mmask64 kOdd = 0xaaaaaaaaaaaaaaaa;
  _mm512_storeu_si512(low, _mm512_mask_blend_epi8(kOdd, even, _mm512_slli_epi16(odd, 8)));
  _mm512_storeu_si512(high, _mm512_mask_blend_epi8(kOdd, _mm512_srli_epi16(even, 8), odd));
}

// Byte i of the result: byte first + i / per of `bytes` (16 bytes, repeated).
__m512i spread(__m128i bytes, int first, int per) {
  alignas(64) uint8_t index[64];
  for (int i = 0; i < 64; ++i) index[i] = static_cast<uint8_t>(first + i / per);
  return _mm512_permutexvar_epi8(_mm512_load_si512(index), _mm512_broadcast_i32x4(bytes));
}

// Q4_K and Q5_K: bytes 32m .. 32m + 31 of qs hold group 2m in their low nibbles and group 2m + 1
// in their high ones, so 64 levels 64m .. 64m + 63 are one 32-byte load.
template <bool kFiveBits>
struct KAffineTiles {
  using Block = std::conditional_t<kFiveBits, Q5KBlock, Q4KBlock>;
  static constexpr TensorType kType = kFiveBits ? TensorType::Q5_K : TensorType::Q4_K;
  static constexpr bool kHasMins = true;
  static constexpr bool kSignedHigh = false;

  static void decode(const Block& x, DecodedBlock& out, int r) {
    out.d[r] = half(x.d);
    out.dmin[r] = half(x.dmin);
    const __m128i sm = k_scales_mins(x.scales);
    const __m512i low_nibbles = _mm512_set1_epi8(0x0f);
    for (int m = 0; m < 4; ++m) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * m));
      const __m512i both =
          _mm512_inserti64x4(_mm512_castsi256_si512(packed), _mm256_srli_epi16(packed, 4), 1);
      __m512i q = _mm512_and_si512(both, low_nibbles);
      if constexpr (kFiveBits) {
        // Bit 2m of qh[l] is the fifth bit of level 64m + l, bit 2m + 1 that of 64m + 32 + l.
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh));
        const __m512i bits =
            _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (2 * m))),
                               _mm256_set1_epi8(static_cast<char>(2 << (2 * m))), 1);
        const __mmask64 set =
            _mm512_test_epi8_mask(_mm512_inserti64x4(_mm512_castsi256_si512(qh), qh, 1), bits);
        q = _mm512_or_si512(q, _mm512_maskz_mov_epi8(set, _mm512_set1_epi8(0x10)));
      }
      store_products(q, spread(sm, 2 * m, 32), _mm512_setzero_si512(), out.low[r] + 64 * m,
                     out.high[r] + 64 * m);
    }
    _mm_store_si128(reinterpret_cast<__m128i*>(out.min_pairs[r]),
                    _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)));
  }
};

// Q6_K: level 128i + 32s + l takes the low (s = 0, 1) or high (s = 2, 3) nibble of
// ql[64i + 32(s % 2) + l] and bits 2s, 2s + 1 of qh[32i + l]; levels 64c .. 64c + 63 (i = c / 2)
// are one 64-byte load of ql, and sub-block 4c + p / 16 scales byte p of them.
struct Q6KTiles {
  using Block = Q6KBlock;
  static constexpr TensorType kType = TensorType::Q6_K;
  static constexpr bool kHasMins = false;
  static constexpr bool kSignedHigh = true;

  static void decode(const Block& x, DecodedBlock& out, int r) {
    out.d[r] = half(x.d);
    out.dmin[r] = 0.0f;
    const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
    for (int c = 0; c < 4; ++c) {
      const int i = c / 2, upper = c % 2;
      const __m512i ql = _mm512_loadu_si512(x.ql + 64 * i);
      const __m512i low =
          _mm512_and_si512(upper ? _mm512_srli_epi16(ql, 4) : ql, _mm512_set1_epi8(0x0f));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * i));
      // Bits 2s, 2s + 1 (s = 2 * upper for the first 32 levels, + 1 for the rest) to bits 4, 5.
      const __m512i shifts =
          _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(4 * upper)),
                             _mm256_set1_epi16(static_cast<short>(4 * upper + 2)), 1);
      const __m512i top =
          _mm512_srlv_epi16(_mm512_inserti64x4(_mm512_castsi256_si512(qh), qh, 1), shifts);
      const __m512i q =
          _mm512_or_si512(low, _mm512_and_si512(_mm512_slli_epi16(top, 4), _mm512_set1_epi8(0x30)));
      const __m512i sc = spread(scales, 4 * c, 16);
      // 32 * sc per int16 (both bytes of an int16 are in one sub-block).
      const __m512i offsets = _mm512_maddubs_epi16(_mm512_set1_epi16(32),
                                                   _mm512_and_si512(sc, _mm512_set1_epi16(0x00ff)));
      store_products(q, sc, offsets, out.low[r] + 64 * c, out.high[r] + 64 * c);
    }
  }
};

// Accumulators of one token tile: per row of the weight tile, 16 tokens.
struct alignas(64) TileSums {
  float acc1[kTileRows][kTileTokens];
  float acc2[kTileRows][kTileTokens];
};

// The tile sums of one (weight tile, token tile, block), S1 = low + 256 * high.
struct alignas(64) BlockSums {
  int32_t low[kTileRows][kTileTokens];
  int32_t high[kTileRows][kTileTokens];
};

// One step of 64 levels: the activations into tile 2 + odd, the weight's low and high bytes into
// tiles 4 + 2 * odd and 5 + 2 * odd. Tile registers are not renamed, so a load into a tile waits
// for the product that last read it: consecutive steps use other tiles and overlap. The two
// branches differ only in tile numbers, written out because GCC's tile intrinsics paste them into
// the instruction's text (a constant variable does not do).
template <typename Kernel, int kOdd>
[[gnu::always_inline]] inline void multiply_step(const DecodedBlock& w, const uint8_t* step,
                                                 int s) {
  if constexpr (kOdd == 0) {
    _tile_loadd(2, step, 64);
    _tile_loadd(4, &w.low[0][64 * s], kSuperBlockElements);
    _tile_dpbusd(0, 4, 2);
    _tile_loadd(5, &w.high[0][64 * s], kSuperBlockElements);
    if constexpr (Kernel::kSignedHigh)
      _tile_dpbssd(1, 5, 2);
    else
      _tile_dpbusd(1, 5, 2);
  } else {
    _tile_loadd(3, step, 64);
    _tile_loadd(6, &w.low[0][64 * s], kSuperBlockElements);
    _tile_dpbusd(0, 6, 3);
    _tile_loadd(7, &w.high[0][64 * s], kSuperBlockElements);
    if constexpr (Kernel::kSignedHigh)
      _tile_dpbssd(1, 7, 3);
    else
      _tile_dpbusd(1, 7, 3);
  }
}

template <typename Kernel>
void multiply_block(const DecodedBlock& w, const uint8_t* tile, BlockSums& sums) {
  _tile_zero(0);
  _tile_zero(1);
  multiply_step<Kernel, 0>(w, tile, 0);
  multiply_step<Kernel, 1>(w, tile + kStepBytes, 1);
  multiply_step<Kernel, 0>(w, tile + 2 * kStepBytes, 2);
  multiply_step<Kernel, 1>(w, tile + 3 * kStepBytes, 3);
  _tile_stored(0, sums.low, 64);
  _tile_stored(1, sums.high, 64);
}

template <typename Kernel>
void accumulate(const DecodedBlock& w, const BlockSums& sums, const uint8_t* tile, TileSums& acc) {
  const __m512 dy = _mm512_loadu_ps(reinterpret_cast<const float*>(tile + kScalesOffset));
  __m512i group_sums[4];
  if constexpr (Kernel::kHasMins)
    for (int i = 0; i < 4; ++i)
      group_sums[i] = _mm512_loadu_si512(tile + kGroupSumsOffset + 64 * i);
  for (int r = 0; r < kTileRows; ++r) {
    const __m512i s1 = _mm512_add_epi32(_mm512_load_si512(sums.low[r]),
                                        _mm512_slli_epi32(_mm512_load_si512(sums.high[r]), 8));
    _mm512_store_ps(acc.acc1[r], _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1),
                                                 _mm512_mul_ps(_mm512_set1_ps(w.d[r]), dy),
                                                 _mm512_load_ps(acc.acc1[r])));
    if constexpr (Kernel::kHasMins) {
      __m512i s2 = _mm512_setzero_si512();
      for (int i = 0; i < 4; ++i)
        s2 = _mm512_dpwssd_epi32(s2, group_sums[i], _mm512_set1_epi32(w.min_pairs[r][i]));
      _mm512_store_ps(acc.acc2[r], _mm512_fmadd_ps(_mm512_cvtepi32_ps(s2),
                                                   _mm512_mul_ps(_mm512_set1_ps(w.dmin[r]), dy),
                                                   _mm512_load_ps(acc.acc2[r])));
    }
  }
}

// Decodes block b of rows [row_begin, row_begin + n_rows) into w, and prefetches the next 16 rows
// (the next tile's, which follow in memory) as far as this is through its own: sixteen rows are
// sixteen streams of short runs, which the hardware prefetcher does not follow.
template <typename Kernel>
void decode_rows(const MatmulArgs& a, uint64_t row_begin, int n_rows, uint64_t b, DecodedBlock& w) {
  using Block = typename Kernel::Block;
  const uint8_t* next = a.weights + (row_begin + kTileRows) * a.weight_row_bytes;
  for (int r = 0; r < n_rows; ++r) {
    const auto* row = a.weights + (row_begin + r) * a.weight_row_bytes;
    const auto* ahead = reinterpret_cast<const char*>(next + (b * kTileRows + r) * sizeof(Block));
    for (size_t line = 0; line < sizeof(Block); line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
    Kernel::decode(reinterpret_cast<const Block*>(row)[b], w, r);
  }
}

// Rows [row_begin, row_end) (at most kTileRows) times token tiles [first_tile, end_tile). The
// tile products of a block run while the next block is decoded (into the other buffer) and before
// their sums are read: the tile unit works alongside the vector units, and a tile load waits for
// the stores of a just decoded block to reach the cache.
template <typename Kernel>
void run_tiles(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end, uint32_t first_tile,
               uint32_t end_tile) {
  const uint64_t n_blocks = a.cols / kSuperBlockElements;
  const auto n_rows = static_cast<int>(row_end - row_begin);
  const uint32_t n_tiles = end_tile - first_tile;
  DecodedBlock w[2];
  if (n_rows < kTileRows) __builtin_memset(w, 0, sizeof(w));  // missing rows multiply as zeros
  TileSums acc[kMaxTokenTiles];
  __builtin_memset(acc, 0, n_tiles * sizeof(TileSums));
  BlockSums sums[kMaxTokenTiles];
  decode_rows<Kernel>(a, row_begin, n_rows, 0, w[0]);
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* tiles = a.activation_tiles + (first_tile * n_blocks + b) * kTileBlockBytes;
    const size_t tile_stride = n_blocks * kTileBlockBytes;
    for (uint32_t t = 0; t < n_tiles; ++t)
      multiply_block<Kernel>(w[b % 2], tiles + t * tile_stride, sums[t]);
    if (b + 1 < n_blocks) decode_rows<Kernel>(a, row_begin, n_rows, b + 1, w[(b + 1) % 2]);
    for (uint32_t t = 0; t < n_tiles; ++t)
      accumulate<Kernel>(w[b % 2], sums[t], tiles + t * tile_stride, acc[t]);
  }
  for (uint32_t t = 0; t < n_tiles; ++t) {
    const uint32_t first_token = (first_tile + t) * kTileTokens;
    for (uint32_t n = 0; n < kTileTokens && first_token + n < a.n_tokens; ++n) {
      float* out = a.out + (first_token + n) * a.out_stride + row_begin;
      for (int r = 0; r < n_rows; ++r)
        out[r] =
            _mm_cvtss_f32(_mm_sub_ss(_mm_set_ss(acc[t].acc1[r][n]), _mm_set_ss(acc[t].acc2[r][n])));
    }
  }
}

template <typename Kernel>
void matmul_rows(const MatmulArgs& a, uint64_t row_begin, uint64_t row_end) {
  if (a.activation_tiles == nullptr)
    return amx_rows_matmul_kernel(Kernel::kType)(a, row_begin, row_end);
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  _tile_loadconfig(&config);
  const uint32_t n_tiles = (a.n_tokens + kTileTokens - 1) / kTileTokens;
  for (uint64_t tile = row_begin; tile < row_end; tile += kTileRows) {
    const uint64_t tile_end = tile + kTileRows < row_end ? tile + kTileRows : row_end;
    for (uint32_t t = 0; t < n_tiles; t += kMaxTokenTiles)
      run_tiles<Kernel>(a, tile, tile_end, t,
                        t + kMaxTokenTiles < n_tiles ? t + kMaxTokenTiles : n_tiles);
  }
  _tile_release();
}

}  // namespace

MatmulRowsFn amx_matmul_kernel(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::Q4_K:
      return matmul_rows<KAffineTiles<false>>;
    case TensorType::Q5_K:
      return matmul_rows<KAffineTiles<true>>;
    case TensorType::Q6_K:
      return matmul_rows<Q6KTiles>;
    default:
      return nullptr;
  }
}

}  // namespace quant::cpu

#endif
