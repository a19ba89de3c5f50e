// Row conversions of the float types (F32, F16, BF16). F16 uses the F16C instructions where the
// build targets them; both paths give the bits of the scalar functions in float16.h.

#include <cstring>

#include "formats/float16.h"
#include "formats/quants.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace quant {

void fp16_to_fp32_row(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(halves));
  }
#endif
  for (; i < n; ++i) out[i] = fp16_to_fp32(in[i]);
}

void fp32_to_fp16_row(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    const __m128i halves = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), halves);
  }
#endif
  for (; i < n; ++i) out[i] = fp32_to_fp16(in[i]);
}

void bf16_to_fp32_row(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_fp32(in[i]);
}

void fp32_to_bf16_row(const float* in, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp32_to_bf16(in[i]);
}

void dequantize_row_f32(const void* blocks, float* out, int64_t n) {
  std::memcpy(out, blocks, static_cast<size_t>(n) * sizeof(float));
}

void quantize_row_f32(const float* in, void* blocks, int64_t n) {
  std::memcpy(blocks, in, static_cast<size_t>(n) * sizeof(float));
}

void dequantize_row_f16(const void* blocks, float* out, int64_t n) {
  fp16_to_fp32_row(static_cast<const uint16_t*>(blocks), out, n);
}

void quantize_row_f16(const float* in, void* blocks, int64_t n) {
  fp32_to_fp16_row(in, static_cast<uint16_t*>(blocks), n);
}

void dequantize_row_bf16(const void* blocks, float* out, int64_t n) {
  bf16_to_fp32_row(static_cast<const uint16_t*>(blocks), out, n);
}

void quantize_row_bf16(const float* in, void* blocks, int64_t n) {
  fp32_to_bf16_row(in, static_cast<uint16_t*>(blocks), n);
}

}  // namespace quant
