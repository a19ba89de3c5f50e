#include "backend/cpu/kernels_gated_attention.h"

#include <cmath>
#include <cstring>

namespace quant::cpu {

void slice_heads(const float* in, float* out, uint32_t n_heads, uint32_t in_head_stride,
                 uint32_t in_offset, uint32_t size) {
  for (uint32_t h = 0; h < n_heads; ++h)
    std::memcpy(out + size_t{h} * size, in + size_t{h} * in_head_stride + in_offset,
                size * sizeof(float));
}

void sigmoid_gate(const float* in, const float* gate, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = in[i] / (1.0f + std::exp(-gate[i]));
}

}  // namespace quant::cpu
