#pragma once
// How weight matrices lie in device memory. Most types keep their GGUF blocks; types whose blocks
// are not a multiple of 16 bytes (Q8_0: 34, Q6_K: 210) are repacked row by row so that the mat-vec
// kernels read their quants with aligned 16-byte loads:
//   Q8_0 row: [qs of every block, as 16-byte halves of blocks transposed in groups of four]
//             [d of every block, 2 bytes each]
//             (the halves of a row are numbered in order; those in whole groups of four lie half 0
//             of every group, then half 1 of every group, and so on; the last ones, fewer than
//             four, follow in order: one 16-byte load per lane is then contiguous across lanes
//             that take neighbouring groups; shaders/dequant.glsl, q8_0_vector_slot)
//   Q6_K row: [the quants of every block, 192 bytes each] [scales of every block, 16 bytes each]
//             [d of every block, 2 bytes each]
//             (a block's quants in four chunks of 64 elements, 48 bytes each: element i of chunk j
//             keeps its low 4 bits in byte i % 32 of the chunk, in the high nibble when i >= 32,
//             and its high 2 bits in byte 32 + i % 16, at bit 2 * (i / 16); GGUF interleaves the
//             quarters of each half block instead. So a chunk is 64 consecutive elements, the
//             Q4_K chunk's span, read with three 16-byte loads)
// Every device row is padded to a multiple of 16 bytes (the padding is zero and never read as a
// weight). shaders/dequant.glsl and shaders/matvec_chunks.glsl read these layouts.

#include <cstdint>
#include <span>

#include "formats/tensor_type.h"

namespace quant::vulkan {

// Bytes from one row to the next on the device, for rows of `cols` elements (a valid row length
// for the type).
uint64_t device_row_bytes(TensorType type, uint64_t cols);

// Writes `rows` rows (GGUF layout, row_bytes(type, cols) each, back to back) into `out` in the
// device layout; `out` holds rows * device_row_bytes(type, cols) bytes.
void to_device_layout(TensorType type, uint64_t cols, uint64_t rows,
                      std::span<const uint8_t> gguf_rows, std::span<uint8_t> out);

}  // namespace quant::vulkan
