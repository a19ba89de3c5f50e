#pragma once
// The whole-file quantization types we produce (`quant quantize --type`, `quant make-model
// --type`), with the ids llama.cpp stores in `general.file_type` (its LLAMA_FTYPE enum).

#include <cstdint>
#include <optional>
#include <string_view>

#include "formats/tensor_type.h"

namespace quant {

enum class FileType : uint32_t {
  F32 = 0,  // LLAMA_FTYPE_ALL_F32
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 7,
  Q4_K_M = 15,
};

// "Q4_K_M", "F16", ... (case-insensitive); nullopt for names we do not produce.
std::optional<FileType> parse_file_type(std::string_view name);
std::string_view file_type_name(FileType type);
// The comma-separated list of names parse_file_type accepts, for help texts and errors.
std::string_view file_type_names();
// The tensor type most weights get (Q4_K for Q4_K_M).
TensorType default_tensor_type(FileType type);
// The value of `general.file_type`.
inline uint32_t llama_ftype_id(FileType type) {
  return static_cast<uint32_t>(type);
}

}  // namespace quant
