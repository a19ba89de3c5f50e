#include "backend/vulkan/weight_layout.h"

#include <algorithm>
#include <array>
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

// The 6-bit quants (0..63) of a Q6_K block, element by element: in half n of 128 elements, element
// 32 * quarter + l takes a nibble of ql[64n + l + 32 * (quarter % 2)] (the high one from quarter 2)
// and bits 2 * quarter of qh[32n + l].
std::array<uint8_t, kSuperBlockElements> q6_k_quants(const Q6KBlock& block) {
  std::array<uint8_t, kSuperBlockElements> quants{};
  for (int e = 0; e < kSuperBlockElements; ++e) {
    const int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
    const int low = (block.ql[64 * half + l + 32 * (quarter % 2)] >> (4 * (quarter / 2))) & 0xf;
    const int high = (block.qh[32 * half + l] >> (2 * quarter)) & 3;
    quants[e] = static_cast<uint8_t>(low | (high << 4));
  }
  return quants;
}

// The 192 bytes of a Q6_K block's quants in the device's chunks (weight_layout.h).
void write_q6_k_chunks(const std::array<uint8_t, kSuperBlockElements>& quants, uint8_t* out) {
  constexpr int kChunk = 64, kChunkBytes = 48;
  std::memset(out, 0, 4 * kChunkBytes);
  for (int e = 0; e < kSuperBlockElements; ++e) {
    uint8_t* chunk = out + kChunkBytes * (e / kChunk);
    const int i = e % kChunk;
    chunk[i % 32] |= static_cast<uint8_t>((quants[e] & 0xf) << (4 * (i / 32)));
    chunk[32 + i % 16] |= static_cast<uint8_t>((quants[e] >> 4) << (2 * (i / 16)));
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
    write_q6_k_chunks(q6_k_quants(block), quants + b * kQuantBytes);
    std::memcpy(scales + b * sizeof(block.scales), block.scales, sizeof(block.scales));
    std::memcpy(d + b * sizeof(block.d), &block.d, sizeof(block.d));
  }
}

}  // namespace

uint64_t device_row_bytes(TensorType type, uint64_t cols) {
  return round_up_16(gguf_row_bytes(type, cols));
}

bool is_repacked(TensorType type) {
  return type == TensorType::Q8_0 || type == TensorType::Q6_K;
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
