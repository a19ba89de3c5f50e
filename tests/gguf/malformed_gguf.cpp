#include "gguf/malformed_gguf.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "gguf/gguf_builder.h"

namespace quant::test {
namespace {

constexpr uint64_t kHuge = uint64_t{1} << 60;

// A file of just a header with the given entry/tensor bytes after it.
GgufBuilder with_header(uint64_t n_tensors, uint64_t n_entries) {
  GgufBuilder b;
  b.header(n_tensors, n_entries);
  return b;
}

// One tensor, then its data (zeros) after the default 32-byte alignment.
std::vector<uint8_t> one_tensor(std::initializer_list<uint64_t> dims, uint32_t type,
                                uint64_t offset, size_t data_bytes) {
  GgufBuilder b = with_header(1, 0);
  b.tensor_info("t", dims, type, offset).pad(32).fill(data_bytes, 0);
  return b.bytes();
}

// A file whose only entry is general.alignment with the given type and value.
std::vector<uint8_t> alignment_entry(uint32_t type, uint64_t value) {
  GgufBuilder b = with_header(0, 1);
  b.key("general.alignment", type);
  if (type == kU64) {
    b.u64(value);
  } else {
    b.u32(static_cast<uint32_t>(value));
  }
  return b.bytes();
}

void add(std::vector<MalformedCase>& cases, std::string name, std::vector<uint8_t> bytes,
         std::vector<std::string> words) {
  cases.push_back(MalformedCase{std::move(name), std::move(bytes), std::move(words)});
}

void add_header_cases(std::vector<MalformedCase>& cases) {
  add(cases, "empty", {}, {"magic"});
  add(cases, "bad-magic", GgufBuilder().raw("GGML").u32(3).u64(0).u64(0).bytes(), {"magic"});
  add(cases, "version-1", GgufBuilder().header(0, 0, 1).bytes(), {"version 1"});
  add(cases, "version-4", GgufBuilder().header(0, 0, 4).bytes(), {"unsupported", "version 4"});
  add(cases, "version-0", GgufBuilder().header(0, 0, 0).bytes(), {"unsupported", "version 0"});
  add(cases, "version-3-big-endian", GgufBuilder().header(0, 0, 0x03000000).bytes(),
      {"big-endian"});
  add(cases, "header-truncated", GgufBuilder().raw("GGUF").u32(3).u64(0).bytes(),
      {"truncated", "metadata count"});
  add(cases, "huge-tensor-count", with_header(kHuge, 0).bytes(), {"tensor count"});
  add(cases, "huge-metadata-count", with_header(0, kHuge).bytes(), {"metadata count"});
  add(cases, "max-counts", with_header(~uint64_t{0}, ~uint64_t{0}).bytes(), {"count"});
}

void add_metadata_cases(std::vector<MalformedCase>& cases) {
  add(cases, "huge-key-length", with_header(0, 1).u64(uint64_t{1} << 40).raw("abcdefgh").bytes(),
      {"truncated", "key"});
  add(cases, "huge-string-value",
      with_header(0, 1).key("k", kString).u64(uint64_t{1} << 40).raw("x").bytes(),
      {"truncated", "key 'k'"});
  add(cases, "max-string-value", with_header(0, 1).key("k", kString).u64(~uint64_t{0}).bytes(),
      {"truncated", "key 'k'"});
  add(cases, "huge-u32-array",
      with_header(0, 1).array_header("k", kU32, uint64_t{1} << 62).u32(1).bytes(),
      {"cannot fit", "key 'k'"});
  add(cases, "huge-string-array",
      with_header(0, 1).array_header("k", kString, kHuge).str("a").bytes(),
      {"cannot fit", "key 'k'"});
  add(cases, "string-array-element-too-long",
      with_header(0, 1).array_header("k", kString, 2).str("a").u64(1000).raw("b").bytes(),
      {"truncated", "key 'k'"});
  add(cases, "unknown-value-type", with_header(0, 1).key("k", 13).u32(0).bytes(),
      {"unknown value type 13", "key 'k'"});
  add(cases, "unknown-array-element-type",
      with_header(0, 1).array_header("k", 99, 1).u32(0).bytes(), {"unknown array element type 99"});
  add(cases, "nested-array",
      with_header(0, 1).array_header("k", kArray, 1).u32(kU8).u64(1).u8(0).bytes(),
      {"nested arrays"});
  add(cases, "bad-bool", with_header(0, 1).key("k", kBool).u8(2).bytes(), {"neither 0 nor 1"});
  add(cases, "bad-bool-array",
      with_header(0, 1).array_header("k", kBool, 3).u8(0).u8(1).u8(7).bytes(),
      {"element 2", "neither 0 nor 1"});
  add(cases, "value-truncated", with_header(0, 1).key("k", kU64).u32(7).bytes(),
      {"truncated", "u64 value"});
  add(cases, "duplicate-key", with_header(0, 2).key("k", kU32).u32(1).key("k", kU32).u32(2).bytes(),
      {"duplicate key", "key 'k'"});
  add(cases, "alignment-zero", alignment_entry(kU32, 0), {"general.alignment", "power of two"});
  add(cases, "alignment-48", alignment_entry(kU32, 48), {"general.alignment", "power of two"});
  add(cases, "alignment-u64", alignment_entry(kU64, 32), {"general.alignment", "must be a u32"});
}

void add_tensor_cases(std::vector<MalformedCase>& cases) {
  add(cases, "huge-tensor-name", with_header(1, 0).u64(uint64_t{1} << 40).fill(40, 'a').bytes(),
      {"truncated", "tensor #0"});
  add(cases, "no-dims", one_tensor({}, kTensorF32, 0, 32), {"0 dimensions"});
  add(cases, "five-dims", one_tensor({1, 1, 1, 1, 1}, kTensorF32, 0, 32), {"5 dimensions"});
  add(cases, "zero-dim", one_tensor({4, 0}, kTensorF32, 0, 32), {"dimension 1 is zero"});
  add(cases, "dims-overflow",
      one_tensor({uint64_t{1} << 32, uint64_t{1} << 32, 2}, kTensorF32, 0, 32), {"overflows"});
  add(cases, "dims-beyond-int64", one_tensor({uint64_t{1} << 63}, kTensorF32, 0, 32),
      {"overflows"});
  add(cases, "byte-size-overflow",
      one_tensor({uint64_t{1} << 31, uint64_t{1} << 31}, kTensorF32, 0, 32),
      {"byte size overflows"});
  add(cases, "unknown-tensor-type", one_tensor({8}, 99, 0, 32), {"unknown tensor type id 99"});
  add(cases, "retired-tensor-type", one_tensor({8}, 4, 0, 32), {"unknown tensor type id 4"});
  add(cases, "row-not-block-multiple", one_tensor({33}, kTensorQ8_0, 0, 64),
      {"row length 33", "not a multiple", "Q8_0"});
  add(cases, "misaligned-offset", one_tensor({8}, kTensorF32, 8, 64), {"not aligned"});
  add(cases, "offset-out-of-range", one_tensor({8}, kTensorF32, 64, 32),
      {"outside the data section", "tensor 't'"});
  add(cases, "offset-overflow", one_tensor({8}, kTensorF32, ~uint64_t{0} - 31, 32),
      {"outside the data section"});
  add(cases, "data-truncated", one_tensor({16}, kTensorF32, 0, 32), {"outside the data section"});
  add(cases, "no-data-section", with_header(1, 0).tensor_info("t", {8}, kTensorF32, 0).bytes(),
      {"outside the data section"});
  add(cases, "overlapping-tensors",
      with_header(2, 0)
          .tensor_info("first", {16}, kTensorF32, 0)
          .tensor_info("second", {16}, kTensorF32, 32)
          .pad(32)
          .fill(96, 0)
          .bytes(),
      {"overlaps", "'first'", "tensor 'second'"});
  add(cases, "duplicate-tensor-name",
      with_header(2, 0)
          .tensor_info("t", {8}, kTensorF32, 0)
          .tensor_info("t", {8}, kTensorF32, 32)
          .pad(32)
          .fill(64, 0)
          .bytes(),
      {"duplicate tensor name", "tensor 't'"});
  add(cases, "offset-misaligned-for-custom-alignment",
      with_header(1, 1)
          .key("general.alignment", kU32)
          .u32(64)
          .tensor_info("t", {8}, kTensorF32, 32)
          .pad(64)
          .fill(128, 0)
          .bytes(),
      {"not aligned to 64"});
}

}  // namespace

std::vector<uint8_t> small_valid_gguf() {
  GgufBuilder b;
  b.header(3, 21);
  b.key("general.architecture", kString).str("test");
  b.key("general.alignment", kU32).u32(64);
  b.key("test.u8", kU8).u8(200);
  b.key("test.i8", kI8).put<int8_t>(-100);
  b.key("test.u16", kU16).put<uint16_t>(60000);
  b.key("test.i16", kI16).put<int16_t>(-30000);
  b.key("test.u32", kU32).u32(4000000000u);
  b.key("test.i32", kI32).put<int32_t>(-2000000000);
  b.key("test.f32", kF32).put<float>(1.5f);
  b.key("test.bool", kBool).u8(1);
  b.key("test.string", kString).str("hello");
  b.key("test.u64", kU64).u64(uint64_t{1} << 40);
  b.key("test.i64", kI64).put<int64_t>(-(int64_t{1} << 40));
  b.key("test.f64", kF64).put<double>(0.25);
  b.array_header("test.array.u8", kU8, 3).u8(1).u8(2).u8(3);
  b.array_header("test.array.i32", kI32, 2).put<int32_t>(-1).put<int32_t>(2);
  b.array_header("test.array.f32", kF32, 2).put<float>(0.5f).put<float>(-1.0f);
  b.array_header("test.array.bool", kBool, 2).u8(1).u8(0);
  b.array_header("test.array.string", kString, 3).str("a").str("bc").str("");
  b.array_header("test.array.u64", kU64, 1).u64(~uint64_t{0});
  b.array_header("test.array.empty", kU32, 0);
  b.tensor_info("a", {8}, kTensorF32, 0);
  b.tensor_info("b", {4, 2}, kTensorF16, 64);
  b.tensor_info("c", {32, 2}, kTensorQ8_0, 128);
  b.pad(64);
  for (int i = 0; i < 8; ++i) b.put<float>(static_cast<float>(i));
  b.pad(64);
  for (int i = 0; i < 16; ++i) b.u8(static_cast<uint8_t>(i * 3));
  b.pad(64);
  for (int i = 0; i < 68; ++i) b.u8(static_cast<uint8_t>(i * 7 + 1));
  return b.bytes();
}

std::vector<MalformedCase> hand_made_cases() {
  std::vector<MalformedCase> cases;
  add_header_cases(cases);
  add_metadata_cases(cases);
  add_tensor_cases(cases);
  return cases;
}

std::vector<MalformedCase> truncated_cases() {
  std::vector<uint8_t> valid = small_valid_gguf();
  std::vector<MalformedCase> cases;
  cases.reserve(valid.size());
  for (size_t size = 0; size < valid.size(); ++size) {
    cases.push_back(MalformedCase{fmt::format("truncated-{}", size),
                                  std::vector<uint8_t>(valid.begin(), valid.begin() + size),
                                  {}});
  }
  return cases;
}

}  // namespace quant::test
