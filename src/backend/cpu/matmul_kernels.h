#pragma once
// The per-instruction-set kernel tables behind matmul_kernel() (matmul.h). Each returns nullptr for
// a weight type it has no kernel for. The AVX2 table exists when the build targets AVX2 + FMA +
// F16C; the AVX-512 one when the build compiles matmul_avx512.cpp (x86-64, QUANT_HAVE_AVX512); the
// AMX one when it compiles matmul_amx.cpp (QUANT_HAVE_AMX).

#include "backend/cpu/matmul.h"

namespace quant::cpu {

MatmulRowsFn scalar_matmul_kernel(TensorType weight_type);
MatmulRowsFn avx2_matmul_kernel(TensorType weight_type);
MatmulRowsFn avx512_matmul_kernel(TensorType weight_type);
MatmulRowsFn amx_matmul_kernel(TensorType weight_type);
// The AMX kernels' partners for batches without tiles (matmul_amx_rows.cpp): AVX-512 VNNI kernels
// that give the same bits as the tile products (see matmul_amx.cpp).
MatmulRowsFn amx_rows_matmul_kernel(TensorType weight_type);

}  // namespace quant::cpu
