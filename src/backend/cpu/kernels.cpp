#include "backend/cpu/kernels.h"

#include <cassert>
#include <cmath>
#include <cstring>

namespace quant::cpu {

const float* weight_row(const WeightMatrix& w, uint64_t row, float* scratch) {
  const uint8_t* bytes = w.data + row * w.row_bytes;
  if (w.type == TensorType::F32) return reinterpret_cast<const float*>(bytes);
  w.dequantize_row(bytes, scratch, static_cast<int64_t>(w.cols));
  return scratch;
}

float dot(const float* a, const float* b, size_t n) {
  // Independent partial sums let the compiler use vector registers without reassociating; the
  // reduction is written out so it stays straight-line code (it matters for rows of a few hundred).
  constexpr size_t kLanes = 16;
  float partial[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) partial[j] += a[i + j] * b[i + j];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  float half[kLanes / 2];
  for (size_t j = 0; j < kLanes / 2; ++j) half[j] = partial[j] + partial[j + kLanes / 2];
  float quarter[kLanes / 4];
  for (size_t j = 0; j < kLanes / 4; ++j) quarter[j] = half[j] + half[j + kLanes / 4];
  return ((quarter[0] + quarter[2]) + (quarter[1] + quarter[3])) + tail;
}

void embed(const WeightMatrix& table, int32_t token, float* out) {
  assert(token >= 0 && static_cast<uint64_t>(token) < table.rows);
  const float* row = weight_row(table, static_cast<uint64_t>(token), out);
  if (row != out) std::memcpy(out, row, table.cols * sizeof(float));
}

void rms_norm(const float* in, const float* weight, float* out, uint32_t n_groups,
              uint32_t group_size, float eps) {
  for (uint32_t g = 0; g < n_groups; ++g) {
    const float* x = in + size_t{g} * group_size;
    float* y = out + size_t{g} * group_size;
    double sum_squares = 0.0;
    for (uint32_t i = 0; i < group_size; ++i) sum_squares += double{x[i]} * x[i];
    const float mean = static_cast<float>(sum_squares / group_size);
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (uint32_t i = 0; i < group_size; ++i) y[i] = x[i] * scale * weight[i];
  }
}

void matvec_rows(const WeightMatrix& w, const float* in, size_t in_stride, float* out,
                 size_t out_stride, uint32_t n_batch, uint64_t row_begin, uint64_t row_end,
                 float* scratch) {
  for (uint64_t r = row_begin; r < row_end; ++r) {
    const float* row = weight_row(w, r, scratch);
    for (uint32_t b = 0; b < n_batch; ++b)
      out[b * out_stride + r] = dot(row, in + b * in_stride, w.cols);
  }
}

void add(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void rope(float* x, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot, float theta,
          plan::RopeStyle style, uint32_t pos) {
  // The angle of pair i is pos * theta^(-2i/n_rot), built by repeated multiplication in F32 as the
  // reference implementation does, so positions far into the context round the same way.
  const float angle_step = std::pow(theta, -2.0f / static_cast<float>(n_rot));
  const uint32_t half = n_rot / 2;
  float angle = static_cast<float>(pos);
  for (uint32_t i = 0; i < half; ++i) {
    const float c = std::cos(angle);
    const float s = std::sin(angle);
    // Adjacent pairs rotate (2i, 2i+1); NeoX pairs rotate (i, i + n_rot/2).
    const uint32_t first = style == plan::RopeStyle::AdjacentPairs ? 2 * i : i;
    const uint32_t second = style == plan::RopeStyle::AdjacentPairs ? 2 * i + 1 : i + half;
    for (uint32_t h = 0; h < n_heads; ++h) {
      float* head = x + size_t{h} * head_dim;
      const float x0 = head[first];
      const float x1 = head[second];
      head[first] = x0 * c - x1 * s;
      head[second] = x0 * s + x1 * c;
    }
    angle *= angle_step;
  }
}

}  // namespace quant::cpu
