#pragma once
// Builds GGUF images byte by byte for the reader's tests, broken ones included. It is written apart
// from GgufWriter on purpose: a shared encoder would hide a bug that the reader and the writer have
// in common.

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace quant::test {

// GGUF value type ids (as stored).
enum GgufTypeId : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// ggml tensor type ids used by the tests.
enum GgmlTypeId : uint32_t { kTensorF32 = 0, kTensorF16 = 1, kTensorQ8_0 = 8 };

class GgufBuilder {
 public:
  template <typename T>
  GgufBuilder& put(T value) {
    size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &value, sizeof(T));
    return *this;
  }
  GgufBuilder& u8(uint8_t v) { return put(v); }
  GgufBuilder& u32(uint32_t v) { return put(v); }
  GgufBuilder& u64(uint64_t v) { return put(v); }
  GgufBuilder& raw(std::string_view text) {
    // resize + memcpy rather than insert: GCC 12 at -O3 warns falsely about insert into an empty
    // vector.
    size_t at = bytes_.size();
    bytes_.resize(at + text.size());
    if (!text.empty()) std::memcpy(bytes_.data() + at, text.data(), text.size());
    return *this;
  }
  GgufBuilder& str(std::string_view text) { return u64(text.size()).raw(text); }

  // Magic, version, tensor count and metadata count.
  GgufBuilder& header(uint64_t n_tensors, uint64_t n_entries, uint32_t version = 3) {
    return raw("GGUF").u32(version).u64(n_tensors).u64(n_entries);
  }
  // A key and its value type; the value follows.
  GgufBuilder& key(std::string_view name, uint32_t type) { return str(name).u32(type); }
  GgufBuilder& array_header(std::string_view name, uint32_t element_type, uint64_t count) {
    return key(name, kArray).u32(element_type).u64(count);
  }
  GgufBuilder& tensor_info(std::string_view name, std::initializer_list<uint64_t> dims,
                           uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  // Zeros up to the next multiple of `alignment`.
  GgufBuilder& pad(uint64_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
    return *this;
  }
  GgufBuilder& fill(size_t n, uint8_t value) {
    bytes_.resize(bytes_.size() + n, value);
    return *this;
  }

  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace quant::test
