#pragma once
// The row functions the tensor-type table points at, one pair per type (formats/tensor_type.h).
// Most callers go through type_traits(type) instead. n is the number of elements, a multiple of the
// type's block size; `blocks` must be aligned for the type's block struct (formats/blocks.h).
// Dequantization reproduces ggml's reference dequantizers bit for bit; quantization follows ggml's
// reference quantizers (the ones llama-quantize uses without an importance matrix). All are
// thread-safe and allocate nothing.

#include <cstdint>

namespace quant {

void dequantize_row_f32(const void* blocks, float* out, int64_t n);
void quantize_row_f32(const float* in, void* blocks, int64_t n);
void dequantize_row_f16(const void* blocks, float* out, int64_t n);
void quantize_row_f16(const float* in, void* blocks, int64_t n);
void dequantize_row_bf16(const void* blocks, float* out, int64_t n);
void quantize_row_bf16(const float* in, void* blocks, int64_t n);

void dequantize_row_q4_0(const void* blocks, float* out, int64_t n);
void quantize_row_q4_0(const float* in, void* blocks, int64_t n);
void dequantize_row_q4_1(const void* blocks, float* out, int64_t n);
void quantize_row_q4_1(const float* in, void* blocks, int64_t n);
void dequantize_row_q5_0(const void* blocks, float* out, int64_t n);
void quantize_row_q5_0(const float* in, void* blocks, int64_t n);
void dequantize_row_q5_1(const void* blocks, float* out, int64_t n);
void quantize_row_q5_1(const float* in, void* blocks, int64_t n);
void dequantize_row_q8_0(const void* blocks, float* out, int64_t n);
void quantize_row_q8_0(const float* in, void* blocks, int64_t n);
void dequantize_row_q8_1(const void* blocks, float* out, int64_t n);
void quantize_row_q8_1(const float* in, void* blocks, int64_t n);

void dequantize_row_q4_k(const void* blocks, float* out, int64_t n);
void quantize_row_q4_k(const float* in, void* blocks, int64_t n);
void dequantize_row_q5_k(const void* blocks, float* out, int64_t n);
void quantize_row_q5_k(const float* in, void* blocks, int64_t n);
void dequantize_row_q6_k(const void* blocks, float* out, int64_t n);
void quantize_row_q6_k(const float* in, void* blocks, int64_t n);
void dequantize_row_q8_k(const void* blocks, float* out, int64_t n);
void quantize_row_q8_k(const float* in, void* blocks, int64_t n);

}  // namespace quant
