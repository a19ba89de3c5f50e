// Typed access to GGUF metadata: lookups and conversions with range checks; errors name the key and
// the byte offset of its entry.

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "common/error.h"
#include "gguf/gguf_file.h"

namespace quant::gguf {

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UInt8:
      return "u8";
    case ValueType::Int8:
      return "i8";
    case ValueType::UInt16:
      return "u16";
    case ValueType::Int16:
      return "i16";
    case ValueType::UInt32:
      return "u32";
    case ValueType::Int32:
      return "i32";
    case ValueType::Float32:
      return "f32";
    case ValueType::Bool:
      return "bool";
    case ValueType::String:
      return "string";
    case ValueType::Array:
      return "array";
    case ValueType::UInt64:
      return "u64";
    case ValueType::Int64:
      return "i64";
    case ValueType::Float64:
      return "f64";
  }
  return "unknown";
}

bool is_integer_type(ValueType type) {
  switch (type) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::UInt16:
    case ValueType::Int16:
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::UInt64:
    case ValueType::Int64:
      return true;
    default:
      return false;
  }
}

namespace {

std::string type_description(const Value& value) {
  if (value.type != ValueType::Array) return std::string(value_type_name(value.type));
  const auto& array = std::get<ArrayValue>(value.data);
  return fmt::format("array of {}", value_type_name(array.element_type));
}

[[noreturn]] void fail_entry(const std::string& path, const MetadataEntry& entry,
                             std::string_view problem) {
  fail("{}: key '{}' at byte offset {}: {}", path, entry.key, entry.offset, problem);
}

[[noreturn]] void fail_type(const std::string& path, const MetadataEntry& entry,
                            std::string_view expected) {
  fail_entry(path, entry,
             fmt::format("expected {}, found {}", expected, type_description(entry.value)));
}

// An integer value converted to T, or nullopt when it does not fit.
template <typename T>
std::optional<T> integer_as(const Value& value) {
  if (const auto* u = std::get_if<uint64_t>(&value.data)) {
    if (std::in_range<T>(*u)) return static_cast<T>(*u);
  } else if (const auto* s = std::get_if<int64_t>(&value.data)) {
    if (std::in_range<T>(*s)) return static_cast<T>(*s);
  }
  return std::nullopt;
}

std::string integer_text(const Value& value) {
  if (const auto* u = std::get_if<uint64_t>(&value.data)) return fmt::format("{}", *u);
  return fmt::format("{}", std::get<int64_t>(value.data));
}

template <typename T>
T integer_entry(const std::string& path, const MetadataEntry& entry, std::string_view expected) {
  if (!is_integer_type(entry.value.type)) fail_type(path, entry, expected);
  auto result = integer_as<T>(entry.value);
  if (!result) {
    fail_entry(path, entry,
               fmt::format("value {} does not fit in {}", integer_text(entry.value), expected));
  }
  return *result;
}

// Infinities and NaN convert as they are; finite values beyond the f32 range do not fit.
bool fits_f32(double value) {
  return !std::isfinite(value) || std::fabs(value) <= std::numeric_limits<float>::max();
}

template <typename T>
T element(const ArrayValue& array, uint64_t index) {
  T value;
  std::memcpy(&value, array.raw.data() + index * sizeof(T), sizeof(T));
  return value;
}

// The i-th element of an integer array as int64_t, or nullopt when a u64 element does not fit.
std::optional<int64_t> integer_element(const ArrayValue& array, uint64_t i) {
  switch (array.element_type) {
    case ValueType::UInt8:
      return element<uint8_t>(array, i);
    case ValueType::Int8:
      return element<int8_t>(array, i);
    case ValueType::UInt16:
      return element<uint16_t>(array, i);
    case ValueType::Int16:
      return element<int16_t>(array, i);
    case ValueType::UInt32:
      return element<uint32_t>(array, i);
    case ValueType::Int32:
      return element<int32_t>(array, i);
    case ValueType::Int64:
      return element<int64_t>(array, i);
    case ValueType::UInt64: {
      uint64_t value = element<uint64_t>(array, i);
      if (!std::in_range<int64_t>(value)) return std::nullopt;
      return static_cast<int64_t>(value);
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

const MetadataEntry* GgufFile::find_entry(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second];
}

const Value* GgufFile::find(std::string_view key) const {
  const MetadataEntry* entry = find_entry(key);
  return entry == nullptr ? nullptr : &entry->value;
}

namespace {

const MetadataEntry& require(const GgufFile& file, std::string_view key) {
  const MetadataEntry* entry = file.find_entry(key);
  if (entry == nullptr) fail("{}: missing key '{}'", file.path(), key);
  return *entry;
}

const MetadataEntry& require_array(const GgufFile& file, std::string_view key) {
  const MetadataEntry& entry = require(file, key);
  if (entry.value.type != ValueType::Array) fail_type(file.path(), entry, "an array");
  return entry;
}

const ArrayValue& array_of(const MetadataEntry& entry) {
  return std::get<ArrayValue>(entry.value.data);
}

}  // namespace

uint32_t GgufFile::get_u32(std::string_view key) const {
  return integer_entry<uint32_t>(path(), require(*this, key), "u32");
}

uint64_t GgufFile::get_u64(std::string_view key) const {
  return integer_entry<uint64_t>(path(), require(*this, key), "u64");
}

int64_t GgufFile::get_i64(std::string_view key) const {
  return integer_entry<int64_t>(path(), require(*this, key), "i64");
}

float GgufFile::get_f32(std::string_view key) const {
  const MetadataEntry& entry = require(*this, key);
  if (entry.value.type != ValueType::Float32 && entry.value.type != ValueType::Float64) {
    fail_type(path(), entry, "f32 or f64");
  }
  double value = std::get<double>(entry.value.data);
  if (!fits_f32(value)) {
    fail_entry(path(), entry, fmt::format("value {} does not fit in f32", value));
  }
  return static_cast<float>(value);
}

bool GgufFile::get_bool(std::string_view key) const {
  const MetadataEntry& entry = require(*this, key);
  if (entry.value.type != ValueType::Bool) fail_type(path(), entry, "bool");
  return std::get<bool>(entry.value.data);
}

std::string_view GgufFile::get_string(std::string_view key) const {
  const MetadataEntry& entry = require(*this, key);
  if (entry.value.type != ValueType::String) fail_type(path(), entry, "string");
  return std::get<std::string_view>(entry.value.data);
}

const ArrayValue& GgufFile::get_array(std::string_view key) const {
  return array_of(require_array(*this, key));
}

std::vector<float> GgufFile::get_array_f32(std::string_view key) const {
  const MetadataEntry& entry = require_array(*this, key);
  const ArrayValue& array = array_of(entry);
  if (array.element_type != ValueType::Float32 && array.element_type != ValueType::Float64) {
    fail_type(path(), entry, "array of f32 or f64");
  }
  std::vector<float> values(static_cast<size_t>(array.count));
  if (array.element_type == ValueType::Float32) {
    if (!values.empty()) std::memcpy(values.data(), array.raw.data(), array.raw.size());
    return values;
  }
  for (uint64_t i = 0; i < array.count; ++i) {
    double value = element<double>(array, i);
    if (!fits_f32(value)) {
      fail_entry(path(), entry, fmt::format("element {} ({}) does not fit in f32", i, value));
    }
    values[i] = static_cast<float>(value);
  }
  return values;
}

std::vector<int64_t> GgufFile::get_array_i64(std::string_view key) const {
  const MetadataEntry& entry = require_array(*this, key);
  const ArrayValue& array = array_of(entry);
  if (!is_integer_type(array.element_type)) fail_type(path(), entry, "array of integers");
  std::vector<int64_t> values(static_cast<size_t>(array.count));
  for (uint64_t i = 0; i < array.count; ++i) {
    auto value = integer_element(array, i);
    if (!value) {
      fail_entry(
          path(), entry,
          fmt::format("element {} ({}) does not fit in i64", i, element<uint64_t>(array, i)));
    }
    values[i] = *value;
  }
  return values;
}

std::vector<bool> GgufFile::get_array_bool(std::string_view key) const {
  const MetadataEntry& entry = require_array(*this, key);
  const ArrayValue& array = array_of(entry);
  if (array.element_type != ValueType::Bool) fail_type(path(), entry, "array of bool");
  std::vector<bool> values(static_cast<size_t>(array.count));
  for (uint64_t i = 0; i < array.count; ++i) values[i] = array.raw[i] != 0;
  return values;
}

const std::vector<std::string_view>& GgufFile::get_array_strings(std::string_view key) const {
  const MetadataEntry& entry = require_array(*this, key);
  const ArrayValue& array = array_of(entry);
  if (array.element_type != ValueType::String) {
    fail_type(path(), entry, "array of string");
  }
  return array.strings;
}

uint32_t GgufFile::get_u32_or(std::string_view key, uint32_t fallback) const {
  return has(key) ? get_u32(key) : fallback;
}

float GgufFile::get_f32_or(std::string_view key, float fallback) const {
  return has(key) ? get_f32(key) : fallback;
}

bool GgufFile::get_bool_or(std::string_view key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}

std::string_view GgufFile::get_string_or(std::string_view key, std::string_view fallback) const {
  return has(key) ? get_string(key) : fallback;
}

}  // namespace quant::gguf
