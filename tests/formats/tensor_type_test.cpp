// The tensor-type table: ids, names, block geometry, row sizes and the row-batch entry points.

#include "formats/tensor_type.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "formats/blocks.h"

namespace quant {
namespace {

struct Expected {
  TensorType type;
  const char* name;
  int64_t block_elements;
  size_t block_bytes;
  bool quantized;
};

// ggml's numbers for each type (ggml.c's type_traits), written out independently of blocks.h.
constexpr Expected kSupported[] = {
    {TensorType::F32, "F32", 1, 4, false},      {TensorType::F16, "F16", 1, 2, false},
    {TensorType::BF16, "BF16", 1, 2, false},    {TensorType::Q4_0, "Q4_0", 32, 18, true},
    {TensorType::Q4_1, "Q4_1", 32, 20, true},   {TensorType::Q5_0, "Q5_0", 32, 22, true},
    {TensorType::Q5_1, "Q5_1", 32, 24, true},   {TensorType::Q8_0, "Q8_0", 32, 34, true},
    {TensorType::Q8_1, "Q8_1", 32, 36, true},   {TensorType::Q4_K, "Q4_K", 256, 144, true},
    {TensorType::Q5_K, "Q5_K", 256, 176, true}, {TensorType::Q6_K, "Q6_K", 256, 210, true},
    {TensorType::Q8_K, "Q8_K", 256, 292, true},
};

TEST(TensorType, TableHasEverySupportedTypeWithGgmlGeometry) {
  for (const Expected& e : kSupported) {
    const TypeTraits* traits = find_type_traits(static_cast<uint32_t>(e.type));
    ASSERT_NE(traits, nullptr) << e.name;
    EXPECT_EQ(traits->type, e.type);
    EXPECT_EQ(traits->name, e.name);
    EXPECT_EQ(traits->block_elements, e.block_elements) << e.name;
    EXPECT_EQ(traits->block_bytes, e.block_bytes) << e.name;
    EXPECT_EQ(traits->quantized, e.quantized) << e.name;
    EXPECT_NE(traits->dequantize_row, nullptr) << e.name;
    EXPECT_NE(traits->quantize_row, nullptr) << e.name;
    EXPECT_EQ(&type_traits(e.type), traits);
  }
}

TEST(TensorType, GgmlIdsAreFixed) {
  EXPECT_EQ(static_cast<uint32_t>(TensorType::Q4_0), 2u);
  EXPECT_EQ(static_cast<uint32_t>(TensorType::Q8_0), 8u);
  EXPECT_EQ(static_cast<uint32_t>(TensorType::Q4_K), 12u);
  EXPECT_EQ(static_cast<uint32_t>(TensorType::Q6_K), 14u);
  EXPECT_EQ(static_cast<uint32_t>(TensorType::BF16), 30u);
}

TEST(TensorType, UnknownRetiredAndUnsupportedIdsHaveNoTraits) {
  for (uint32_t id : {4u, 5u, 10u, 11u, 16u, 17u, 29u, 31u, 39u, 1000u, 0xffffffffu}) {
    EXPECT_EQ(find_type_traits(id), nullptr) << id;
  }
}

TEST(TensorType, ParsesNamesCaseInsensitively) {
  for (const Expected& e : kSupported) {
    EXPECT_EQ(parse_tensor_type(e.name), e.type) << e.name;
    std::string lower = e.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(parse_tensor_type(lower), e.type) << lower;
  }
  EXPECT_EQ(parse_tensor_type("q4_k"), TensorType::Q4_K);
  EXPECT_EQ(parse_tensor_type("Bf16"), TensorType::BF16);
  for (const char* bad : {"", "Q4", "Q4_K_M", "q4_kk", " Q4_K", "Q4_K ", "F64", "Q2_K", "q4-0"}) {
    EXPECT_EQ(parse_tensor_type(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(TensorType, RowBytes) {
  EXPECT_EQ(row_bytes(TensorType::F32, 7), 28u);
  EXPECT_EQ(row_bytes(TensorType::F16, 3), 6u);
  EXPECT_EQ(row_bytes(TensorType::BF16, 4096), 8192u);
  EXPECT_EQ(row_bytes(TensorType::Q4_0, 64), 36u);
  EXPECT_EQ(row_bytes(TensorType::Q8_0, 4096), 4352u);
  EXPECT_EQ(row_bytes(TensorType::Q4_K, 768), 432u);
  EXPECT_EQ(row_bytes(TensorType::Q5_K, 256), 176u);
  EXPECT_EQ(row_bytes(TensorType::Q6_K, 2560), 2100u);
  EXPECT_EQ(row_bytes(TensorType::Q8_K, 0), 0u);
  EXPECT_EQ(row_bytes(TensorType::Q4_0, 33), std::nullopt);  // not whole blocks
  EXPECT_EQ(row_bytes(TensorType::Q6_K, 128), std::nullopt);
  EXPECT_EQ(row_bytes(TensorType::Q2_K, 256), std::nullopt);  // unsupported
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(row_bytes(TensorType::F32, max / 2), std::nullopt);  // overflows
  EXPECT_EQ(row_bytes(TensorType::Q8_0, max - max % 32), std::nullopt);
  EXPECT_EQ(row_bytes(TensorType::Q4_0, (max / 18) / 32 * 32), (max / 18) / 32 * 18);
}

TEST(TensorType, RowBatchesEqualRowByRowAndCheckTheirInput) {
  const int64_t rows = 3;
  const int64_t row_length = 512;
  std::vector<float> values(rows * row_length);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>((i * 37) % 101) / 50 - 1;
  for (const Expected& e : kSupported) {
    const size_t stride = *row_bytes(e.type, row_length);
    std::vector<uint8_t> batch(rows * stride), single(rows * stride);
    quantize_rows(e.type, values.data(), batch.data(), rows, row_length);
    for (int64_t r = 0; r < rows; ++r) {
      type_traits(e.type).quantize_row(values.data() + r * row_length, single.data() + r * stride,
                                       row_length);
    }
    EXPECT_EQ(batch, single) << e.name;
    std::vector<float> back(values.size()), back_single(values.size());
    dequantize_rows(e.type, batch.data(), back.data(), rows, row_length);
    type_traits(e.type).dequantize_row(batch.data(), back_single.data(), rows * row_length);
    EXPECT_EQ(std::memcmp(back.data(), back_single.data(), back.size() * sizeof(float)), 0)
        << e.name;
  }
  std::vector<uint8_t> out(4096);
  std::vector<float> back(4096);
  EXPECT_THROW(quantize_rows(TensorType::Q4_K, values.data(), out.data(), 1, 100), Error);
  EXPECT_THROW(quantize_rows(TensorType::Q8_0, values.data(), out.data(), 1, 0), Error);
  EXPECT_THROW(quantize_rows(TensorType::Q2_K, values.data(), out.data(), 1, 256), Error);
  EXPECT_THROW(dequantize_rows(TensorType::Q4_0, out.data(), back.data(), 1, 48), Error);
  EXPECT_THROW(dequantize_rows(static_cast<TensorType>(5), out.data(), back.data(), 1, 32), Error);
}

}  // namespace
}  // namespace quant
