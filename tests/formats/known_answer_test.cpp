// Known answers from the reference implementation (shared/reference/dequant, README section 3):
// rows of real GGUF tensors with their dequantization, and reference quantizations of a fixed
// input.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "formats/tensor_type.h"

namespace quant {
namespace {

using nlohmann::json;

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  EXPECT_TRUE(file) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::vector<float> read_floats(const std::string& path) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

json read_json(const std::string& path) {
  std::ifstream file(path);
  EXPECT_TRUE(file) << "cannot open " << path;
  return json::parse(file);
}

std::string dequant_path(const std::string& name) {
  return test::shared_path("reference/dequant/" + name);
}

// Index of the first float whose bits differ, or -1.
int64_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<int64_t>(i);
  }
  return -1;
}

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += (static_cast<double>(a[i]) - b[i]) * (a[i] - b[i]);
  return std::sqrt(sum / static_cast<double>(a.size()));
}

// The traits of a manifest entry's type, checked against the entry; null when unsupported.
const TypeTraits* traits_of(const json& entry) {
  const TypeTraits* traits = find_type_traits(entry.at("ggml_type_id").get<uint32_t>());
  if (traits == nullptr) return nullptr;
  EXPECT_EQ(parse_tensor_type(entry.at("ggml_type").get<std::string>()), traits->type);
  EXPECT_EQ(traits->block_elements, entry.at("block_size").get<int64_t>());
  EXPECT_EQ(traits->block_bytes, entry.at("block_bytes").get<size_t>());
  return traits;
}

TEST(KnownAnswers, DequantizedTensorRowsMatchBitForBit) {
  QUANT_REQUIRE_SHARED();
  const json manifest = read_json(dequant_path("tensors_manifest.json"));
  ASSERT_GE(manifest.size(), 9u);
  for (const json& entry : manifest) {
    const std::string name =
        entry.at("source_model").get<std::string>() + " " + entry.at("tensor").get<std::string>();
    SCOPED_TRACE(name);
    const TypeTraits* found = traits_of(entry);
    ASSERT_NE(found, nullptr) << "unsupported type";
    const TypeTraits& traits = *found;
    const auto rows = entry.at("rows_taken").get<int64_t>();
    const auto row_length = entry.at("row_length").get<int64_t>();
    ASSERT_EQ(row_bytes(traits.type, row_length), entry.at("row_bytes").get<uint64_t>());
    const std::vector<uint8_t> raw =
        read_bytes(dequant_path(entry.at("raw_file").get<std::string>()));
    const std::vector<float> expected =
        read_floats(dequant_path(entry.at("dequant_file").get<std::string>()));
    ASSERT_EQ(raw.size(), rows * entry.at("row_bytes").get<uint64_t>());
    ASSERT_EQ(expected.size(), static_cast<size_t>(rows * row_length));
    std::vector<float> ours(expected.size());
    dequantize_rows(traits.type, raw.data(), ours.data(), rows, row_length);
    const int64_t at = first_bit_difference(ours, expected);
    EXPECT_EQ(at, -1) << "first difference at element " << at << ": " << ours[at] << " vs "
                      << expected[at];
  }
}

TEST(KnownAnswers, QuantizersMatchTheReference) {
  QUANT_REQUIRE_SHARED();
  const json manifest = read_json(dequant_path("quantize_manifest.json"));
  const json& input_info = manifest.at("input");
  const std::vector<float> input =
      read_floats(dequant_path("quantize/" + input_info.at("file").get<std::string>()));
  const auto rows = input_info.at("shape")[0].get<int64_t>();
  const auto row_length = input_info.at("shape")[1].get<int64_t>();
  ASSERT_EQ(input.size(), static_cast<size_t>(rows * row_length));
  ASSERT_GE(manifest.at("outputs").size(), 5u);
  for (const json& entry : manifest.at("outputs")) {
    const auto type_name = entry.at("ggml_type").get<std::string>();
    SCOPED_TRACE(type_name);
    const TypeTraits* found = traits_of(entry);
    ASSERT_NE(found, nullptr) << "unsupported type";
    const TypeTraits& traits = *found;
    const std::vector<uint8_t> reference =
        read_bytes(dequant_path("quantize/" + entry.at("raw_file").get<std::string>()));
    const std::vector<float> reference_dequant =
        read_floats(dequant_path("quantize/" + entry.at("dequant_file").get<std::string>()));
    ASSERT_EQ(reference.size(), rows * *row_bytes(traits.type, row_length));

    // Our dequantization of their blocks.
    std::vector<float> theirs(input.size());
    dequantize_rows(traits.type, reference.data(), theirs.data(), rows, row_length);
    EXPECT_EQ(first_bit_difference(theirs, reference_dequant), -1);

    // Our quantization: no worse than theirs by more than 2%, and ideally the same bytes.
    std::vector<uint8_t> ours(reference.size());
    quantize_rows(traits.type, input.data(), ours.data(), rows, row_length);
    std::vector<float> ours_dequant(input.size());
    dequantize_rows(traits.type, ours.data(), ours_dequant.data(), rows, row_length);
    const double our_rmse = rmse(ours_dequant, input);
    const double their_rmse = entry.at("rmse_vs_input").get<double>();
    EXPECT_LE(our_rmse, 1.02 * their_rmse);
    EXPECT_NEAR(rmse(reference_dequant, input), their_rmse, 1e-6);
    size_t differing = 0;
    for (size_t i = 0; i < ours.size(); ++i) differing += ours[i] != reference[i];
    std::cout << "[ KNOWN    ] " << type_name << ": rmse ours " << our_rmse << ", reference "
              << their_rmse << "; bytes " << (differing == 0 ? "identical" : "differ") << " ("
              << differing << " of " << ours.size() << " differ)\n";
    ::testing::Test::RecordProperty(type_name + "_differing_bytes", static_cast<int>(differing));
    // The simple quantizers have one right answer. The K-quants' scale searches only need to be as
    // good (the bound above), but ours repeat the reference's float operations exactly, so any
    // difference means a step of the search went astray.
    EXPECT_EQ(differing, 0u);
  }
}

}  // namespace
}  // namespace quant
