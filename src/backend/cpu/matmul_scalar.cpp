// The reference kernels: each weight row times each activation row, one element at a time, written
// from the block definitions (formats/blocks.h). The SIMD kernels are tested against these, and
// builds without SIMD kernels run them.

#include <cstring>
#include <type_traits>

#include "backend/cpu/matmul_kernels.h"
#include "formats/blocks.h"
#include "formats/float16.h"

namespace quant::cpu {
namespace {

// One token's activation row as the kernels read it.
struct ActivationRow {
  const uint8_t* base;
  const ActivationLayout& layout;

  const int8_t* levels() const { return reinterpret_cast<const int8_t*>(base); }
  float scale(uint64_t block) const {
    float d;
    std::memcpy(&d, base + layout.scales_offset + block * sizeof(float), sizeof(d));
    return d;
  }
  // Q8_1: d * the sum of the block's levels.
  float sum(uint64_t block) const {
    float s;
    std::memcpy(&s, base + layout.sums_offset + block * sizeof(float), sizeof(s));
    return s;
  }
  // Q8_K: the sum of levels [16 * i, 16 * i + 16) of the block.
  int sum16(uint64_t block, int i) const {
    int16_t s;
    std::memcpy(&s, base + layout.sums_offset + (block * 16 + i) * sizeof(int16_t), sizeof(s));
    return s;
  }
};

float dot_float_row(const uint8_t* row, TensorType type, const ActivationRow& a) {
  const auto* x = reinterpret_cast<const float*>(a.base);
  float sum = 0.0f;
  for (uint64_t i = 0; i < a.layout.cols; ++i) {
    uint16_t half;
    float w;
    switch (type) {
      case TensorType::F16:
        std::memcpy(&half, row + 2 * i, 2);
        w = fp16_to_fp32(half);
        break;
      case TensorType::BF16:
        std::memcpy(&half, row + 2 * i, 2);
        w = bf16_to_fp32(half);
        break;
      default:
        std::memcpy(&w, row + 4 * i, 4);
        break;
    }
    sum += w * x[i];
  }
  return sum;
}

// Element j (0..31) of a Q4_0/Q4_1 block: low nibbles first, then high nibbles.
int nibble(const uint8_t* qs, int j) {
  return j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4;
}

// Element j of a Q5_0/Q5_1 block: the nibble plus bit j of qh as the fifth bit.
int five_bits(const uint8_t* qs, const uint8_t* qh, int j) {
  uint32_t high;
  std::memcpy(&high, qh, 4);
  return nibble(qs, j) | static_cast<int>(((high >> j) & 1u) << 4);
}

// sum over the row's blocks of d_w * d_a * sum(w_j * a_j) + m_w * s_a, the weight levels w_j less
// `offset` (Q4_0: 8, Q5_0: 16).
template <typename Block>
float dot_legacy_row(const uint8_t* row, const ActivationRow& a) {
  const auto* blocks = reinterpret_cast<const Block*>(row);
  const int8_t* levels = a.levels();
  float sum = 0.0f;
  for (uint64_t b = 0; b < a.layout.cols / kLegacyBlockElements; ++b) {
    const Block& x = blocks[b];
    const int8_t* y = levels + b * kLegacyBlockElements;
    int isum = 0;
    for (int j = 0; j < kLegacyBlockElements; ++j) {
      int w;
      if constexpr (std::is_same_v<Block, Q4_0Block>) w = nibble(x.qs, j) - 8;
      if constexpr (std::is_same_v<Block, Q4_1Block>) w = nibble(x.qs, j);
      if constexpr (std::is_same_v<Block, Q5_0Block>) w = five_bits(x.qs, x.qh, j) - 16;
      if constexpr (std::is_same_v<Block, Q5_1Block>) w = five_bits(x.qs, x.qh, j);
      if constexpr (std::is_same_v<Block, Q8_0Block>) w = x.qs[j];
      isum += w * y[j];
    }
    sum += fp16_to_fp32(x.d) * a.scale(b) * static_cast<float>(isum);
    if constexpr (std::is_same_v<Block, Q4_1Block> || std::is_same_v<Block, Q5_1Block>)
      sum += fp16_to_fp32(x.m) * a.sum(b);
  }
  return sum;
}

// Scale and min of sub-block j (0..7) of a Q4_K/Q5_K block (packing in formats/blocks.h).
void k_scale_min(const uint8_t* packed, int j, int& scale, int& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
    min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

// Q4_K and Q5_K: d * sum_j sc_j * sum(q * a) - dmin * sum_j m_j * sum(a) per block, times d_a.
template <typename Block>
float dot_k_affine_row(const uint8_t* row, const ActivationRow& a) {
  const auto* blocks = reinterpret_cast<const Block*>(row);
  float sum = 0.0f;
  for (uint64_t b = 0; b < a.layout.cols / kSuperBlockElements; ++b) {
    const Block& x = blocks[b];
    const int8_t* y = a.levels() + b * kSuperBlockElements;
    int scaled = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {  // sub-blocks of 32
      int scale, min;
      k_scale_min(x.scales, j, scale, min);
      int isum = 0, ysum = 0;
      for (int l = 0; l < 32; ++l) {
        const uint8_t byte = x.qs[32 * (j / 2) + l];
        int q = j % 2 == 0 ? byte & 0x0f : byte >> 4;
        if constexpr (std::is_same_v<Block, Q5KBlock>) q |= ((x.qh[l] >> j) & 1) << 4;
        isum += q * y[32 * j + l];
        ysum += y[32 * j + l];
      }
      scaled += scale * isum;
      mins += min * ysum;
    }
    sum += a.scale(b) * (fp16_to_fp32(x.d) * static_cast<float>(scaled) -
                         fp16_to_fp32(x.dmin) * static_cast<float>(mins));
  }
  return sum;
}

float dot_q6_k_row(const uint8_t* row, const ActivationRow& a) {
  const auto* blocks = reinterpret_cast<const Q6KBlock*>(row);
  float sum = 0.0f;
  for (uint64_t b = 0; b < a.layout.cols / kSuperBlockElements; ++b) {
    const Q6KBlock& x = blocks[b];
    const int8_t* y = a.levels() + b * kSuperBlockElements;
    int q[kSuperBlockElements];
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const uint8_t low = x.ql[64 * h + l], high = x.ql[64 * h + 32 + l], top = x.qh[32 * h + l];
        q[128 * h + l] = (low & 0x0f) | ((top & 3) << 4);
        q[128 * h + l + 32] = (high & 0x0f) | (((top >> 2) & 3) << 4);
        q[128 * h + l + 64] = (low >> 4) | (((top >> 4) & 3) << 4);
        q[128 * h + l + 96] = (high >> 4) | (((top >> 6) & 3) << 4);
      }
    int scaled = 0;
    for (int j = 0; j < 16; ++j) {  // sub-blocks of 16
      int isum = 0;
      for (int l = 0; l < 16; ++l) isum += (q[16 * j + l] - 32) * y[16 * j + l];
      scaled += x.scales[j] * isum;
    }
    sum += a.scale(b) * fp16_to_fp32(x.d) * static_cast<float>(scaled);
  }
  return sum;
}

template <TensorType kType>
float dot_row(const uint8_t* row, const ActivationRow& a) {
  if constexpr (kType == TensorType::F32 || kType == TensorType::F16 || kType == TensorType::BF16)
    return dot_float_row(row, kType, a);
  if constexpr (kType == TensorType::Q4_0) return dot_legacy_row<Q4_0Block>(row, a);
  if constexpr (kType == TensorType::Q4_1) return dot_legacy_row<Q4_1Block>(row, a);
  if constexpr (kType == TensorType::Q5_0) return dot_legacy_row<Q5_0Block>(row, a);
  if constexpr (kType == TensorType::Q5_1) return dot_legacy_row<Q5_1Block>(row, a);
  if constexpr (kType == TensorType::Q8_0) return dot_legacy_row<Q8_0Block>(row, a);
  if constexpr (kType == TensorType::Q4_K) return dot_k_affine_row<Q4KBlock>(row, a);
  if constexpr (kType == TensorType::Q5_K) return dot_k_affine_row<Q5KBlock>(row, a);
  if constexpr (kType == TensorType::Q6_K) return dot_q6_k_row(row, a);
}

template <TensorType kType>
void matmul_rows(const MatmulArgs& args, uint64_t row_begin, uint64_t row_end) {
  for (uint32_t t = 0; t < args.n_tokens; ++t) {
    const ActivationRow a{args.activations + t * args.activation_stride, args.layout};
    for (uint64_t r = row_begin; r < row_end; ++r)
      args.out[t * args.out_stride + r] =
          dot_row<kType>(args.weights + r * args.weight_row_bytes, a);
  }
}

}  // namespace

MatmulRowsFn scalar_matmul_kernel(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::F32:
      return matmul_rows<TensorType::F32>;
    case TensorType::F16:
      return matmul_rows<TensorType::F16>;
    case TensorType::BF16:
      return matmul_rows<TensorType::BF16>;
    case TensorType::Q4_0:
      return matmul_rows<TensorType::Q4_0>;
    case TensorType::Q4_1:
      return matmul_rows<TensorType::Q4_1>;
    case TensorType::Q5_0:
      return matmul_rows<TensorType::Q5_0>;
    case TensorType::Q5_1:
      return matmul_rows<TensorType::Q5_1>;
    case TensorType::Q8_0:
      return matmul_rows<TensorType::Q8_0>;
    case TensorType::Q4_K:
      return matmul_rows<TensorType::Q4_K>;
    case TensorType::Q5_K:
      return matmul_rows<TensorType::Q5_K>;
    case TensorType::Q6_K:
      return matmul_rows<TensorType::Q6_K>;
    default:
      return nullptr;
  }
}

}  // namespace quant::cpu
