#pragma once
// The plain llama-like decoder: token embedding, then in every layer the shared attention block and
// SwiGLU FFN (transformer_blocks.h), then the output norm and projection. Architectures of this
// shape (llama, qwen3) differ only in their TransformerConfig and build through this one function.

#include <string>

#include "gguf/gguf_file.h"
#include "model/architectures.h"
#include "model/transformer_blocks.h"

namespace quant::model {

// Reads `architecture`'s hyperparameters from `file`, binds every tensor (throwing quant::Error for
// a missing, misshapen or unused one) and returns the checked plan.
BuiltModel build_dense_transformer(const gguf::GgufFile& file, const std::string& architecture,
                                   const TransformerConfig& config);

}  // namespace quant::model
