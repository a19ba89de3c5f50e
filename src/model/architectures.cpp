#include "model/architectures.h"

#include <array>

namespace quant::model {

namespace {

constexpr std::array kArchitectures{
    Architecture{"llama", &build_llama},
    Architecture{"qwen3", &build_qwen3},
    Architecture{"qwen35", &build_qwen35},
};

}  // namespace

std::span<const Architecture> architectures() {
  return kArchitectures;
}

const Architecture* find_architecture(std::string_view name) {
  for (const Architecture& arch : kArchitectures)
    if (arch.name == name) return &arch;
  return nullptr;
}

}  // namespace quant::model
