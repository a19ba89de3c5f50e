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

// One row of Q8_0 blocks into [qs...][d...].
void repack_q8_0_row(const uint8_t* row, uint64_t blocks, uint8_t* out) {
  uint8_t* qs = out;
  uint8_t* d = out + blocks * sizeof(Q8_0Block::qs);
  for (uint64_t b = 0; b < blocks; ++b) {
    Q8_0Block block;
    std::memcpy(&block, row + b * sizeof(Q8_0Block), sizeof(block));
    std::memcpy(qs + b * sizeof(block.qs), block.qs, sizeof(block.qs));
    std::memcpy(d + b * sizeof(block.d), &block.d, sizeof(block.d));
  }
}

// One row of Q6_K blocks into [ql qh ...][scales ...][d ...].
void repack_q6_k_row(const uint8_t* row, uint64_t blocks, uint8_t* out) {
  constexpr uint64_t kQuantBytes = sizeof(Q6KBlock::ql) + sizeof(Q6KBlock::qh);
  uint8_t* quants = out;
  uint8_t* scales = out + blocks * kQuantBytes;
  uint8_t* d = scales + blocks * sizeof(Q6KBlock::scales);
  for (uint64_t b = 0; b < blocks; ++b) {
    Q6KBlock block;
    std::memcpy(&block, row + b * sizeof(Q6KBlock), sizeof(block));
    std::memcpy(quants + b * kQuantBytes, block.ql, sizeof(block.ql));
    std::memcpy(quants + b * kQuantBytes + sizeof(block.ql), block.qh, sizeof(block.qh));
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
