#pragma once
// Writing GGUF v3 files in a streaming way: set metadata, declare every tensor (name, type, dims),
// then write the tensors' data one by one in declaration order. Memory stays bounded by what the
// caller holds, never the whole model. Output is deterministic: the same calls give the same bytes.

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "formats/tensor_type.h"
#include "gguf/gguf_file.h"

namespace quant::gguf {

class GgufWriter {
 public:
  // Metadata is written in the order it is set. Setting a key twice throws quant::Error.
  void set_u32(std::string_view key, uint32_t value);
  void set_i32(std::string_view key, int32_t value);
  void set_u64(std::string_view key, uint64_t value);
  void set_f32(std::string_view key, float value);
  void set_bool(std::string_view key, bool value);
  void set_string(std::string_view key, std::string_view value);
  void set_array_strings(std::string_view key, const std::vector<std::string>& values);
  void set_array_f32(std::string_view key, std::span<const float> values);
  void set_array_i32(std::string_view key, std::span<const int32_t> values);
  void set_array_u32(std::string_view key, std::span<const uint32_t> values);
  void set_array_bool(std::string_view key, const std::vector<bool>& values);
  // Copies a value read from another file (e.g. when quantizing), keeping its stored type.
  void set_value(std::string_view key, const Value& value);

  // Declares a tensor (dims in ggml order, dims[0] = row length). Its byte size follows from the
  // type. Throws on a duplicate name or a row length that is not a multiple of the type's block.
  void add_tensor(std::string_view name, TensorType type, std::vector<uint64_t> dims);

  // Writes header, metadata and tensor table to `path` (alignment: general.alignment if set, else
  // 32). After this, write_tensor_data must be called once per tensor in declaration order, then
  // finish().
  void begin(const std::string& path);
  // Checks the size against the declaration.
  void write_tensor_data(std::span<const uint8_t> bytes);
  void finish();  // pads, flushes, closes; throws if a tensor's data is missing

  GgufWriter() = default;
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;
  // A writer destroyed between begin() and finish() removes its incomplete file.
  ~GgufWriter();

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<uint64_t> dims;
    uint64_t n_bytes;
  };
  // Appends one key/value (value already encoded) after checking the key.
  void add_entry(std::string_view key, ValueType type, const std::vector<uint8_t>& encoded);
  void require_not_begun(std::string_view what) const;
  void write(const void* bytes, size_t n);
  void pad_data();

  std::vector<uint8_t> header_;  // serialized metadata key/values, in order
  uint64_t n_metadata_ = 0;
  std::unordered_set<std::string> keys_;
  std::vector<PendingTensor> tensors_;
  std::unordered_set<std::string> tensor_names_;
  uint64_t alignment_ = 32;
  std::FILE* out_ = nullptr;
  std::string path_;
  bool begun_ = false;
  size_t next_tensor_ = 0;
  uint64_t written_ = 0;  // bytes of the data section written so far
};

}  // namespace quant::gguf
