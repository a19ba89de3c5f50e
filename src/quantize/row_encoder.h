#pragma once
// Encodes one tensor into a storage type from float rows, in parallel: rows are split into chunks
// of about 64K elements; each thread asks `source` for a chunk of float rows and quantizes it into
// its place in the output. Each row is encoded on its own, so the bytes never depend on the thread
// count.

#include <cstdint>
#include <functional>
#include <span>

#include "common/progress.h"
#include "formats/tensor_type.h"

namespace quant {

// Fills `out` (n_rows * row_length floats) with rows first_row .. first_row + n_rows - 1. Called
// from several threads at once, for disjoint rows.
using RowSource = std::function<void(uint64_t first_row, uint64_t n_rows, std::span<float> out)>;

struct RowEncodeJob {
  TensorType target;
  uint64_t row_length = 0;
  uint64_t n_rows = 0;
};

// Writes the job's rows, encoded as `job.target`, to `out` (exactly the encoded size). Uses up to
// `n_threads` threads; reports finished elements to `progress` when it is not null. Throws
// quant::Error when the target type has no quantizer or the row length does not fit its block, and
// rethrows the first exception a `source` call threw.
void encode_rows(const RowEncodeJob& job, const RowSource& source, std::span<uint8_t> out,
                 int n_threads, ProgressBar* progress);

}  // namespace quant
