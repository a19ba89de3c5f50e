#pragma once
// Block layouts of the quantized tensor types, byte for byte as ggml defines them and GGUF files
// store them (little-endian fields; `Half` fields hold IEEE binary16 bits, see formats/float16.h).
// A row of a quantized tensor is whole blocks laid end to end, with no padding. The Vulkan shaders
// mirror these structs; the static_asserts pin every size and the offsets a mirror depends on.
//
// Decoding, per element (q: the stored level, sc/m: a sub-block's scale and min):
//   Q4_0  d * (q - 8)            Q4_1  d * q + m          Q5_0  d * (q - 16)       Q5_1  d * q + m
//   Q8_0  d * q                  Q8_1  d * q              Q8_K  d * q
//   Q4_K  d * sc * q - dmin * m  (q 4-bit, 8 sub-blocks of 32)
//   Q5_K  same as Q4_K with 5-bit q
//   Q6_K  d * sc * (q - 32)      (q 6-bit, 16 sub-blocks of 16, sc signed 8-bit)

#include <cstddef>
#include <cstdint>

namespace quant {

using Half = uint16_t;  // IEEE binary16 bits

inline constexpr int kLegacyBlockElements = 32;  // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1
inline constexpr int kSuperBlockElements = 256;  // the K-quants
inline constexpr int kKScaleBytes = 12;          // Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins

// Element j of the block is the low nibble of qs[j] for j < 16, the high nibble of qs[j - 16]
// above.
struct Q4_0Block {
  Half d;
  uint8_t qs[kLegacyBlockElements / 2];
};

struct Q4_1Block {
  Half d;
  Half m;
  uint8_t qs[kLegacyBlockElements / 2];
};

// As Q4_0, plus the fifth bit of element j in bit j of qh (a little-endian uint32).
struct Q5_0Block {
  Half d;
  uint8_t qh[4];
  uint8_t qs[kLegacyBlockElements / 2];
};

struct Q5_1Block {
  Half d;
  Half m;
  uint8_t qh[4];
  uint8_t qs[kLegacyBlockElements / 2];
};

struct Q8_0Block {
  Half d;
  int8_t qs[kLegacyBlockElements];
};

// The activation partner of Q4_1/Q5_1: s = d * sum(qs) saves the dot product one reduction.
struct Q8_1Block {
  Half d;
  Half s;
  int8_t qs[kLegacyBlockElements];
};

// 8 sub-blocks of 32. scales[0..3] hold scale j in bits 0-5 and the top 2 bits of scale j+4 in bits
// 6-7; scales[4..7] the same for the mins; scales[8..11] the low 4 bits of scale j+4 (low nibble)
// and of min j+4 (high nibble). qs[32*k + l] holds element 64*k + l (low nibble) and 64*k + 32 + l
// (high nibble).
struct Q4KBlock {
  Half d;
  Half dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kSuperBlockElements / 2];
};

// As Q4_K, plus the fifth bit of element 64*k + l in bit 2k of qh[l] and of element 64*k + 32 + l
// in bit 2k + 1.
struct Q5KBlock {
  Half d;
  Half dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kSuperBlockElements / 8];
  uint8_t qs[kSuperBlockElements / 2];
};

// 16 sub-blocks of 16. In each half h (128 elements), for l < 32: ql[64h + l] holds the low 4 bits
// of elements l (low nibble) and l + 64 (high nibble), ql[64h + 32 + l] those of l + 32 and l + 96;
// qh[32h + l] their top 2 bits, in bits 0-1, 2-3, 4-5, 6-7 for l, l + 32, l + 64, l + 96.
struct Q6KBlock {
  uint8_t ql[kSuperBlockElements / 2];
  uint8_t qh[kSuperBlockElements / 4];
  int8_t scales[kSuperBlockElements / 16];
  Half d;
};

// The activation partner of the K-quants: a float scale and the sums of each 16 levels.
struct Q8KBlock {
  float d;
  int8_t qs[kSuperBlockElements];
  int16_t bsums[kSuperBlockElements / 16];
};

static_assert(sizeof(Q4_0Block) == 18 && offsetof(Q4_0Block, qs) == 2);
static_assert(sizeof(Q4_1Block) == 20 && offsetof(Q4_1Block, qs) == 4);
static_assert(sizeof(Q5_0Block) == 22 && offsetof(Q5_0Block, qh) == 2 &&
              offsetof(Q5_0Block, qs) == 6);
static_assert(sizeof(Q5_1Block) == 24 && offsetof(Q5_1Block, qh) == 4 &&
              offsetof(Q5_1Block, qs) == 8);
static_assert(sizeof(Q8_0Block) == 34 && offsetof(Q8_0Block, qs) == 2);
static_assert(sizeof(Q8_1Block) == 36 && offsetof(Q8_1Block, qs) == 4);
static_assert(sizeof(Q4KBlock) == 144 && offsetof(Q4KBlock, scales) == 4 &&
              offsetof(Q4KBlock, qs) == 16);
static_assert(sizeof(Q5KBlock) == 176 && offsetof(Q5KBlock, qh) == 16 &&
              offsetof(Q5KBlock, qs) == 48);
static_assert(sizeof(Q6KBlock) == 210 && offsetof(Q6KBlock, qh) == 128 &&
              offsetof(Q6KBlock, scales) == 192 && offsetof(Q6KBlock, d) == 208);
static_assert(sizeof(Q8KBlock) == 292 && offsetof(Q8KBlock, qs) == 4 &&
              offsetof(Q8KBlock, bsums) == 260);

}  // namespace quant
