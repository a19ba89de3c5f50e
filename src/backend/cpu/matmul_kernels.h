#pragma once
// The per-instruction-set kernel tables behind matmul_kernel() (matmul.h). Each returns nullptr for
// a weight type it has no kernel for. The AVX2 table exists when the build targets AVX2 + FMA +
// F16C; the AVX-512 one when the build compiles matmul_avx512.cpp (x86-64, QUANT_HAVE_AVX512).

#include "backend/cpu/matmul.h"

namespace quant::cpu {

MatmulRowsFn scalar_matmul_kernel(TensorType weight_type);
MatmulRowsFn avx2_matmul_kernel(TensorType weight_type);
MatmulRowsFn avx512_matmul_kernel(TensorType weight_type);

}  // namespace quant::cpu
