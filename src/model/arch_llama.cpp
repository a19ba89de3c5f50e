// llama: pre-norm decoder with RMSNorm, RoPE on adjacent pairs, grouped-query attention and a
// SwiGLU FFN. Also the architecture of stories260K, SmolLM2 and the tiny-llama test models.

#include "model/architectures.h"
#include "model/dense_transformer.h"

namespace quant::model {

BuiltModel build_llama(const gguf::GgufFile& file) {
  return build_dense_transformer(file, "llama", {.rope_style = plan::RopeStyle::AdjacentPairs});
}

}  // namespace quant::model
