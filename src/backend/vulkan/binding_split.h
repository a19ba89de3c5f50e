#pragma once
// Splitting a weight matrix by rows so that each run of rows fits one storage-buffer binding
// (lavapipe: 128 MiB): how the mat-vec, embedding and batch kernels bind big weights.

#include <cstdint>
#include <vector>

#include "backend/vulkan/kernels.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"

namespace quant::vulkan {

// A run of whole rows that one binding covers: binding.offset is aligned for the device, and the
// first row starts `offset_in_binding` bytes into it.
struct RowRun {
  uint64_t first_row = 0;
  uint64_t rows = 0;
  BufferRange binding;
  uint32_t offset_in_binding = 0;
};

// The matrix's device row stride, after checking that its type has a kernel, that it is a valid
// matrix and that it fits its buffer (quant::Error naming `op` otherwise).
uint64_t checked_device_row_bytes(const WeightMatrix& weights, const char* op);

// The rows of `weights` (device rows of `row_bytes` bytes) as runs that each fit one binding
// (usually one run). Throws quant::Error naming `op` when a single row does not fit.
std::vector<RowRun> split_into_bindings(const Pipelines& pipelines, const WeightMatrix& weights,
                                        uint64_t row_bytes, const char* op);

}  // namespace quant::vulkan
