#pragma once
// Facts of the GGUF encoding shared by the reader and the writer (internal to src/gguf).

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "common/checked_math.h"
#include "gguf/gguf_file.h"

namespace quant::gguf {

inline constexpr std::array<uint8_t, 4> kMagic = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kWrittenVersion = 3;
inline constexpr std::string_view kAlignmentKey = "general.alignment";
inline constexpr uint32_t kMaxDims = 4;
// Element counts stay representable as int64_t, which kernels and ggml use.
inline constexpr uint64_t kMaxElements = std::numeric_limits<int64_t>::max();
// ggml keeps tensor names in a 64-byte buffer with a terminating zero.
inline constexpr size_t kMaxTensorNameBytes = 63;

// The smallest encodings, which bound counts read from a header by the bytes left in the file.
inline constexpr uint64_t kMinStringBytes = 8;         // length of an empty string
inline constexpr uint64_t kMinEntryBytes = 8 + 4 + 1;  // empty key, type, 1-byte value
inline constexpr uint64_t kMinTensorInfoBytes =
    8 + 4 + 8 + 4 + 8;  // name, n_dims, 1 dim, type, offset

// Bytes of one numeric or bool value; 0 for String and Array, whose size is not fixed.
inline constexpr uint64_t value_size(ValueType type) {
  switch (type) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::Bool:
      return 1;
    case ValueType::UInt16:
    case ValueType::Int16:
      return 2;
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::Float32:
      return 4;
    case ValueType::UInt64:
    case ValueType::Int64:
    case ValueType::Float64:
      return 8;
    case ValueType::String:
    case ValueType::Array:
      return 0;
  }
  return 0;
}

// `offset` rounded up to a multiple of `alignment` (a power of two); nullopt on overflow.
inline std::optional<uint64_t> align_up(uint64_t offset, uint64_t alignment) {
  auto bumped = checked_add(offset, alignment - 1);
  if (!bumped) return std::nullopt;
  return *bumped & ~(alignment - 1);
}

}  // namespace quant::gguf
