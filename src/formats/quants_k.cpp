// The K-quants: Q4_K, Q5_K, Q6_K (256-element super-blocks of sub-blocks with their own scales) and
// Q8_K, their activation partner. The quantizers follow ggml's reference ones: a searched scale
// (and offset) per sub-block (k_scale_search.h), those scales quantized against the super-block's
// largest, then every element rounded against its quantized sub-block scale.

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "formats/blocks.h"
#include "formats/float16.h"
#include "formats/k_scale_search.h"
#include "formats/quant_rounding.h"
#include "formats/quants.h"

namespace quant {
namespace {

using detail::clamp_int;
using detail::nearest_int;

constexpr int kBlock = kSuperBlockElements;
constexpr int kAffineSub = detail::kAffineLength;        // Q4_K/Q5_K sub-block
constexpr int kAffineSubs = detail::kAffineLanes;        // sub-blocks per super-block
constexpr int kSymmetricSub = detail::kSymmetricLength;  // Q6_K sub-block
constexpr int kSymmetricSubs = detail::kSymmetricLanes;

int64_t block_count(int64_t n) {
  assert(n % kBlock == 0);
  return n / kBlock;
}

// Scale and min of sub-block j from the 12 packed bytes of Q4_K/Q5_K (layout in blocks.h).
struct ScaleMin {
  uint8_t scale;
  uint8_t min;
};

ScaleMin scale_min(const uint8_t* packed, int j) {
  if (j < 4) {
    return {static_cast<uint8_t>(packed[j] & 63), static_cast<uint8_t>(packed[j + 4] & 63)};
  }
  return {static_cast<uint8_t>((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4)),
          static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4))};
}

// Packs the 6-bit scales and mins; sub-blocks 0-3 first, as the high bits of 4-7 go on top of them.
void pack_scale_mins(const uint8_t (&scales)[kAffineSubs], const uint8_t (&mins)[kAffineSubs],
                     uint8_t* packed) {
  for (int j = 0; j < kAffineSubs; ++j) {
    if (j < 4) {
      packed[j] = scales[j];
      packed[j + 4] = mins[j];
    } else {
      packed[j + 4] = static_cast<uint8_t>((scales[j] & 0x0f) | ((mins[j] & 0x0f) << 4));
      packed[j - 4] |= static_cast<uint8_t>((scales[j] >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((mins[j] >> 4) << 6);
    }
  }
}

// The common part of Q4_K and Q5_K: super-block scales, packed sub-block scales and every level.
struct AffineSuperBlock {
  Half d;
  Half dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t levels[kBlock];
};

// The search's input: the super-block transposed, and weights that make errors on large values
// count more, relative to the sub-block's RMS.
void prepare_affine(const float* x, detail::AffineInput& input) {
  float sum_x2[kAffineSubs] = {};
  for (int i = 0; i < kAffineSub; ++i) {
    for (int k = 0; k < kAffineSubs; ++k) {
      input.x[i][k] = x[kAffineSub * k + i];
      sum_x2[k] += input.x[i][k] * input.x[i][k];
    }
  }
  float rms[kAffineSubs];
  for (int k = 0; k < kAffineSubs; ++k) rms[k] = std::sqrt(sum_x2[k] / kAffineSub);
  for (int i = 0; i < kAffineSub; ++i) {
    for (int k = 0; k < kAffineSubs; ++k) input.weights[i][k] = rms[k] + std::fabs(input.x[i][k]);
  }
}

// The searched sub-block scales and mins quantized to 6 bits against the largest of each, then the
// levels against those quantized scales.
AffineSuperBlock finish_affine(const float* x, const detail::AffineFit& fit, int nmax) {
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < kAffineSubs; ++j) {
    if (fit.scale[j] > max_scale) max_scale = fit.scale[j];
    if (fit.min[j] > max_min) max_min = fit.min[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t scales[kAffineSubs];
  uint8_t mins[kAffineSubs];
  for (int j = 0; j < kAffineSubs; ++j) {
    // As the reference: the rounded value is truncated to 8 bits before the limit is applied.
    const auto scale = static_cast<uint8_t>(nearest_int(inv_scale * fit.scale[j]));
    const auto min = static_cast<uint8_t>(nearest_int(inv_min * fit.min[j]));
    scales[j] = scale < 63 ? scale : 63;
    mins[j] = min < 63 ? min : 63;
  }
  AffineSuperBlock out;
  pack_scale_mins(scales, mins, out.scales);
  out.d = fp32_to_fp16(max_scale / 63.f);
  out.dmin = fp32_to_fp16(max_min / 63.f);

  // A sub-block whose scale rounded to 0 keeps the search's levels.
  const float d = fp16_to_fp32(out.d);
  const float dmin = fp16_to_fp32(out.dmin);
  for (int j = 0; j < kAffineSubs; ++j) {
    const ScaleMin sm = scale_min(out.scales, j);
    const float sub_d = d * sm.scale;
    uint8_t* levels = out.levels + kAffineSub * j;
    if (sub_d == 0) {
      std::memcpy(levels, fit.levels + kAffineSub * j, kAffineSub);
      continue;
    }
    const float sub_min = dmin * sm.min;
    const float* xs = x + kAffineSub * j;
    for (int i = 0; i < kAffineSub; ++i) {
      levels[i] = static_cast<uint8_t>(clamp_int(nearest_int((xs[i] + sub_min) / sub_d), 0, nmax));
    }
  }
  return out;
}

// Quantizes a row of Q4_K or Q5_K super-blocks, searching them in batches, and hands each result
// to store(block index, AffineSuperBlock) for packing.
template <typename Store>
void quantize_affine_row(const float* in, int64_t n, const detail::AffineSearch& search,
                         Store store) {
  constexpr int kBatch = detail::kMaxAffineBatch;
  const int64_t blocks = block_count(n);
  for (int64_t first = 0; first < blocks; first += kBatch) {
    const int count = static_cast<int>(std::min<int64_t>(kBatch, blocks - first));
    detail::AffineInput inputs[kBatch];
    detail::AffineFit fits[kBatch];
    for (int g = 0; g < count; ++g) prepare_affine(in + (first + g) * kBlock, inputs[g]);
    detail::search_affine(inputs, count, search, fits);
    for (int g = 0; g < count; ++g) {
      store(first + g, finish_affine(in + (first + g) * kBlock, fits[g], search.nmax));
    }
  }
}

}  // namespace

void dequantize_row_q4_k(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q4KBlock*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block) {
    const float d = fp16_to_fp32(block->d);
    const float dmin = fp16_to_fp32(block->dmin);
    const uint8_t* q = block->qs;
    for (int j = 0; j < kAffineSubs; j += 2, q += 32) {
      const ScaleMin low = scale_min(block->scales, j);
      const ScaleMin high = scale_min(block->scales, j + 1);
      const float d_low = d * low.scale, m_low = dmin * low.min;
      const float d_high = d * high.scale, m_high = dmin * high.min;
      for (int l = 0; l < 32; ++l) *out++ = d_low * static_cast<float>(q[l] & 0x0f) - m_low;
      for (int l = 0; l < 32; ++l) *out++ = d_high * static_cast<float>(q[l] >> 4) - m_high;
    }
  }
}

void quantize_row_q4_k(const float* in, void* blocks, int64_t n) {
  constexpr detail::AffineSearch kSearch{.nmax = 15, .rmin = -1.0f, .rdelta = 0.1f, .steps = 20};
  auto* out = static_cast<Q4KBlock*>(blocks);
  quantize_affine_row(in, n, kSearch, [out](int64_t b, const AffineSuperBlock& q) {
    Q4KBlock& block = out[b];
    block.d = q.d;
    block.dmin = q.dmin;
    std::memcpy(block.scales, q.scales, kKScaleBytes);
    for (int j = 0; j < kBlock; j += 64) {
      for (int l = 0; l < 32; ++l) {
        block.qs[j / 2 + l] = static_cast<uint8_t>(q.levels[j + l] | (q.levels[j + l + 32] << 4));
      }
    }
  });
}

void dequantize_row_q5_k(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q5KBlock*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block) {
    const float d = fp16_to_fp32(block->d);
    const float dmin = fp16_to_fp32(block->dmin);
    const uint8_t* ql = block->qs;
    const uint8_t* qh = block->qh;
    for (int j = 0; j < kAffineSubs; j += 2, ql += 32) {
      const ScaleMin low = scale_min(block->scales, j);
      const ScaleMin high = scale_min(block->scales, j + 1);
      const float d_low = d * low.scale, m_low = dmin * low.min;
      const float d_high = d * high.scale, m_high = dmin * high.min;
      const int bit_low = j, bit_high = j + 1;  // bit 2k and 2k + 1 of qh for pair k = j / 2
      for (int l = 0; l < 32; ++l) {
        const int level = (ql[l] & 0x0f) | (((qh[l] >> bit_low) & 1) << 4);
        *out++ = d_low * static_cast<float>(level) - m_low;
      }
      for (int l = 0; l < 32; ++l) {
        const int level = (ql[l] >> 4) | (((qh[l] >> bit_high) & 1) << 4);
        *out++ = d_high * static_cast<float>(level) - m_high;
      }
    }
  }
}

void quantize_row_q5_k(const float* in, void* blocks, int64_t n) {
  constexpr detail::AffineSearch kSearch{.nmax = 31, .rmin = -0.5f, .rdelta = 0.1f, .steps = 15};
  auto* out = static_cast<Q5KBlock*>(blocks);
  quantize_affine_row(in, n, kSearch, [out](int64_t b, const AffineSuperBlock& q) {
    Q5KBlock& block = out[b];
    block.d = q.d;
    block.dmin = q.dmin;
    std::memcpy(block.scales, q.scales, kKScaleBytes);
    std::memset(block.qh, 0, sizeof(block.qh));
    for (int j = 0; j < kBlock; j += 64) {
      const int bit = j / 32;  // 2k for the pair k = j / 64
      for (int l = 0; l < 32; ++l) {
        const uint8_t low = q.levels[j + l];
        const uint8_t high = q.levels[j + l + 32];
        block.qs[j / 2 + l] = static_cast<uint8_t>((low & 0x0f) | ((high & 0x0f) << 4));
        block.qh[l] |= static_cast<uint8_t>(((low >> 4) << bit) | ((high >> 4) << (bit + 1)));
      }
    }
  });
}

void dequantize_row_q6_k(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q6KBlock*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block) {
    const float d = fp16_to_fp32(block->d);
    for (int half = 0; half < 2; ++half, out += 128) {
      const uint8_t* ql = block->ql + 64 * half;
      const uint8_t* qh = block->qh + 32 * half;
      const int8_t* sc = block->scales + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * sc[is + 0] * static_cast<float>(q1);
        out[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        out[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        out[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
    }
  }
}

void quantize_row_q6_k(const float* in, void* blocks, int64_t n) {
  constexpr int kNmax = 32;
  auto* block = static_cast<Q6KBlock*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, in += kBlock) {
    float xt[kSymmetricSub][kSymmetricSubs];
    for (int i = 0; i < kSymmetricSub; ++i) {
      for (int k = 0; k < kSymmetricSubs; ++k) xt[i][k] = in[kSymmetricSub * k + i];
    }
    detail::SymmetricFit fit;
    detail::search_symmetric(xt, kNmax, fit);

    float max_scale = 0;  // the scale of largest magnitude, sign included
    float max_abs_scale = 0;
    for (int j = 0; j < kSymmetricSubs; ++j) {
      if (std::fabs(fit.scale[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(fit.scale[j]);
        max_scale = fit.scale[j];
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(block, 0, sizeof(*block));
      continue;
    }
    // Sub-block scales as signed 8-bit multiples of d; the largest maps to -128.
    const float iscale = -128.f / max_scale;
    block->d = fp32_to_fp16(1 / iscale);
    for (int j = 0; j < kSymmetricSubs; ++j) {
      const int scale = nearest_int(iscale * fit.scale[j]);
      block->scales[j] = static_cast<int8_t>(scale < 127 ? scale : 127);
    }
    // Levels against the quantized scales; a sub-block whose scale rounded to 0 keeps the search's.
    uint8_t levels[kBlock];
    std::memcpy(levels, fit.levels, kBlock);
    const float d = fp16_to_fp32(block->d);
    for (int j = 0; j < kSymmetricSubs; ++j) {
      const float sub_d = d * block->scales[j];
      if (sub_d == 0) continue;
      for (int i = 0; i < kSymmetricSub; ++i) {
        const int level = clamp_int(nearest_int(in[kSymmetricSub * j + i] / sub_d), -32, 31);
        levels[kSymmetricSub * j + i] = static_cast<uint8_t>(level + 32);
      }
    }
    for (int half = 0; half < 2; ++half) {
      const uint8_t* lv = levels + 128 * half;
      uint8_t* ql = block->ql + 64 * half;
      uint8_t* qh = block->qh + 32 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((lv[l] & 0x0f) | ((lv[l + 64] & 0x0f) << 4));
        ql[l + 32] = static_cast<uint8_t>((lv[l + 32] & 0x0f) | ((lv[l + 96] & 0x0f) << 4));
        qh[l] = static_cast<uint8_t>((lv[l] >> 4) | ((lv[l + 32] >> 4) << 2) |
                                     ((lv[l + 64] >> 4) << 4) | ((lv[l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_row_q8_k(const void* blocks, float* out, int64_t n) {
  const auto* block = static_cast<const Q8KBlock*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, out += kBlock) {
    for (int j = 0; j < kBlock; ++j) out[j] = block->d * static_cast<float>(block->qs[j]);
  }
}

void quantize_row_q8_k(const float* in, void* blocks, int64_t n) {
  auto* block = static_cast<Q8KBlock*>(blocks);
  for (int64_t b = 0; b < block_count(n); ++b, ++block, in += kBlock) {
    float amax = 0;
    float max = 0;  // the element of largest magnitude, sign included
    for (int j = 0; j < kBlock; ++j) {
      if (std::fabs(in[j]) > amax) {
        amax = std::fabs(in[j]);
        max = in[j];
      }
    }
    if (amax == 0) {
      std::memset(block, 0, sizeof(*block));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kBlock; ++j) {
      block->qs[j] = static_cast<int8_t>(clamp_int(nearest_int(iscale * in[j]), -128, 127));
    }
    for (int j = 0; j < kBlock / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += block->qs[16 * j + i];
      block->bsums[j] = static_cast<int16_t>(sum);
    }
    block->d = 1 / iscale;
  }
}

}  // namespace quant
