#pragma once
// The tensors of a synthetic model, in file order, with the names and shapes llama.cpp expects for
// the preset's architecture, and how each one's values are drawn (as the reference generator of the
// shared tiny models drew them).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "modelgen/model_preset.h"

namespace quant::modelgen {

struct WeightInit {
  enum class Kind {
    Normal,              // normal(0, scale)
    Constant,            // every value = scale
    Uniform,             // uniform(low, high)
    NegativeExpUniform,  // -exp(u), u uniform(low, high) with -1 <= low < high <= 1 (ssm_a)
  };
  Kind kind = Kind::Normal;
  float scale = 0.0f;
  float low = 0.0f;
  float high = 0.0f;
};

struct TensorRecipe {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the row length
  WeightInit init;
};

std::vector<TensorRecipe> tensor_recipes(const ModelPreset& preset);

// Fills `out` with rows first_row .. first_row + n_rows - 1 of a tensor. Each row has its own
// random stream keyed by (seed, tensor name, row), so any rows can be made in any order or thread.
void fill_rows(const TensorRecipe& recipe, uint64_t seed, uint64_t first_row, uint64_t n_rows,
               std::span<float> out);

}  // namespace quant::modelgen
