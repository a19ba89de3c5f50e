#pragma once
// `quant quantize`: rewrites a GGUF model with its tensors in the types a whole-file type asks for
// (type_choice.h), from any source type we can dequantize. It streams: one tensor at a time is
// dequantized row chunk by row chunk and re-encoded by several threads, so memory stays bounded by
// the largest tensor. All metadata is copied; `general.file_type` and
// `general.quantization_version` are set. Tensors are written in llama-quantize's order, so for the
// same rules the output matches its files.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/progress.h"
#include "quantize/file_type.h"

namespace quant {

struct QuantizeOptions {
  FileType file_type = FileType::Q4_K_M;
  int threads = 0;  // 0: one per hardware thread
  ProgressMode progress = ProgressMode::Auto;
};

struct QuantizeSummary {
  uint64_t n_tensors = 0;
  uint64_t n_elements = 0;
  uint64_t bytes_in = 0;                                          // tensor data, before
  uint64_t bytes_out = 0;                                         // tensor data, after
  std::vector<std::pair<TensorType, uint64_t>> tensors_per_type;  // output types, by type id
  double seconds = 0;
};

// The number of threads `threads` stands for (0: hardware threads, at least 1).
int resolve_thread_count(int threads);

// Reads `in_path`, writes `out_path` (through a temporary file renamed at the end). Throws
// quant::Error on bad input, on an output path that is the input, and on write errors.
QuantizeSummary quantize_file(const std::string& in_path, const std::string& out_path,
                              const QuantizeOptions& options);

}  // namespace quant
