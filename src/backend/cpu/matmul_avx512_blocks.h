#pragma once
// Decoding the K-quant blocks into AVX-512 registers, shared by the files compiled with AVX-512
// enabled (matmul_avx512.cpp, matmul_amx.cpp, matmul_amx_rows.cpp) and included by no other. Its
// functions are in an unnamed namespace (and inline, as not every file uses all of them): each of
// those files gets copies of its own, so no copy with AVX-512 instructions can stand in for a
// function the rest of the program calls.
//
// A pair of blocks is decoded into eight registers, in the order of the activations' pair copy
// (matmul.h): register k holds levels 32j + 4k .. 32j + 4k + 3 of every 32-level group j of both
// blocks, in int32 lane 8h + j for block h.

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "formats/blocks.h"

namespace quant::cpu {
namespace {

inline __m512i load512(const void* p) {
  return _mm512_loadu_si512(p);
}

inline float half(uint16_t h) {
  return _cvtsh_ss(h);
}

// A register of 4-bit fields of a pair of blocks, each block 128 bytes in two registers: lane i
// takes dword dwords[i] of block 0 (lanes 0-7) or block 1 (lanes 8-15), shifted right by
// shifts[i], and keeps the low 4 bits of each byte.
inline __m512i nibble_register(__m512i low0, __m512i high0, __m512i low1, __m512i high1,
                               __m512i dwords, __m512i shifts) {
  const __m512i both =
      _mm512_mask_blend_epi32(0xff00, _mm512_permutex2var_epi32(low0, dwords, high0),
                              _mm512_permutex2var_epi32(low1, dwords, high1));
  return _mm512_and_si512(_mm512_srlv_epi32(both, shifts), _mm512_set1_epi8(0x0f));
}

// Bytes sc0..sc7, m0..m7 of a Q4_K or Q5_K block's 12 packed scale bytes.
inline __m128i k_scales_mins(const uint8_t* scales) {
  uint32_t w[3];
  __builtin_memcpy(w, scales, sizeof(w));
  const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
  return _mm_setr_epi32(static_cast<int>(w[0] & low6),
                        static_cast<int>((w[2] & low4) | (((w[0] >> 6) & low2) << 4)),
                        static_cast<int>(w[1] & low6),
                        static_cast<int>(((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4)));
}

// The levels q (Q4_K: 0..15, Q5_K: 0..31) of a pair. Bytes 32m .. 32m + 31 of qs hold group 2m in
// their low nibbles and group 2m + 1 in their high nibbles, so register k takes dword 8m + k of qs
// for groups 2m and 2m + 1, shifted by 0 and 4; bit j of qh[l] is the fifth bit of level 32j + l.
template <typename Block>
[[gnu::always_inline]] inline void k_affine_levels(const Block& x0, const Block& x1,
                                                   __m512i (&q)[8]) {
  const __m512i low0 = load512(x0.qs), high0 = load512(x0.qs + 64);
  const __m512i low1 = load512(x1.qs), high1 = load512(x1.qs + 64);
  const __m512i shifts = _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
  for (int k = 0; k < 8; ++k) {
    const __m512i dwords = _mm512_setr_epi32(k, k, 8 + k, 8 + k, 16 + k, 16 + k, 24 + k, 24 + k, k,
                                             k, 8 + k, 8 + k, 16 + k, 16 + k, 24 + k, 24 + k);
    q[k] = nibble_register(low0, high0, low1, high1, dwords, shifts);
  }
  if constexpr (std::is_same_v<Block, Q5KBlock>) {
    // Dword k of qh, bit j in lane 8h + j.
    const __m512i top = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0.qh))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1.qh)), 1);
    const __m512i bit = _mm512_setr_epi32(
        0x01010101, 0x02020202, 0x04040404, 0x08080808, 0x10101010, 0x20202020, 0x40404040,
        static_cast<int>(0x80808080), 0x01010101, 0x02020202, 0x04040404, 0x08080808, 0x10101010,
        0x20202020, 0x40404040, static_cast<int>(0x80808080));
    for (int k = 0; k < 8; ++k) {
      const __m512i dword =
          _mm512_permutexvar_epi32(_mm512_setr_epi32(k, k, k, k, k, k, k, k, 8 + k, 8 + k, 8 + k,
                                                     8 + k, 8 + k, 8 + k, 8 + k, 8 + k),
                                   top);
      q[k] = _mm512_mask_add_epi8(q[k], _mm512_test_epi8_mask(dword, bit), q[k],
                                  _mm512_set1_epi8(0x10));
    }
  }
}

// The levels q (0..63, without the - 32) of a pair of Q6_K blocks: 16 sub-blocks of 16, level
// 128i + 32s + l (group j = 4i + s) taking the low (s = 0, 1) or high (s = 2, 3) nibble of
// ql[64i + 32(s % 2) + l] and bits 2s, 2s + 1 of qh[32i + l]. Registers 0-3 hold the first 16
// levels of each group, sub-block 2j, and registers 4-7 the rest, sub-block 2j + 1.
[[gnu::always_inline]] inline void q6k_levels(const Q6KBlock& x0, const Q6KBlock& x1,
                                              __m512i (&q)[8]) {
  const __m512i low0 = load512(x0.ql), high0 = load512(x0.ql + 64);
  const __m512i low1 = load512(x1.ql), high1 = load512(x1.ql + 64);
  const __m512i top0 = load512(x0.qh), top1 = load512(x1.qh);
  const __m512i shifts = _mm512_setr_epi32(0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4);
  const __m512i turns = _mm512_setr_epi32(4, 2, 0, 30, 4, 2, 0, 30, 4, 2, 0, 30, 4, 2, 0, 30);
  for (int k = 0; k < 8; ++k) {
    const __m512i low =
        nibble_register(low0, high0, low1, high1,
                        _mm512_setr_epi32(k, 8 + k, k, 8 + k, 16 + k, 24 + k, 16 + k, 24 + k, k,
                                          8 + k, k, 8 + k, 16 + k, 24 + k, 16 + k, 24 + k),
                        shifts);
    // Bits 2s, 2s + 1 of each byte of qh dword 8i + k, turned to bits 4 and 5.
    const __m512i top = _mm512_permutex2var_epi32(
        top0,
        _mm512_setr_epi32(k, k, k, k, 8 + k, 8 + k, 8 + k, 8 + k, 16 + k, 16 + k, 16 + k, 16 + k,
                          24 + k, 24 + k, 24 + k, 24 + k),
        top1);
    q[k] = _mm512_or_si512(low,
                           _mm512_and_si512(_mm512_rolv_epi32(top, turns), _mm512_set1_epi8(0x30)));
  }
}

// The signed scales of sub-blocks 2j (odd = 0) or 2j + 1 (odd = 1) of a pair of Q6_K blocks: byte
// 8h + j for block h.
inline __m128i q6k_scales(const Q6KBlock& x0, const Q6KBlock& x1, int odd) {
  const __m128i s0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x0.scales));
  const __m128i s1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x1.scales));
  const __m128i pick = _mm_setr_epi8(
      static_cast<char>(odd), static_cast<char>(2 + odd), static_cast<char>(4 + odd),
      static_cast<char>(6 + odd), static_cast<char>(8 + odd), static_cast<char>(10 + odd),
      static_cast<char>(12 + odd), static_cast<char>(14 + odd), -1, -1, -1, -1, -1, -1, -1, -1);
  return _mm_unpacklo_epi64(_mm_shuffle_epi8(s0, pick), _mm_shuffle_epi8(s1, pick));
}

}  // namespace
}  // namespace quant::cpu
