#pragma once
// The CPU kernels: one function per plan op, over plain pointers and sizes (no plan types), so a
// faster version (SIMD, int8 activations) can replace one without touching the interpreter. All
// activations F32. These are the scalar reference versions, written so the compiler can vectorize
// the inner loops.

#include <cstddef>
#include <cstdint>

#include "formats/tensor_type.h"
#include "plan/plan.h"

namespace quant::cpu {

// A weight matrix as stored: `rows` rows of `cols` elements, `row_bytes` apart.
struct WeightMatrix {
  const uint8_t* data = nullptr;
  TensorType type = TensorType::F32;
  DequantizeRowFn dequantize_row = nullptr;
  uint64_t cols = 0;
  uint64_t rows = 0;
  uint64_t row_bytes = 0;
};

// Row `row` of w as F32: a pointer into the mapping for F32 weights, else dequantized into
// `scratch` (w.cols floats).
const float* weight_row(const WeightMatrix& w, uint64_t row, float* scratch);

// sum_i a[i] * b[i].
float dot(const float* a, const float* b, size_t n);

// out = row `token` of `table` as F32.
void embed(const WeightMatrix& table, int32_t token, float* out);

// For each of n_groups groups of group_size values: out = in / sqrt(mean(in^2) + eps) * weight.
void rms_norm(const float* in, const float* weight, float* out, uint32_t n_groups,
              uint32_t group_size, float eps);

// Rows [row_begin, row_end) of out_b = W · in_b for the n_batch vectors in_b = in + b * in_stride,
// out_b = out + b * out_stride. Each weight row is made F32 once (in `scratch`, w.cols floats) and
// used for the whole batch.
void matvec_rows(const WeightMatrix& w, const float* in, size_t in_stride, float* out,
                 size_t out_stride, uint32_t n_batch, uint64_t row_begin, uint64_t row_end,
                 float* scratch);

// out = a + b.
void add(const float* a, const float* b, float* out, size_t n);

// Rotates the first n_rot values of each of n_heads heads of x in place for position `pos`.
void rope(float* x, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot, float theta,
          plan::RopeStyle style, uint32_t pos);

}  // namespace quant::cpu
