// The fast MatVec kernels: the scalar reference against a double-precision product of the
// dequantized operands, every SIMD kernel this machine runs against the scalar reference, at odd
// sizes (several blocks, rows and tokens that fill no group or tile), and results that do not
// depend on how rows and tokens are split.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/matmul.h"
#include "backend/cpu/quantize_activations.h"
#include "formats/tensor_type.h"

namespace quant::cpu {
namespace {

constexpr uint64_t kRows = 21;
constexpr uint32_t kTokens = 19;  // a full group of 16 or four of 4, and a remainder

std::vector<float> normal_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// A weight of `type` with random values, and its F32 rows as the file's dequantizer gives them.
struct TestWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  size_t row_bytes;
};

TestWeight make_weight(TensorType type, uint64_t cols, uint32_t seed) {
  TestWeight w;
  w.row_bytes = *row_bytes(type, cols);
  const std::vector<float> source = normal_values(kRows * cols, seed);
  w.bytes.resize(kRows * w.row_bytes);
  quantize_rows(type, source.data(), w.bytes.data(), kRows, static_cast<int64_t>(cols));
  w.values.resize(source.size());
  dequantize_rows(type, w.bytes.data(), w.values.data(), kRows, static_cast<int64_t>(cols));
  return w;
}

// n_tokens activation rows as the kernels read them, and their values as F32.
struct TestActivations {
  ActivationLayout layout;
  std::vector<uint8_t> rows;
  size_t stride;
  std::vector<float> values;  // what the kernel multiplies with, dequantized
};

TestActivations make_activations(ActivationFormat format, uint64_t cols, uint32_t seed,
                                 uint32_t n_tokens = kTokens) {
  TestActivations a;
  a.layout = activation_layout(format, cols);
  const std::vector<float> x = normal_values(n_tokens * cols, seed);
  if (format == ActivationFormat::F32) {
    a.stride = (cols + 3) * sizeof(float);  // rows of a batch need not be packed
    a.rows.resize(n_tokens * a.stride);
    for (uint32_t t = 0; t < n_tokens; ++t)
      std::memcpy(a.rows.data() + t * a.stride, x.data() + t * cols, cols * sizeof(float));
    a.values = x;
    return a;
  }
  a.stride = a.layout.row_bytes;
  a.rows.resize(n_tokens * a.stride);
  a.values.resize(x.size());
  const uint64_t block = format == ActivationFormat::Q8_K ? 256 : 32;
  for (uint32_t t = 0; t < n_tokens; ++t) {
    uint8_t* row = a.rows.data() + t * a.stride;
    quantize_activation_row_reference(x.data() + t * cols, a.layout, row);
    for (uint64_t c = 0; c < cols; ++c) {
      float d;
      std::memcpy(&d, row + a.layout.scales_offset + (c / block) * sizeof(float), sizeof(d));
      a.values[t * cols + c] = static_cast<float>(reinterpret_cast<const int8_t*>(row)[c]) * d;
    }
  }
  return a;
}

// out[t * out_stride + r] for all rows and tokens by the kernel of `isa`, the rows split at `split`
// into two calls; with the activation tiles the kernel wants for the batch.
std::vector<float> run_kernel(Isa isa, TensorType type, const TestWeight& w,
                              const TestActivations& a, uint64_t cols, uint32_t first_token,
                              uint32_t n_tokens, uint64_t split = kRows) {
  const MatmulRowsFn kernel = matmul_kernel(isa, type);
  const size_t out_stride = kRows + 5;
  std::vector<float> out(n_tokens * out_stride, NAN);
  const uint8_t* rows = a.rows.data() + first_token * a.stride;
  std::vector<uint8_t> tiles;
  if (uses_activation_tiles(isa, a.layout.format, n_tokens)) {
    tiles.resize(activation_tile_bytes(cols, n_tokens));
    tile_activations(rows, a.stride, a.layout, n_tokens, 0, n_tokens, tiles.data());
  }
  const MatmulArgs args{.weights = w.bytes.data(),
                        .weight_row_bytes = w.row_bytes,
                        .cols = cols,
                        .activations = rows,
                        .activation_stride = a.stride,
                        .layout = a.layout,
                        .n_tokens = n_tokens,
                        .out = out.data(),
                        .out_stride = out_stride,
                        .activation_tiles = tiles.empty() ? nullptr : tiles.data()};
  kernel(args, 0, split);
  if (split < kRows) kernel(args, split, kRows);
  std::vector<float> packed;
  for (uint32_t t = 0; t < n_tokens; ++t)
    packed.insert(packed.end(), out.begin() + t * out_stride, out.begin() + t * out_stride + kRows);
  return packed;
}

struct Case {
  TensorType type;
  std::vector<uint64_t> cols;
};

const std::vector<Case> kCases = {
    {TensorType::F32, {1, 7, 16, 37, 300}},    {TensorType::F16, {1, 7, 16, 37, 300}},
    {TensorType::BF16, {5, 16, 37, 300}},      {TensorType::Q4_0, {32, 96, 352}},
    {TensorType::Q4_1, {32, 96, 352}},         {TensorType::Q5_0, {32, 96, 352}},
    {TensorType::Q5_1, {32, 96, 352}},         {TensorType::Q8_0, {32, 96, 352}},
    {TensorType::Q4_K, {256, 512, 768, 4352}}, {TensorType::Q5_K, {256, 512, 768, 4352}},
    {TensorType::Q6_K, {256, 512, 768, 4352}},
};

std::string describe(TensorType type, uint64_t cols) {
  return std::string(type_traits(type).name) + " cols " + std::to_string(cols);
}

TEST(MatmulTest, ScalarReferenceMatchesDoubleProductOfDequantizedOperands) {
  for (const Case& c : kCases)
    for (const uint64_t cols : c.cols) {
      const TestWeight w = make_weight(c.type, cols, 1);
      const TestActivations a = make_activations(*activation_format(c.type), cols, 2);
      const std::vector<float> got = run_kernel(Isa::Scalar, c.type, w, a, cols, 0, kTokens);
      for (uint32_t t = 0; t < kTokens; ++t)
        for (uint64_t r = 0; r < kRows; ++r) {
          double expected = 0.0, magnitude = 0.0;
          for (uint64_t i = 0; i < cols; ++i) {
            const double product = double{w.values[r * cols + i]} * a.values[t * cols + i];
            expected += product;
            magnitude += std::fabs(product);
          }
          ASSERT_NEAR(got[t * kRows + r], expected, 1e-5 * magnitude + 1e-6)
              << describe(c.type, cols) << " token " << t << " row " << r;
        }
    }
}

TEST(MatmulTest, SimdKernelsMatchTheScalarReference) {
  for (const Isa isa : {Isa::Avx2, Isa::Avx512Vnni, Isa::Amx}) {
    if (!isa_available(isa)) {
      std::printf("  %s: not available here, not tested\n", std::string(isa_name(isa)).c_str());
      continue;
    }
    for (const Case& c : kCases)
      for (const uint64_t cols : c.cols) {
        const TestWeight w = make_weight(c.type, cols, 3);
        const TestActivations a = make_activations(*activation_format(c.type), cols, 4);
        const std::vector<float> expected = run_kernel(Isa::Scalar, c.type, w, a, cols, 0, kTokens);
        const std::vector<float> got = run_kernel(isa, c.type, w, a, cols, 0, kTokens);
        for (uint32_t t = 0; t < kTokens; ++t)
          for (uint64_t r = 0; r < kRows; ++r) {
            double magnitude = 0.0;
            for (uint64_t i = 0; i < cols; ++i)
              magnitude += std::fabs(double{w.values[r * cols + i]} * a.values[t * cols + i]);
            ASSERT_NEAR(got[t * kRows + r], expected[t * kRows + r], 2e-6 * magnitude + 1e-6)
                << isa_name(isa) << " " << describe(c.type, cols) << " token " << t << " row " << r;
          }
      }
  }
}

TEST(MatmulTest, ResultsDoNotDependOnHowRowsAndTokensAreSplit) {
  for (const Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni, Isa::Amx}) {
    if (!isa_available(isa)) continue;
    for (const Case& c : kCases) {
      const uint64_t cols = c.cols.back();
      const TestWeight w = make_weight(c.type, cols, 5);
      const TestActivations a = make_activations(*activation_format(c.type), cols, 6);
      const std::vector<float> all = run_kernel(isa, c.type, w, a, cols, 0, kTokens);
      // Rows split in two calls (as two threads would make them), tokens one at a time (decode).
      std::vector<float> one_by_one;
      for (uint32_t t = 0; t < kTokens; ++t) {
        const std::vector<float> single = run_kernel(isa, c.type, w, a, cols, t, 1, 5);
        one_by_one.insert(one_by_one.end(), single.begin(), single.end());
      }
      EXPECT_EQ(one_by_one, all) << isa_name(isa) << " " << describe(c.type, cols);
      // Tokens in groups that start off the kernel's own group boundaries.
      std::vector<float> shifted = run_kernel(isa, c.type, w, a, cols, 0, 3, 17);
      const std::vector<float> rest = run_kernel(isa, c.type, w, a, cols, 3, kTokens - 3, 2);
      shifted.insert(shifted.end(), rest.begin(), rest.end());
      EXPECT_EQ(shifted, all) << isa_name(isa) << " " << describe(c.type, cols);
    }
  }
}

// Batches of more token tiles than the AMX kernels keep at once (they decode the weights again for
// the rest), with a partial last tile, give the bits of tokens taken one at a time.
TEST(MatmulTest, AmxTilesOfLongBatchesGiveTheBitsOfSingleTokens) {
  if (!isa_available(Isa::Amx)) GTEST_SKIP() << "no AMX here";
  constexpr uint32_t kLongBatch = 150;
  for (const TensorType type : {TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    const uint64_t cols = 768;
    const TestWeight w = make_weight(type, cols, 7);
    const TestActivations a = make_activations(ActivationFormat::Q8_K, cols, 8, kLongBatch);
    ASSERT_TRUE(uses_activation_tiles(Isa::Amx, ActivationFormat::Q8_K, kLongBatch));
    const std::vector<float> all = run_kernel(Isa::Amx, type, w, a, cols, 0, kLongBatch, 9);
    std::vector<float> one_by_one;
    for (uint32_t t = 0; t < kLongBatch; ++t) {
      const std::vector<float> single = run_kernel(Isa::Amx, type, w, a, cols, t, 1);
      one_by_one.insert(one_by_one.end(), single.begin(), single.end());
    }
    EXPECT_EQ(one_by_one, all) << describe(type, cols);
  }
}

TEST(MatmulTest, TypesWithoutKernelsAreLeftToTheExactPath) {
  for (const TensorType type : {TensorType::Q8_1, TensorType::Q8_K}) {
    EXPECT_FALSE(activation_format(type).has_value());
    EXPECT_EQ(matmul_kernel(best_isa(), type), nullptr);
  }
  EXPECT_TRUE(isa_available(Isa::Scalar));
  EXPECT_TRUE(isa_available(best_isa()));
}

}  // namespace
}  // namespace quant::cpu
