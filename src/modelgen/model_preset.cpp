#include "modelgen/model_preset.h"

#include <fmt/ranges.h>

#include "common/error.h"

namespace quant::modelgen {

namespace {

// Hyper-parameters from each model's config.json (real models) or from shared/reference/README.md
// (tiny).
constexpr DeltaNetShape kQwen35DeltaNet4B{4, 128, 16, 32, 4, {11, 11, 10, 0}};
constexpr DeltaNetShape kQwen35DeltaNetTiny{4, 32, 4, 8, 4, {3, 3, 2, 0}};

// clang-format off
constexpr ModelPreset kPresets[] = {
    // name            arch                  vocab   ctx    hidden layers ffn  heads kv  hdim rope theta   eps   tied  pre
    {"smollm2-1.7b",   Architecture::Llama,  49152,  8192,  2048, 24,  8192,  32,  32,  64,  64, 130000.0f, 1e-5f, true, "smollm", {}},
    {"qwen3-4b",       Architecture::Qwen3,  151936, 40960, 2560, 36,  9728,  32,  8,   128, 128, 1e6f,    1e-6f, true, "qwen2",  {}},
    {"qwen3.5-4b",     Architecture::Qwen35, 248320, 262144, 2560, 32, 9216,  16,  4,   256, 64,  1e7f,    1e-6f, true, "qwen35", kQwen35DeltaNet4B},
    {"tiny-llama",     Architecture::Llama,  512,    512,   256,  2,   512,   4,   4,   64,  64,  130000.0f, 1e-5f, true, "smollm", {}},
    {"tiny-llama-deep", Architecture::Llama, 512,    512,   256,  8,   768,   4,   2,   64,  64,  130000.0f, 1e-5f, true, "smollm", {}},
    {"tiny-qwen3",     Architecture::Qwen3,  640,    1024,  256,  2,   512,   4,   2,   128, 128, 1e6f,    1e-6f, true, "qwen2",  {}},
    {"tiny-qwen35",    Architecture::Qwen35, 640,    1024,  256,  8,   512,   4,   2,   64,  16,  1e7f,    1e-6f, true, "qwen35", kQwen35DeltaNetTiny},
};
// clang-format on

}  // namespace

std::string_view architecture_name(Architecture arch) {
  switch (arch) {
    case Architecture::Llama:
      return "llama";
    case Architecture::Qwen3:
      return "qwen3";
    case Architecture::Qwen35:
      return "qwen35";
  }
  return "";
}

const ModelPreset& find_model_preset(std::string_view name) {
  for (const auto& preset : kPresets) {
    if (preset.name == name) return preset;
  }
  fail("unknown model preset '{}' (known: {})", name, fmt::join(model_preset_names(), ", "));
}

std::vector<std::string_view> model_preset_names() {
  std::vector<std::string_view> names;
  for (const auto& preset : kPresets) names.push_back(preset.name);
  return names;
}

}  // namespace quant::modelgen
