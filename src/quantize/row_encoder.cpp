#include "quantize/row_encoder.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "common/error.h"

namespace quant {

namespace {

// Big enough that thread hand-off costs nothing next to the work, small enough to spread a 256-row
// tensor over many threads.
constexpr uint64_t kChunkElements = 64 * 1024;

}  // namespace

void encode_rows(const RowEncodeJob& job, const RowSource& source, std::span<uint8_t> out,
                 int n_threads, ProgressBar* progress) {
  const TypeTraits& traits = type_traits(job.target);
  if (traits.quantize_row == nullptr) fail("no quantizer for tensor type {}", traits.name);
  const auto row_size = row_bytes(job.target, job.row_length);
  if (!row_size) {
    fail("row length {} is not a multiple of the {}-element blocks of {}", job.row_length,
         traits.block_elements, traits.name);
  }
  assert(out.size() == *row_size * job.n_rows);
  if (job.n_rows == 0) return;

  const uint64_t rows_per_chunk = std::max<uint64_t>(1, kChunkElements / job.row_length);
  const uint64_t n_chunks = (job.n_rows + rows_per_chunk - 1) / rows_per_chunk;
  std::atomic<uint64_t> next_chunk{0};
  std::exception_ptr first_error;
  std::mutex error_mutex;

  auto work = [&] {
    std::vector<float> rows(rows_per_chunk * job.row_length);
    for (uint64_t chunk = next_chunk++; chunk < n_chunks; chunk = next_chunk++) {
      const uint64_t first = chunk * rows_per_chunk;
      const uint64_t count = std::min(rows_per_chunk, job.n_rows - first);
      const std::span<float> values(rows.data(), count * job.row_length);
      try {
        source(first, count, values);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        next_chunk = n_chunks;  // the others stop after their current chunk
        return;
      }
      for (uint64_t r = 0; r < count; ++r) {
        traits.quantize_row(values.data() + r * job.row_length,
                            out.data() + (first + r) * *row_size,
                            static_cast<int64_t>(job.row_length));
      }
      if (progress != nullptr) progress->advance(count * job.row_length);
    }
  };

  const auto n_workers = static_cast<uint64_t>(std::max(1, n_threads));
  std::vector<std::jthread> helpers;
  for (uint64_t i = 1; i < std::min(n_workers, n_chunks); ++i) helpers.emplace_back(work);
  work();
  helpers.clear();  // joins
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace quant
