// qwen3: the llama layout with a per-head RMSNorm of q and k before RoPE (attn_q_norm,
// attn_k_norm), NeoX RoPE and a head size of its own (attention.key_length, 128 in the real models,
// so n_heads * head_dim may differ from n_embd). No biases; embeddings tied in the small models.

#include "model/architectures.h"
#include "model/dense_transformer.h"

namespace quant::model {

BuiltModel build_qwen3(const gguf::GgufFile& file) {
  return build_dense_transformer(file, "qwen3",
                                 {.rope_style = plan::RopeStyle::Neox, .head_norms = true});
}

}  // namespace quant::model
