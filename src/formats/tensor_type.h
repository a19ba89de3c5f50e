#pragma once
// The one table of tensor storage types. Ids are ggml's (they are what GGUF files store); a retired
// id keeps its slot and is never reused. Block layouts live in formats/blocks.h.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace quant {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  // 4 and 5 were Q4_2 and Q4_3 (retired).
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

// Dequantizes n elements (a multiple of the block size) from `blocks` into `out`.
using DequantizeRowFn = void (*)(const void* blocks, float* out, int64_t n);
// Quantizes n elements (a multiple of the block size) from `in` into `blocks`, the way the
// reference implementation's reference quantizers do (no importance matrix).
using QuantizeRowFn = void (*)(const float* in, void* blocks, int64_t n);

struct TypeTraits {
  TensorType type;
  std::string_view name;   // as GGUF tools print it: "Q4_K", "F16"
  int64_t block_elements;  // elements per block (1 for F32/F16/BF16)
  size_t block_bytes;      // bytes per block
  bool quantized;
  DequantizeRowFn dequantize_row;  // never null for a supported type
  QuantizeRowFn quantize_row;      // null where we have no quantizer
};

// Traits of a supported type; nullptr for ids that are unknown or that we do not support.
const TypeTraits* find_type_traits(uint32_t id);
// Traits of a supported type (asserts that it is supported).
const TypeTraits& type_traits(TensorType type);
// Parses a type name ("Q4_K", "q8_0", "F16"), case-insensitively.
std::optional<TensorType> parse_tensor_type(std::string_view name);

// Bytes that n elements take (n must be a multiple of the block size); nullopt when it is not, on
// overflow, or for an unsupported type.
std::optional<uint64_t> row_bytes(TensorType type, uint64_t n);

// Quantizes `rows` rows of `row_length` floats each, laid end to end in `in`, into `out`
// (rows * row_bytes(type, row_length) bytes), with the type's reference quantizer. Thread-safe and
// allocation-free, so that threads may quantize different rows of one tensor at once. Throws
// quant::Error when the type has no quantizer or row_length is not a positive multiple of its block
// size.
void quantize_rows(TensorType type, const float* in, void* out, int64_t rows, int64_t row_length);
// The inverse: rows of blocks to floats. Throws quant::Error as quantize_rows does.
void dequantize_rows(TensorType type, const void* in, float* out, int64_t rows, int64_t row_length);

}  // namespace quant
