#pragma once
// The fast weight-times-activation products of the CPU backend, the way llama.cpp's CPU backend
// computes them: each token's activation vector is quantized once per MatVec input to int8 blocks
// (quantize_activations.h), and every quantized weight row is multiplied with it by integer dot
// products per block, the block scales applied in float. Float weights (F32, F16, BF16) are
// multiplied with the F32 activations as they are.
//
// One call computes rows [row_begin, row_end) of out_t = W · in_t for n_tokens tokens at once:
// each weight block is decoded once and used for several tokens (a mat-mat product), which is
// what makes prompt processing fast. The result for a (row, token) pair does not depend on how
// rows and tokens are grouped, so any split over threads and batches gives the same bits.
//
// Kernels exist per instruction set: a scalar reference (the definition, for tests and builds
// without SIMD), AVX2 + FMA + F16C (the x86-64-v3 build baseline), AVX-512 with VNNI, and AMX
// (int8 tiles, for the K-quants), chosen at run time. There are no NEON kernels yet: ARM builds use
// the scalar ones.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "formats/tensor_type.h"

namespace quant::cpu {

// What a weight type's rows are multiplied with.
enum class ActivationFormat : uint8_t {
  F32,  // the activations as they are (F32, F16 and BF16 weights)
  // Blocks of 32 int8 levels with a scale d (rounded to F16, as ggml's Q8_0/Q8_1 store it) and
  // s = d * sum(levels): the partner of Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (ggml's Q8_1).
  Q8_1,
  // Blocks of 256 int8 levels with a float scale and the sums of each 16 levels: the partner of
  // the K-quants (ggml's Q8_K).
  Q8_K,
};

// The format the fast path multiplies `weight_type` with, or nullopt when it has no kernel for
// that type (the backend then uses its exact path for that weight).
std::optional<ActivationFormat> activation_format(TensorType weight_type);

// Where the parts of one token's quantized activation row lie, in bytes from the row's start:
// the cols int8 levels at 0, a float scale per block at scales_offset, the block sums at
// sums_offset (Q8_1: a float s per block; Q8_K: 16 int16 per block). Q8_K rows hold the same
// numbers again for the AVX-512 kernels, which take blocks two at a time (pair p: blocks 2p and
// 2p + 1; a last block without a partner is paired with zeros):
// - the levels at pair_levels_offset, 512 bytes a pair, in the order of registers that hold 4
//   levels of every 32-level group of both blocks: byte 64k + 32h + 4j + e of pair p is level
//   32j + 4k + e of block 2p + h (k = 0..7, h = 0..1, j = 0..7, e = 0..3);
// - the scales at pair_scales_offset, 16 floats a pair: float 8h + j is the scale d of block
//   2p + h;
// - the sums times d at pair_sums_offset, 48 floats a pair: float 8h + j is d times the sum of
//   group j of block 2p + h, floats 16 + 8h + j and 32 + 8h + j d times its 16-sums 2j and 2j + 1.
// Every part starts on a 64-byte boundary; rows of a batch are row_bytes apart. For F32 all
// offsets are 0 and row_bytes is cols floats.
struct ActivationLayout {
  ActivationFormat format = ActivationFormat::F32;
  uint64_t cols = 0;
  size_t scales_offset = 0;
  size_t sums_offset = 0;
  size_t pair_levels_offset = 0;
  size_t pair_scales_offset = 0;
  size_t pair_sums_offset = 0;
  size_t row_bytes = 0;
};

// The layout of a row of `cols` values (a multiple of the format's block size).
ActivationLayout activation_layout(ActivationFormat format, uint64_t cols);

// One product: out[t * out_stride + r] = W row r · activation row t.
struct MatmulArgs {
  const uint8_t* weights = nullptr;  // row 0 of the weight, rows weight_row_bytes apart
  size_t weight_row_bytes = 0;
  uint64_t cols = 0;
  const uint8_t* activations = nullptr;  // token 0's row: F32 values or quantized as `layout` says
  size_t activation_stride = 0;          // bytes from one token's row to the next
  ActivationLayout layout;
  uint32_t n_tokens = 0;
  float* out = nullptr;
  size_t out_stride = 0;  // floats from one token's output row to the next
  // The same activations in the AMX kernels' tiles (tile_activations), where
  // uses_activation_tiles says the kernel wants them; else null.
  const uint8_t* activation_tiles = nullptr;
};

// Computes rows [row_begin, row_end) of the product for all of args.n_tokens tokens.
using MatmulRowsFn = void (*)(const MatmulArgs& args, uint64_t row_begin, uint64_t row_end);

enum class Isa : uint8_t {
  Scalar,      // the reference kernels
  Avx2,        // AVX2 + FMA + F16C
  Avx512Vnni,  // AVX-512 F/BW/VL + VNNI (AVX2 kernels where it has none of its own)
  // AVX-512 F/BW/VL/VBMI + VNNI + AMX int8 tiles, where Linux lets this process use them
  // (AVX-512 kernels where it has none of its own).
  Amx,
};

std::string_view isa_name(Isa isa);
// Whether this build has kernels for `isa` and this machine can run them.
bool isa_available(Isa isa);
// The best available instruction set.
Isa best_isa();

// The kernel for `weight_type` on `isa` (which must be available), or nullptr when
// activation_format(weight_type) is nullopt.
MatmulRowsFn matmul_kernel(Isa isa, TensorType weight_type);

// The AMX kernels (matmul_amx.cpp) multiply a batch of Q8_K activations in tiles of 16 tokens: per
// tile and block of 256, four steps of 64 levels of 1024 bytes each, byte 64k + 4n + e of step s
// being level 64s + 4k + e of token n (the order an AMX B tile wants), then the 16 tokens' block
// scales d as floats (64 bytes), then the sums of the block's eight groups of 32 levels as int16,
// in pairs per token: int16 32i + 2n + h is the sum of group 2i + h of token n (256 bytes).
// Tokens past the batch's end are zeros. With a batch of fewer than kMinTiledTokens tokens they
// multiply the rows as they are (decoding a tile of weight rows would cost more than the tile
// products save); the results are the same bits either way.
constexpr uint32_t kTileTokens = 16;
constexpr size_t kTileBlockBytes = 4 * 1024 + kTileTokens * sizeof(float) + 256;  // a tile's block
constexpr uint32_t kMinTiledTokens = 8;
// Whether the kernels of `isa` for weights multiplied with `format` want activation_tiles for a
// batch of n_tokens.
bool uses_activation_tiles(Isa isa, ActivationFormat format, uint32_t n_tokens);
// Bytes of the tiles of n_tokens tokens of `cols` (a multiple of 256) values.
size_t activation_tile_bytes(uint64_t cols, uint32_t n_tokens);
// Writes tokens [first_token, end_token) of the n_tokens quantized Q8_K rows at `rows` (`stride`
// bytes apart, laid out as `layout`) into their places in `tiles` (activation_tile_bytes of the
// batch); the call that ends at n_tokens also writes the zeros of the last tile's padding.
void tile_activations(const uint8_t* rows, size_t stride, const ActivationLayout& layout,
                      uint32_t n_tokens, uint32_t first_token, uint32_t end_token, uint8_t* tiles);

}  // namespace quant::cpu
