#pragma once
// The table of supported architectures. Each architecture is one file, arch_<name>.cpp, in three
// parts: hyperparameters -> tensor declarations -> plan; those of the plain llama shape only give
// their TransformerConfig to build_dense_transformer (dense_transformer.h). Adding one = adding its
// file and a row to the table in architectures.cpp.

#include <span>
#include <string_view>

#include "gguf/gguf_file.h"
#include "model/hparams.h"
#include "plan/plan.h"

namespace quant::model {

struct BuiltModel {
  Hparams hparams;
  plan::Plan plan;  // checked (plan::check_plan); its weights view the file's mapping
};

struct Architecture {
  std::string_view name;  // general.architecture
  BuiltModel (*build)(const gguf::GgufFile& file);
};

std::span<const Architecture> architectures();
// The entry for `name`, or nullptr.
const Architecture* find_architecture(std::string_view name);

// One builder per arch_<name>.cpp.
BuiltModel build_llama(const gguf::GgufFile& file);
BuiltModel build_qwen3(const gguf::GgufFile& file);
BuiltModel build_qwen35(const gguf::GgufFile& file);

}  // namespace quant::model
