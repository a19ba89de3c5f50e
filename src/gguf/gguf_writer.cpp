// Streaming GGUF v3 writer. Metadata and the tensor table are encoded in memory (they are small
// next to the weights); tensor data goes straight to the file, each tensor padded to the alignment.

#include "gguf/gguf_writer.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/checked_math.h"
#include "common/error.h"
#include "gguf/gguf_layout.h"

namespace quant::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF numbers are written little-endian");

namespace {

void put_bytes(std::vector<uint8_t>& out, const void* bytes, size_t n) {
  const auto* first = static_cast<const uint8_t*>(bytes);
  out.insert(out.end(), first, first + n);
}

template <typename T>
void put(std::vector<uint8_t>& out, T value) {
  put_bytes(out, &value, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view text) {
  put<uint64_t>(out, text.size());
  put_bytes(out, text.data(), text.size());
}

void put_array_header(std::vector<uint8_t>& out, ValueType element_type, uint64_t count) {
  put<uint32_t>(out, static_cast<uint32_t>(element_type));
  put<uint64_t>(out, count);
}

template <typename T>
std::vector<uint8_t> encode_array(ValueType element_type, std::span<const T> values) {
  std::vector<uint8_t> out;
  put_array_header(out, element_type, values.size());
  put_bytes(out, values.data(), values.size_bytes());
  return out;
}

// An integer from a Value, checked to fit the type it claims to be stored as.
template <typename T>
T stored_integer(std::string_view key, const Value& value) {
  const auto* u = std::get_if<uint64_t>(&value.data);
  const auto* s = std::get_if<int64_t>(&value.data);
  if (u != nullptr && std::in_range<T>(*u)) return static_cast<T>(*u);
  if (s != nullptr && std::in_range<T>(*s)) return static_cast<T>(*s);
  fail("GGUF writer: key '{}': value does not fit its type {}", key, value_type_name(value.type));
}

void encode_scalar(std::vector<uint8_t>& out, std::string_view key, const Value& value) {
  switch (value.type) {
    case ValueType::UInt8:
      return put(out, stored_integer<uint8_t>(key, value));
    case ValueType::Int8:
      return put(out, stored_integer<int8_t>(key, value));
    case ValueType::UInt16:
      return put(out, stored_integer<uint16_t>(key, value));
    case ValueType::Int16:
      return put(out, stored_integer<int16_t>(key, value));
    case ValueType::UInt32:
      return put(out, stored_integer<uint32_t>(key, value));
    case ValueType::Int32:
      return put(out, stored_integer<int32_t>(key, value));
    case ValueType::UInt64:
      return put(out, stored_integer<uint64_t>(key, value));
    case ValueType::Int64:
      return put(out, stored_integer<int64_t>(key, value));
    case ValueType::Float32:
      return put(out, static_cast<float>(std::get<double>(value.data)));
    case ValueType::Float64:
      return put(out, std::get<double>(value.data));
    case ValueType::Bool:
      return put<uint8_t>(out, std::get<bool>(value.data) ? 1 : 0);
    case ValueType::String:
      return put_string(out, std::get<std::string_view>(value.data));
    case ValueType::Array:
      break;
  }
  fail("GGUF writer: key '{}': nested arrays are not supported", key);
}

void encode_array_value(std::vector<uint8_t>& out, std::string_view key, const ArrayValue& array) {
  if (array.element_type == ValueType::Array) {
    fail("GGUF writer: key '{}': nested arrays are not supported", key);
  }
  put_array_header(out, array.element_type, array.count);
  if (array.element_type == ValueType::String) {
    if (array.strings.size() != array.count) {
      fail("GGUF writer: key '{}': array claims {} strings but holds {}", key, array.count,
           array.strings.size());
    }
    for (std::string_view text : array.strings) put_string(out, text);
    return;
  }
  auto expected = checked_mul(array.count, value_size(array.element_type));
  if (!expected || *expected != array.raw.size()) {
    fail("GGUF writer: key '{}': array of {} {} elements holds {} bytes", key, array.count,
         value_type_name(array.element_type), array.raw.size());
  }
  put_bytes(out, array.raw.data(), array.raw.size());
}

void check_alignment(uint64_t alignment) {
  if (!std::has_single_bit(alignment) || alignment > UINT32_MAX) {
    fail("GGUF writer: {} {} is not a nonzero power of two", kAlignmentKey, alignment);
  }
}

}  // namespace

void GgufWriter::require_not_begun(std::string_view what) const {
  if (begun_) fail("GGUF writer: {} after begin() of {}", what, path_);
}

void GgufWriter::add_entry(std::string_view key, ValueType type,
                           const std::vector<uint8_t>& encoded) {
  require_not_begun(fmt::format("key '{}' set", key));
  if (key == kAlignmentKey && type != ValueType::UInt32) {
    fail("GGUF writer: {} must be a u32, not {}", kAlignmentKey, value_type_name(type));
  }
  if (keys_.contains(std::string(key))) fail("GGUF writer: duplicate key '{}'", key);
  keys_.emplace(key);
  put_string(header_, key);
  put<uint32_t>(header_, static_cast<uint32_t>(type));
  header_.insert(header_.end(), encoded.begin(), encoded.end());
  ++n_metadata_;
}

void GgufWriter::set_u32(std::string_view key, uint32_t value) {
  set_value(key, Value{ValueType::UInt32, uint64_t{value}});
}

void GgufWriter::set_i32(std::string_view key, int32_t value) {
  set_value(key, Value{ValueType::Int32, int64_t{value}});
}

void GgufWriter::set_u64(std::string_view key, uint64_t value) {
  set_value(key, Value{ValueType::UInt64, value});
}

void GgufWriter::set_f32(std::string_view key, float value) {
  set_value(key, Value{ValueType::Float32, double{value}});
}

void GgufWriter::set_bool(std::string_view key, bool value) {
  set_value(key, Value{ValueType::Bool, value});
}

void GgufWriter::set_string(std::string_view key, std::string_view value) {
  set_value(key, Value{ValueType::String, value});
}

void GgufWriter::set_array_strings(std::string_view key, const std::vector<std::string>& values) {
  std::vector<uint8_t> encoded;
  put_array_header(encoded, ValueType::String, values.size());
  for (const std::string& text : values) put_string(encoded, text);
  add_entry(key, ValueType::Array, encoded);
}

void GgufWriter::set_array_f32(std::string_view key, std::span<const float> values) {
  add_entry(key, ValueType::Array, encode_array(ValueType::Float32, values));
}

void GgufWriter::set_array_i32(std::string_view key, std::span<const int32_t> values) {
  add_entry(key, ValueType::Array, encode_array(ValueType::Int32, values));
}

void GgufWriter::set_array_u32(std::string_view key, std::span<const uint32_t> values) {
  add_entry(key, ValueType::Array, encode_array(ValueType::UInt32, values));
}

void GgufWriter::set_array_bool(std::string_view key, const std::vector<bool>& values) {
  std::vector<uint8_t> encoded;
  put_array_header(encoded, ValueType::Bool, values.size());
  for (bool value : values) put<uint8_t>(encoded, value ? 1 : 0);
  add_entry(key, ValueType::Array, encoded);
}

void GgufWriter::set_value(std::string_view key, const Value& value) {
  std::vector<uint8_t> encoded;
  if (value.type == ValueType::Array) {
    encode_array_value(encoded, key, std::get<ArrayValue>(value.data));
  } else {
    encode_scalar(encoded, key, value);
  }
  uint64_t alignment = 0;
  if (key == kAlignmentKey && value.type == ValueType::UInt32) {
    alignment = std::get<uint64_t>(value.data);
    check_alignment(alignment);
  }
  add_entry(key, value.type, encoded);
  if (alignment != 0) alignment_ = alignment;
}

void GgufWriter::add_tensor(std::string_view name, TensorType type, std::vector<uint64_t> dims) {
  require_not_begun(fmt::format("tensor '{}' added", name));
  if (name.empty() || name.size() > kMaxTensorNameBytes) {
    fail("GGUF writer: tensor name '{}' must have 1 to {} bytes", name, kMaxTensorNameBytes);
  }
  if (tensor_names_.contains(std::string(name))) fail("GGUF writer: duplicate tensor '{}'", name);
  if (dims.empty() || dims.size() > kMaxDims) {
    fail("GGUF writer: tensor '{}': {} dimensions (must be 1 to {})", name, dims.size(), kMaxDims);
  }
  uint64_t n_elements = 1;
  for (uint64_t dim : dims) {
    auto product = checked_mul(n_elements, dim);
    if (dim == 0 || !product || *product > kMaxElements) {
      fail("GGUF writer: tensor '{}': bad dimensions {}", name, fmt::join(dims, " x "));
    }
    n_elements = *product;
  }
  const TypeTraits* traits = find_type_traits(static_cast<uint32_t>(type));
  if (traits == nullptr) {
    fail("GGUF writer: tensor '{}': unsupported type id {}", name, static_cast<uint32_t>(type));
  }
  auto row = row_bytes(type, dims[0]);
  auto n_bytes = row ? checked_mul(*row, n_elements / dims[0]) : std::nullopt;
  if (!n_bytes) {
    fail("GGUF writer: tensor '{}': row length {} is not a multiple of the {} block size {}", name,
         dims[0], traits->name, traits->block_elements);
  }
  tensor_names_.emplace(name);
  tensors_.push_back(PendingTensor{std::string(name), type, std::move(dims), *n_bytes});
}

void GgufWriter::begin(const std::string& path) {
  require_not_begun("begin() called again");
  std::vector<uint8_t> head;
  put_bytes(head, kMagic.data(), kMagic.size());
  put<uint32_t>(head, kWrittenVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, n_metadata_);
  head.insert(head.end(), header_.begin(), header_.end());
  uint64_t offset = 0;
  for (const PendingTensor& tensor : tensors_) {
    put_string(head, tensor.name);
    put<uint32_t>(head, static_cast<uint32_t>(tensor.dims.size()));
    for (uint64_t dim : tensor.dims) put<uint64_t>(head, dim);
    put<uint32_t>(head, static_cast<uint32_t>(tensor.type));
    put<uint64_t>(head, offset);
    auto end = checked_add(offset, tensor.n_bytes);
    auto next = end ? align_up(*end, alignment_) : std::nullopt;
    if (!next) fail("GGUF writer: {}: tensor data exceeds 2^64 bytes", path);
    offset = *next;
  }
  // The data section starts aligned. A file without tensors has none and ends unpadded, as gguf-py
  // writes it.
  if (!tensors_.empty()) head.resize(*align_up(head.size(), alignment_), 0);

  out_ = std::fopen(path.c_str(), "wb");
  if (out_ == nullptr) fail("{}: cannot create: {}", path, std::strerror(errno));
  path_ = path;
  begun_ = true;
  write(head.data(), head.size());
  header_ = {};  // may hold a whole vocabulary; no longer needed
}

void GgufWriter::write(const void* bytes, size_t n) {
  if (n != 0 && std::fwrite(bytes, 1, n, out_) != n) {
    fail("{}: write failed: {}", path_, std::strerror(errno));
  }
}

void GgufWriter::pad_data() {
  static constexpr uint8_t kZeros[64] = {};
  uint64_t padding = *align_up(written_, alignment_) - written_;
  written_ += padding;
  while (padding > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(padding, sizeof(kZeros)));
    write(kZeros, n);
    padding -= n;
  }
}

void GgufWriter::write_tensor_data(std::span<const uint8_t> bytes) {
  if (out_ == nullptr) fail("GGUF writer: tensor data written outside begin() ... finish()");
  if (next_tensor_ >= tensors_.size()) {
    fail("{}: more tensor data than the {} declared tensors", path_, tensors_.size());
  }
  const PendingTensor& tensor = tensors_[next_tensor_];
  if (bytes.size() != tensor.n_bytes) {
    fail("{}: tensor '{}': {} bytes of data given, {} declared", path_, tensor.name, bytes.size(),
         tensor.n_bytes);
  }
  write(bytes.data(), bytes.size());
  written_ += bytes.size();
  pad_data();
  ++next_tensor_;
}

void GgufWriter::finish() {
  if (out_ == nullptr) fail("GGUF writer: finish() without begin()");
  if (next_tensor_ != tensors_.size()) {
    fail("{}: tensor '{}' has no data", path_, tensors_[next_tensor_].name);
  }
  std::FILE* out = std::exchange(out_, nullptr);
  bool ok = std::fflush(out) == 0;
  ok = std::fclose(out) == 0 && ok;
  if (!ok) {
    int err = errno;
    std::remove(path_.c_str());
    fail("{}: write failed: {}", path_, std::strerror(err));
  }
}

GgufWriter::~GgufWriter() {
  if (out_ != nullptr) {
    std::fclose(out_);
    std::remove(path_.c_str());
  }
}

}  // namespace quant::gguf
