#include "backend/cpu/matmul.h"

#include <cassert>
#include <cstring>

#if defined(QUANT_HAVE_AMX)
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

#if defined(QUANT_HAVE_AMX)
// Linux hands out the AMX tile registers only to processes that ask for them (the signal frames
// they need are large): arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), granted to the whole
// process once and answered the same again after. It fails on kernels before 5.16 and where the
// CPU or the hypervisor does not expose the tiles.
bool tile_registers_granted() {
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}
#endif

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
    case Isa::Amx:
      return "amx";
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
    case Isa::Amx:
#if defined(QUANT_HAVE_AMX)
      return isa_available(Isa::Avx512Vnni) && __builtin_cpu_supports("avx512vbmi") &&
             __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-int8") &&
             tile_registers_granted();
#else
      return false;
#endif
  }
  return false;
}

Isa best_isa() {
  for (const Isa isa : {Isa::Amx, Isa::Avx512Vnni, Isa::Avx2})
    if (isa_available(isa)) return isa;
  return Isa::Scalar;
}

MatmulRowsFn matmul_kernel(Isa isa, TensorType weight_type) {
  assert(isa_available(isa));
  MatmulRowsFn kernel = nullptr;
#if defined(QUANT_HAVE_AMX)
  if (isa == Isa::Amx) kernel = amx_matmul_kernel(weight_type);
#endif
#if defined(QUANT_HAVE_AVX512)
  if (kernel == nullptr && (isa == Isa::Avx512Vnni || isa == Isa::Amx))
    kernel = avx512_matmul_kernel(weight_type);
#endif
#if defined(QUANT_HAVE_AVX2)
  if (kernel == nullptr && isa != Isa::Scalar) kernel = avx2_matmul_kernel(weight_type);
#endif
  if (kernel == nullptr) kernel = scalar_matmul_kernel(weight_type);
  return kernel;
}

bool uses_activation_tiles(Isa isa, ActivationFormat format, uint32_t n_tokens) {
  return isa == Isa::Amx && format == ActivationFormat::Q8_K && n_tokens >= kMinTiledTokens;
}

size_t activation_tile_bytes(uint64_t cols, uint32_t n_tokens) {
  const uint64_t n_tiles = (n_tokens + kTileTokens - 1) / kTileTokens;
  return n_tiles * (cols / kSuperBlockElements) * kTileBlockBytes;
}

void tile_activations(const uint8_t* rows, size_t stride, const ActivationLayout& layout,
                      uint32_t n_tokens, uint32_t first_token, uint32_t end_token, uint8_t* tiles) {
  assert(layout.format == ActivationFormat::Q8_K);
  const uint64_t n_blocks = layout.cols / kSuperBlockElements;
  // Token t lies at column t % 16 of tile t / 16; the padding of the last tile counts as a token.
  const uint32_t padded = (n_tokens + kTileTokens - 1) / kTileTokens * kTileTokens;
  const uint32_t end = end_token == n_tokens ? padded : end_token;
  for (uint32_t t = first_token; t < end; ++t) {
    uint8_t* tile = tiles + (t / kTileTokens) * n_blocks * kTileBlockBytes;
    const uint32_t n = t % kTileTokens;
    const uint8_t* row = rows + t * stride;
    for (uint64_t b = 0; b < n_blocks; ++b) {
      uint8_t* block = tile + b * kTileBlockBytes;
      int16_t sums16[16] = {};
      float scale = 0.0f;
      if (t < n_tokens) {
        const uint8_t* levels = row + b * kSuperBlockElements;
        for (uint32_t s = 0; s < 4; ++s)
          for (uint32_t k = 0; k < 16; ++k)
            std::memcpy(block + s * 1024 + 64 * k + 4 * n, levels + 64 * s + 4 * k, 4);
        std::memcpy(&scale, row + layout.scales_offset + b * sizeof(float), sizeof(float));
        std::memcpy(sums16, row + layout.sums_offset + b * sizeof(sums16), sizeof(sums16));
      } else {
        for (uint32_t s = 0; s < 4; ++s)
          for (uint32_t k = 0; k < 16; ++k) std::memset(block + s * 1024 + 64 * k + 4 * n, 0, 4);
      }
      std::memcpy(block + 4096 + n * sizeof(float), &scale, sizeof(float));
      for (uint32_t g = 0; g < 8; ++g) {
        const auto group_sum = static_cast<int16_t>(sums16[2 * g] + sums16[2 * g + 1]);
        std::memcpy(block + 4096 + 64 + (32 * (g / 2) + 2 * n + g % 2) * sizeof(int16_t),
                    &group_sum, sizeof(group_sum));
      }
    }
  }
}
}  // namespace quant::cpu
