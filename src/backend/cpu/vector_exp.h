#pragma once
// The exponentials of the CPU backend's softmax and SwiGLU, eight at a time where the build
// targets AVX2 + FMA (a polynomial on the reduced argument, within 2 ulp of exp), else std::exp.
// Every element takes the same path whatever its index or the array's length, so results do not
// depend on how an array is cut.

#include <cstddef>

namespace quant::cpu {

// out[i] = exp(in[i] - shift) for i < n (out may be in); returns their sum, added in double.
double exp_shifted(const float* in, float shift, float* out, size_t n);

// out[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i]; out may be gate or up.
void silu_mul(const float* gate, const float* up, float* out, size_t n);

}  // namespace quant::cpu
