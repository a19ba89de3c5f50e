#include "backend/cpu/matmul.h"

#include <cassert>

#include "backend/cpu/matmul_kernels.h"
#include "formats/blocks.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define QUANT_HAVE_AVX2 1
#endif

namespace quant::cpu {
namespace {

constexpr size_t kPartAlign = 64;

size_t round_up(size_t n, size_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

}  // namespace

std::optional<ActivationFormat> activation_format(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
      return ActivationFormat::F32;
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
      return ActivationFormat::Q8_1;
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return ActivationFormat::Q8_K;
    default:
      return std::nullopt;
  }
}

ActivationLayout activation_layout(ActivationFormat format, uint64_t cols) {
  ActivationLayout layout{.format = format, .cols = cols};
  if (format == ActivationFormat::F32) {
    layout.row_bytes = cols * sizeof(float);
    return layout;
  }
  const bool k_blocks = format == ActivationFormat::Q8_K;
  const uint64_t block = k_blocks ? kSuperBlockElements : kLegacyBlockElements;
  assert(cols % block == 0);
  const uint64_t n_blocks = cols / block;
  const size_t sums_bytes =
      k_blocks ? n_blocks * (kSuperBlockElements / 16) * sizeof(int16_t) : n_blocks * sizeof(float);
  layout.scales_offset = round_up(cols, kPartAlign);
  layout.sums_offset = layout.scales_offset + round_up(n_blocks * sizeof(float), kPartAlign);
  layout.row_bytes = layout.sums_offset + round_up(sums_bytes, kPartAlign);
  if (k_blocks) {
    const uint64_t n_pairs = (n_blocks + 1) / 2;
    layout.pair_levels_offset = layout.row_bytes;
    layout.pair_scales_offset = layout.pair_levels_offset + n_pairs * 2 * kSuperBlockElements;
    layout.pair_sums_offset = layout.pair_scales_offset + n_pairs * 16 * sizeof(float);
    layout.row_bytes = layout.pair_sums_offset + n_pairs * 48 * sizeof(float);
  }
  return layout;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512Vnni:
      return "avx512-vnni";
  }
  return "unknown";
}

bool isa_available(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return true;
    case Isa::Avx2:
#if defined(QUANT_HAVE_AVX2)
      return true;
#else
      return false;
#endif
    case Isa::Avx512Vnni:
#if defined(QUANT_HAVE_AVX512)
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
      return false;
#endif
  }
  return false;
}

Isa best_isa() {
  for (const Isa isa : {Isa::Avx512Vnni, Isa::Avx2})
    if (isa_available(isa)) return isa;
  return Isa::Scalar;
}

MatmulRowsFn matmul_kernel(Isa isa, TensorType weight_type) {
  assert(isa_available(isa));
  MatmulRowsFn kernel = nullptr;
#if defined(QUANT_HAVE_AVX512)
  if (isa == Isa::Avx512Vnni) kernel = avx512_matmul_kernel(weight_type);
#endif
#if defined(QUANT_HAVE_AVX2)
  if (kernel == nullptr && isa != Isa::Scalar) kernel = avx2_matmul_kernel(weight_type);
#endif
  if (kernel == nullptr) kernel = scalar_matmul_kernel(weight_type);
  return kernel;
}

}  // namespace quant::cpu
