#include "backend/vulkan/weight_layout.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "formats/blocks.h"

namespace quant::vulkan {

namespace {

uint64_t round_up_16(uint64_t bytes) {
  return (bytes + 15) / 16 * 16;
}

uint64_t gguf_row_bytes(TensorType type, uint64_t cols) {
  std::optional<uint64_t> bytes = row_bytes(type, cols);
  if (!bytes) fail("a row of {} {} elements is not whole blocks", cols, type_traits(type).name);
  return *bytes;
}

// Where half `half` of a Q8_0 row of `halves` lies among its 16-byte quant vectors
// (weight_layout.h; shaders/dequant.glsl, q8_0_vector_slot).
uint64_t q8_0_half_slot(uint64_t half, uint64_t halves) {
  const uint64_t groups = halves / 4;
  return half < 4 * groups ? (half % 4) * groups + half / 4 : half;
}

// One row of Q8_0 blocks into [qs halves, transposed...][d...].
void repack_q8_0_row(const uint8_t* row, uint64_t blocks, uint8_t* out) {
  constexpr uint64_t kHalfBytes = sizeof(Q8_0Block::qs) / 2;
  uint8_t* qs = out;
  uint8_t* d = out + blocks * sizeof(Q8_0Block::qs);
  for (uint64_t b = 0; b < blocks; ++b) {
    Q8_0Block block;
    std::memcpy(&block, row + b * sizeof(Q8_0Block), sizeof(block));
    for (uint64_t h = 0; h < 2; ++h)
      std::memcpy(qs + kHalfBytes * q8_0_half_slot(2 * b + h, 2 * blocks),
                  block.qs + kHalfBytes * h, kHalfBytes);
    std::memcpy(d + b * sizeof(block.d), &block.d, sizeof(block.d));
  }
}

// Eight bytes at p as one word, and back (byte-wise operations below work on either byte order).
uint64_t load_word(const uint8_t* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  return word;
}
void store_word(uint8_t* p, uint64_t word) {
  std::memcpy(p, &word, sizeof(word));
}

// The 192 bytes of a Q6_K block's quants in the device's chunks of 64 elements (weight_layout.h),
// eight bytes at a time from GGUF's: in half n of 128 elements, element 32 * quarter + l takes a
// nibble of ql[64n + l + 32 * (quarter % 2)] (the high one from quarter 2) and bits 2 * quarter of
// qh[32n + l]. Chunk j is quarters 2 * (j % 2) and + 1 of half j / 2.
void write_q6_k_chunks(const Q6KBlock& block, uint8_t* out) {
  constexpr uint64_t kNibbles = 0x0f0f0f0f0f0f0f0full, kPairs = 0x0303030303030303ull;
  constexpr int kChunkBytes = 48;
  for (int j = 0; j < 4; ++j) {
    const uint8_t* ql = block.ql + 64 * (j / 2);
    const uint8_t* qh = block.qh + 32 * (j / 2);
    const int nibble = 4 * (j % 2);  // of ql, and the shift of the quarters' bits in qh
    uint8_t* chunk = out + kChunkBytes * j;
    // Byte l: elements l (low nibble) and 32 + l (high nibble) of the chunk.
    for (int l = 0; l < 32; l += 8)
      store_word(chunk + l, ((load_word(ql + l) >> nibble) & kNibbles) |
                                (((load_word(ql + 32 + l) >> nibble) & kNibbles) << 4));
    // Byte 32 + l: the high bits of elements l + 16k at 2k, from position l + 16 * (k % 2) of
    // quarter 2 * (j % 2) + k / 2.
    for (int l = 0; l < 16; l += 8) {
      const uint64_t first = load_word(qh + l), second = load_word(qh + 16 + l);
      store_word(chunk + 32 + l, ((first >> nibble) & kPairs) |
                                     (((second >> nibble) & kPairs) << 2) |
                                     (((first >> (nibble + 2)) & kPairs) << 4) |
                                     (((second >> (nibble + 2)) & kPairs) << 6));
    }
  }
}

// One row of Q6_K blocks into [quants ...][scales ...][d ...].
void repack_q6_k_row(const uint8_t* row, uint64_t blocks, uint8_t* out) {
  constexpr uint64_t kQuantBytes = sizeof(Q6KBlock::ql) + sizeof(Q6KBlock::qh);
  uint8_t* quants = out;
  uint8_t* scales = out + blocks * kQuantBytes;
  uint8_t* d = scales + blocks * sizeof(Q6KBlock::scales);
  for (uint64_t b = 0; b < blocks; ++b) {
    Q6KBlock block;
    std::memcpy(&block, row + b * sizeof(Q6KBlock), sizeof(block));
    write_q6_k_chunks(block, quants + b * kQuantBytes);
    std::memcpy(scales + b * sizeof(block.scales), block.scales, sizeof(block.scales));
    std::memcpy(d + b * sizeof(block.d), &block.d, sizeof(block.d));
  }
}

}  // namespace

uint64_t device_row_bytes(TensorType type, uint64_t cols) {
  return round_up_16(gguf_row_bytes(type, cols));
}

void to_device_layout(TensorType type, uint64_t cols, uint64_t rows,
                      std::span<const uint8_t> gguf_rows, std::span<uint8_t> out) {
  const uint64_t source_row = gguf_row_bytes(type, cols);
  const uint64_t device_row = device_row_bytes(type, cols);
  if (gguf_rows.size() != rows * source_row || out.size() != rows * device_row)
    fail("device layout of {} rows of {} {} elements: {} bytes in, {} out (expected {}, {})", rows,
         cols, type_traits(type).name, gguf_rows.size(), out.size(), rows * source_row,
         rows * device_row);
  const uint64_t blocks = cols / static_cast<uint64_t>(type_traits(type).block_elements);
  for (uint64_t r = 0; r < rows; ++r) {
    const uint8_t* row = gguf_rows.data() + r * source_row;
    uint8_t* destination = out.data() + r * device_row;
    std::fill(destination + source_row, destination + device_row, uint8_t{0});
    if (type == TensorType::Q8_0)
      repack_q8_0_row(row, blocks, destination);
    else if (type == TensorType::Q6_K)
      repack_q6_k_row(row, blocks, destination);
    else
      std::memcpy(destination, row, source_row);
  }
}

}  // namespace quant::vulkan
