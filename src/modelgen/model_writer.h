#pragma once
// `quant make-model`: writes a synthetic model of a preset's exact shapes, metadata and vocabulary
// size, with random weights, directly in the target type. Rows are generated and quantized chunk by
// chunk by several threads and written tensor by tensor, so memory stays bounded by the largest
// tensor; the bytes depend only on the arguments (not on the thread count or the machine).

#include <cstdint>
#include <string>

#include "common/progress.h"
#include "modelgen/model_preset.h"
#include "quantize/file_type.h"

namespace quant::modelgen {

struct MakeModelOptions {
  std::string preset;
  FileType file_type = FileType::F16;
  uint64_t seed = 1234;
  int threads = 0;  // 0: one per hardware thread
  ProgressMode progress = ProgressMode::Auto;
};

struct MakeModelSummary {
  uint64_t n_tensors = 0;
  uint64_t n_parameters = 0;
  uint64_t file_bytes = 0;
  double seconds = 0;
};

// Throws quant::Error for an unknown preset or a write error.
MakeModelSummary write_synthetic_model(const std::string& out_path,
                                       const MakeModelOptions& options);

}  // namespace quant::modelgen
