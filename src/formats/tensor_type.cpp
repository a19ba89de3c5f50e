// The tensor-type table. Block geometry comes from the block structs (formats/blocks.h), the row
// functions from the per-family files (float_types.cpp, quants_legacy.cpp, quants_k.cpp).

#include "formats/tensor_type.h"

#include <array>
#include <cassert>

#include "common/checked_math.h"
#include "common/error.h"
#include "formats/blocks.h"
#include "formats/quants.h"

namespace quant {
namespace {

template <typename Block>
constexpr TypeTraits quantized(TensorType type, std::string_view name, int64_t block_elements,
                               DequantizeRowFn dequantize, QuantizeRowFn quantize) {
  return {type, name, block_elements, sizeof(Block), true, dequantize, quantize};
}

constexpr TypeTraits plain(TensorType type, std::string_view name, size_t bytes,
                           DequantizeRowFn dequantize, QuantizeRowFn quantize) {
  return {type, name, 1, bytes, false, dequantize, quantize};
}

constexpr int64_t kLegacy = kLegacyBlockElements;
constexpr int64_t kSuper = kSuperBlockElements;

constexpr std::array kTypes = {
    plain(TensorType::F32, "F32", 4, dequantize_row_f32, quantize_row_f32),
    plain(TensorType::F16, "F16", 2, dequantize_row_f16, quantize_row_f16),
    plain(TensorType::BF16, "BF16", 2, dequantize_row_bf16, quantize_row_bf16),
    quantized<Q4_0Block>(TensorType::Q4_0, "Q4_0", kLegacy, dequantize_row_q4_0, quantize_row_q4_0),
    quantized<Q4_1Block>(TensorType::Q4_1, "Q4_1", kLegacy, dequantize_row_q4_1, quantize_row_q4_1),
    quantized<Q5_0Block>(TensorType::Q5_0, "Q5_0", kLegacy, dequantize_row_q5_0, quantize_row_q5_0),
    quantized<Q5_1Block>(TensorType::Q5_1, "Q5_1", kLegacy, dequantize_row_q5_1, quantize_row_q5_1),
    quantized<Q8_0Block>(TensorType::Q8_0, "Q8_0", kLegacy, dequantize_row_q8_0, quantize_row_q8_0),
    quantized<Q8_1Block>(TensorType::Q8_1, "Q8_1", kLegacy, dequantize_row_q8_1, quantize_row_q8_1),
    quantized<Q4KBlock>(TensorType::Q4_K, "Q4_K", kSuper, dequantize_row_q4_k, quantize_row_q4_k),
    quantized<Q5KBlock>(TensorType::Q5_K, "Q5_K", kSuper, dequantize_row_q5_k, quantize_row_q5_k),
    quantized<Q6KBlock>(TensorType::Q6_K, "Q6_K", kSuper, dequantize_row_q6_k, quantize_row_q6_k),
    quantized<Q8KBlock>(TensorType::Q8_K, "Q8_K", kSuper, dequantize_row_q8_k, quantize_row_q8_k),
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Traits of a type that must convert rows of row_length; throws quant::Error when it cannot.
const TypeTraits& traits_for_rows(TensorType type, int64_t row_length, const char* action) {
  const TypeTraits* traits = find_type_traits(static_cast<uint32_t>(type));
  if (traits == nullptr)
    fail("cannot {} tensor type id {}: unsupported", action, static_cast<uint32_t>(type));
  if (row_length <= 0 || row_length % traits->block_elements != 0) {
    fail("cannot {} {} rows of {} elements: not a positive multiple of the block size {}", action,
         traits->name, row_length, traits->block_elements);
  }
  return *traits;
}

}  // namespace

const TypeTraits* find_type_traits(uint32_t id) {
  for (const TypeTraits& traits : kTypes) {
    if (static_cast<uint32_t>(traits.type) == id) return &traits;
  }
  return nullptr;
}

const TypeTraits& type_traits(TensorType type) {
  const TypeTraits* traits = find_type_traits(static_cast<uint32_t>(type));
  assert(traits != nullptr && "type_traits: unsupported tensor type");
  return *traits;
}

std::optional<TensorType> parse_tensor_type(std::string_view name) {
  for (const TypeTraits& traits : kTypes) {
    if (equal_ignoring_case(traits.name, name)) return traits.type;
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(TensorType type, uint64_t n) {
  const TypeTraits* traits = find_type_traits(static_cast<uint32_t>(type));
  if (traits == nullptr) return std::nullopt;
  const auto block_elements = static_cast<uint64_t>(traits->block_elements);
  if (n % block_elements != 0) return std::nullopt;
  return checked_mul(n / block_elements, traits->block_bytes);
}

void quantize_rows(TensorType type, const float* in, void* out, int64_t rows, int64_t row_length) {
  const TypeTraits& traits = traits_for_rows(type, row_length, "quantize");
  if (traits.quantize_row == nullptr) fail("cannot quantize to {}: no quantizer", traits.name);
  const size_t stride =
      static_cast<size_t>(row_length / traits.block_elements) * traits.block_bytes;
  auto* bytes = static_cast<uint8_t*>(out);
  for (int64_t r = 0; r < rows; ++r) {
    traits.quantize_row(in + r * row_length, bytes + static_cast<size_t>(r) * stride, row_length);
  }
}

void dequantize_rows(TensorType type, const void* in, float* out, int64_t rows,
                     int64_t row_length) {
  const TypeTraits& traits = traits_for_rows(type, row_length, "dequantize");
  const size_t stride =
      static_cast<size_t>(row_length / traits.block_elements) * traits.block_bytes;
  const auto* bytes = static_cast<const uint8_t*>(in);
  for (int64_t r = 0; r < rows; ++r) {
    traits.dequantize_row(bytes + static_cast<size_t>(r) * stride, out + r * row_length,
                          row_length);
  }
}

}  // namespace quant
