#pragma once
// Reading GGUF files (versions 2 and 3): the whole file is mapped; metadata strings and tensor data
// are views into the mapping, which lives as long as the GgufFile. Every count, length, dimension,
// offset and size is checked against the file size with overflow-safe arithmetic before use; any
// violation throws quant::Error naming the file, the field and the byte offset.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/mapped_file.h"
#include "formats/tensor_type.h"

namespace quant::gguf {

// Value type ids as stored in GGUF.
enum class ValueType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

std::string_view value_type_name(ValueType type);
// Whether `type` is one of the eight integer types (u8 ... i64).
bool is_integer_type(ValueType type);

// An array value. Numeric elements are kept as raw little-endian bytes in the mapping (`raw`, count
// elements of `element_type`); string elements as views (`strings`). Nested arrays are rejected.
struct ArrayValue {
  ValueType element_type;
  uint64_t count = 0;
  std::span<const uint8_t> raw;           // numeric and bool elements
  std::vector<std::string_view> strings;  // string elements
};

// One metadata value. Integers keep their stored type in `type`; use the typed accessors of
// GgufFile to read them with range checks.
struct Value {
  ValueType type;
  std::variant<uint64_t, int64_t, double, bool, std::string_view, ArrayValue> data;
};

struct MetadataEntry {
  std::string_view key;
  Value value;
  uint64_t offset;  // byte offset of the key in the file (for error messages)
};

struct TensorInfo {
  std::string_view name;
  TensorType type;
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the row length (fastest varying)
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  uint64_t offset = 0;            // relative to the start of the data section
  std::span<const uint8_t> data;  // view into the mapping

  uint64_t rows() const { return dims.empty() ? 0 : n_elements / dims[0]; }
};

class GgufFile {
 public:
  // Opens and fully validates `path`. Throws quant::Error.
  static GgufFile open(const std::string& path);
  // Validates a GGUF image already in memory (fuzzing, tests). `name` stands for the file in
  // errors. The GgufFile does not own `bytes`: they must outlive it and every view taken from it.
  static GgufFile from_bytes(std::string name, std::span<const uint8_t> bytes);

  const std::string& path() const;
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const;

  const std::vector<MetadataEntry>& metadata() const { return metadata_; }
  const MetadataEntry* find_entry(std::string_view key) const;
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: throw quant::Error (naming the key) when the key is missing or its value has the
  // wrong type or does not fit. Integer getters accept any stored integer type whose value fits.
  uint32_t get_u32(std::string_view key) const;
  uint64_t get_u64(std::string_view key) const;
  int64_t get_i64(std::string_view key) const;
  float get_f32(std::string_view key) const;  // accepts Float32 and Float64
  bool get_bool(std::string_view key) const;
  std::string_view get_string(std::string_view key) const;
  const ArrayValue& get_array(std::string_view key) const;
  // Array element conversions (throw on element type mismatch or values that do not fit).
  std::vector<float> get_array_f32(std::string_view key) const;
  std::vector<int64_t> get_array_i64(std::string_view key) const;
  std::vector<bool> get_array_bool(std::string_view key) const;
  const std::vector<std::string_view>& get_array_strings(std::string_view key) const;

  // The same with a default for a missing key (a present key of the wrong type still throws).
  uint32_t get_u32_or(std::string_view key, uint32_t fallback) const;
  float get_f32_or(std::string_view key, float fallback) const;
  bool get_bool_or(std::string_view key, bool fallback) const;
  std::string_view get_string_or(std::string_view key, std::string_view fallback) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

  // `general.architecture`, or throws.
  std::string_view architecture() const { return get_string("general.architecture"); }

 private:
  GgufFile() = default;
  std::unique_ptr<MappedFile> file_;  // null for from_bytes
  std::string name_;
  std::span<const uint8_t> bytes_;  // the whole file: file_'s mapping, or the caller's bytes
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<MetadataEntry> metadata_;
  std::unordered_map<std::string_view, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
  friend class GgufParser;
};

}  // namespace quant::gguf
