#include "backend/vulkan/binding_split.h"

#include <algorithm>

#include "backend/vulkan/weight_layout.h"
#include "common/error.h"

namespace quant::vulkan {

uint64_t checked_device_row_bytes(const WeightMatrix& weights, const char* op) {
  if (!weight_type_supported(weights.type))
    fail("Vulkan {}: no kernel reads {} weights", op, type_traits(weights.type).name);
  if (!row_bytes(weights.type, weights.cols) || weights.cols == 0 || weights.rows == 0)
    fail("Vulkan {}: {} rows of {} {} elements is not a valid matrix", op, weights.rows,
         weights.cols, type_traits(weights.type).name);
  const uint64_t bytes = device_row_bytes(weights.type, weights.cols);
  const uint64_t total = bytes * weights.rows;
  if (weights.buffer == nullptr || weights.offset % 16 != 0 ||
      weights.offset > weights.buffer->size() || total > weights.buffer->size() - weights.offset)
    fail("Vulkan {}: the matrix ({} bytes at {}) does not fit its buffer", op, total,
         weights.offset);
  return bytes;
}

std::vector<RowRun> split_into_bindings(const Pipelines& pipelines, const WeightMatrix& weights,
                                        uint64_t row_bytes, const char* op) {
  const uint64_t alignment = pipelines.context().info().min_storage_buffer_offset_alignment;
  const uint64_t limit = pipelines.max_binding_bytes() / 4 * 4;
  // A run starts up to alignment - 1 bytes into its binding and the range is rounded up to words.
  if (limit < alignment + 4 || (limit - alignment - 3) < row_bytes)
    fail("Vulkan {}: a row of {} bytes does not fit one binding ({} bytes)", op, row_bytes, limit);
  const uint64_t rows_per_run = (limit - alignment - 3) / row_bytes;
  std::vector<RowRun> runs;
  for (uint64_t first = 0; first < weights.rows; first += rows_per_run) {
    const uint64_t rows = std::min(rows_per_run, weights.rows - first);
    const uint64_t start = weights.offset + first * row_bytes;
    const uint64_t binding_offset = start / alignment * alignment;
    const uint64_t offset_in_binding = start - binding_offset;
    // Stays inside the buffer: its size is a multiple of 16 and the matrix was checked to fit.
    const uint64_t size = (offset_in_binding + rows * row_bytes + 3) / 4 * 4;
    runs.push_back({first,
                    rows,
                    {weights.buffer, binding_offset, size},
                    static_cast<uint32_t>(offset_in_binding)});
  }
  return runs;
}

}  // namespace quant::vulkan
