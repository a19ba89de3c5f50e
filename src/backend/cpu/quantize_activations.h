#pragma once
// Quantizing a token's F32 activation row to the int8 blocks the fast kernels multiply quantized
// weights with (ActivationFormat in matmul.h), as ggml's CPU backend quantizes them:
// - Q8_1 (blocks of 32): d = max|x| / 127 (stored rounded to F16), levels round(x * 127 / max|x|)
//   with ties to even, s = d * sum(levels);
// - Q8_K (blocks of 256): the levels of ggml's reference quantize_row_q8_K (the scale set by the
//   element of largest magnitude, sign included), d = its float scale, and the sums of each 16.

#include <cstdint>

#include "backend/cpu/matmul.h"

namespace quant::cpu {

// Quantizes layout.cols values of `in` into one row laid out as `layout` says (layout.row_bytes
// bytes at `out`, 64-byte aligned). layout.format must be Q8_1 or Q8_K. Uses AVX2 where the
// build targets it; gives the same bits as quantize_activation_row_reference.
void quantize_activation_row(const float* in, const ActivationLayout& layout, uint8_t* out);

// The same, one element at a time: the definition.
void quantize_activation_row_reference(const float* in, const ActivationLayout& layout,
                                       uint8_t* out);

}  // namespace quant::cpu
