#pragma once
// Reading the llama.cpp reference outputs in ../shared/reference/logits (see its README, section
// 2).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "common/shared_data.h"

namespace quant::test {

// The plain set (no Flash Attention, F32 KV cache, no weight repacking): the closest to our
// arithmetic.
inline std::string plain_reference(const std::string& file) {
  return shared_path("reference/logits/plain-nofa-f32kv-norepack/" + file);
}

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_text_file(path));
}

inline std::vector<float> read_f32_file(const std::string& path) {
  const std::string bytes = read_text_file(path);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

// A model's reference: its JSON and its [n_positions, n_vocab] logits.
struct ReferenceLogits {
  nlohmann::json meta;
  std::vector<float> logits;
  uint32_t n_vocab = 0;

  std::span<const float> row(size_t position) const {
    return std::span<const float>(logits).subspan(position * n_vocab, n_vocab);
  }
};

// max |actual - expected| over two rows of the same length.
inline double max_abs_difference(std::span<const float> actual, std::span<const float> expected) {
  EXPECT_EQ(actual.size(), expected.size());
  double worst = 0.0;
  for (size_t i = 0; i < std::min(actual.size(), expected.size()); ++i)
    worst = std::max(worst, std::fabs(double{actual[i]} - double{expected[i]}));
  return worst;
}

// max |actual - expected| / max |expected| over two rows of the same length.
inline double relative_error(std::span<const float> actual, std::span<const float> expected) {
  double max_magnitude = 0.0;
  for (const float value : expected)
    max_magnitude = std::max(max_magnitude, std::fabs(double{value}));
  return max_abs_difference(actual, expected) / max_magnitude;
}

// How close a backend must come to the reference for `model` (the README's "Tolerances"): a bound
// on max|ours - ref| / max|ref| per position, or on max|ours - ref| where the README gives
// absolute figures (tiny-qwen35); and the top-1/top-2 gap under which a reference choice is a
// near-tie either side may resolve the other way.
struct ReferenceTolerance {
  double max_error = 0.0;
  bool absolute = false;
  double near_tie = 0.05;
};

inline ReferenceTolerance reference_tolerance(const std::string& model) {
  const auto has = [&](const char* part) { return model.find(part) != std::string::npos; };
  if (model == "stories260K-f32") return {1e-4};
  if (has("tiny-qwen35")) return {has("f16") ? 1e-2 : has("Q8_0") ? 0.15 : 0.35, true, 0.06};
  if (has("f16")) return {2e-3};
  if (has("Q8_0")) return {3e-2};
  EXPECT_TRUE(has("Q4_K_M")) << "no reference tolerance for " << model;
  return {4e-2};
}

inline ReferenceLogits load_plain_reference(const std::string& model) {
  ReferenceLogits ref;
  ref.meta = read_json(plain_reference(model + ".json"));
  ref.n_vocab = ref.meta.at("n_vocab").get<uint32_t>();
  ref.logits = read_f32_file(plain_reference(model + ".logits.f32"));
  EXPECT_EQ(ref.logits.size(), ref.meta.at("n_positions").get<size_t>() * ref.n_vocab);
  return ref;
}

inline std::string model_path(const std::string& model) {
  return shared_path("data/models/" + model + ".gguf");
}

// The index of the largest value; ties go to the lower index (as the reference's greedy decoding).
inline int32_t argmax(std::span<const float> values) {
  size_t best = 0;
  for (size_t i = 1; i < values.size(); ++i)
    if (values[i] > values[best]) best = i;
  return static_cast<int32_t>(best);
}

}  // namespace quant::test
