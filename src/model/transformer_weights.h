#pragma once
// The tensors of the shared transformer blocks (transformer_blocks.h), each declared once with the
// shape its block expects, for every architecture that uses those blocks.

#include <cstdint>
#include <string_view>

#include "model/hparams.h"
#include "model/transformer_blocks.h"
#include "model/weight_binder.h"

namespace quant::model {

struct EmbeddingAndOutputWeights {
  plan::WeightId token_embd;   // token_embd [n_embd, n_vocab]
  plan::WeightId output_norm;  // output_norm [n_embd]
  plan::WeightId output;       // output [n_embd, n_vocab], or token_embd when tied
};

// token_embd.weight, output_norm.weight and output.weight. Without output.weight the embeddings are
// tied: the output projection reuses token_embd.
EmbeddingAndOutputWeights bind_embedding_and_output(WeightBinder& bind, const Hparams& hp);

// blk.<layer>.attn_{norm,q,k,v,output}.weight, plus attn_q_norm and attn_k_norm with
// config.head_norms; attn_q yields twice the rows with config.gated_query.
AttentionWeights bind_attention(WeightBinder& bind, const Hparams& hp,
                                const TransformerConfig& config, uint32_t layer);

// blk.<layer>.<norm_name>.weight (the norm before the FFN: ffn_norm, or qwen35's
// post_attention_norm) and blk.<layer>.ffn_{gate,up,down}.weight.
FfnWeights bind_swiglu_ffn(WeightBinder& bind, const Hparams& hp, std::string_view norm_name,
                           uint32_t layer);

}  // namespace quant::model
