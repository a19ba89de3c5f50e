#pragma once
// Building blocks shared by the llama-like architecture builders (llama, qwen3, the attention
// layers of qwen35): they append ops to a plan. What differs between architectures arrives as data
// (the weights present, TransformerConfig); these functions never ask which architecture they
// build.

#include <cstdint>
#include <optional>

#include "model/hparams.h"
#include "plan/plan.h"

namespace quant::model {

// The small differences between llama-like architectures.
struct TransformerConfig {
  plan::RopeStyle rope_style = plan::RopeStyle::AdjacentPairs;
  // Per-head RMSNorm of q and k before RoPE (qwen3, qwen35): the layer has attn_q_norm and
  // attn_k_norm (AttentionWeights::q_norm, k_norm).
  bool head_norms = false;
  // Gated attention (qwen35): attn_q yields [query_h | gate_h] per head, and the attention output
  // is multiplied by sigmoid(gate) before attn_output.
  bool gated_query = false;
};

// The buffers of a gated query (TransformerConfig::gated_query).
struct GatedQueryBuffers {
  plan::BufferId q_gate;  // n_heads x [query (head_dim) | gate (head_dim)]: attn_q's output
  plan::BufferId gate;    // n_heads x head_dim: the gates, sliced out of q_gate
};

// Activation buffers shared by all layers (each op's name and layer tell an observer which value it
// sees).
struct TransformerBuffers {
  plan::BufferId x;       // n_embd: the residual stream
  plan::BufferId normed;  // n_embd: RMSNorm(x) * weight, input of attention, FFN and output
  plan::BufferId q;       // n_heads x head_dim
  plan::BufferId k;       // n_kv_heads x head_dim
  plan::BufferId v;       // n_kv_heads x head_dim
  plan::BufferId attn;    // n_heads x head_dim: attention output before the output projection
  plan::BufferId proj;    // n_embd: output of attn_output / ffn_down, added to x
  plan::BufferId gate;    // n_ff: ffn_gate, then silu(gate) * up
  plan::BufferId up;      // n_ff
  plan::BufferId logits;  // n_vocab
  std::optional<GatedQueryBuffers> gated_query;  // with TransformerConfig::gated_query only
};

TransformerBuffers add_transformer_buffers(plan::Plan& plan, const Hparams& hp,
                                           const TransformerConfig& config = {});

struct AttentionWeights {
  plan::WeightId norm;                   // attn_norm [n_embd]
  plan::WeightId q;                      // attn_q [n_embd, n_heads * head_dim] (x2: gated_query)
  plan::WeightId k;                      // attn_k [n_embd, n_kv_heads * head_dim]
  plan::WeightId v;                      // attn_v [n_embd, n_kv_heads * head_dim]
  plan::WeightId output;                 // attn_output [n_heads * head_dim, n_embd]
  std::optional<plan::WeightId> q_norm;  // [head_dim]: per-head RMSNorm of q before RoPE (qwen3)
  std::optional<plan::WeightId> k_norm;  // [head_dim]: the same for k
};

struct FfnWeights {
  plan::WeightId norm;  // ffn_norm [n_embd]
  plan::WeightId gate;  // ffn_gate [n_embd, n_ff]
  plan::WeightId up;    // ffn_up [n_embd, n_ff]
  plan::WeightId down;  // ffn_down [n_ff, n_embd]
};

// normed <- RMSNorm(x) * weight: the norm in front of each block and of the output.
void add_pre_norm(plan::Plan& plan, const TransformerBuffers& buffers, const Hparams& hp,
                  plan::WeightId weight, const char* name, int32_t layer);

// x <- x + attn_output(Attention(RoPE(q), RoPE(k), v)) over RMSNorm(x) * attn_norm, storing k and v
// at the current position of a new KV cache for this layer; with config.gated_query, the attention
// output is multiplied by sigmoid(gate) first (`buffers` must come from add_transformer_buffers
// with the same config).
void add_attention_block(plan::Plan& plan, const TransformerBuffers& buffers, const Hparams& hp,
                         const TransformerConfig& config, const AttentionWeights& weights,
                         int32_t layer);

// x <- x + ffn_down(silu(ffn_gate h) * ffn_up h), h = RMSNorm(x) * ffn_norm.
void add_swiglu_ffn_block(plan::Plan& plan, const TransformerBuffers& buffers, const Hparams& hp,
                          const FfnWeights& weights, int32_t layer);

// The embedding of the token into x (first op of the plan).
void add_embedding(plan::Plan& plan, const TransformerBuffers& buffers, plan::WeightId token_embd);

// logits = output · (RMSNorm(x) * output_norm) (last op of the plan); sets plan.logits and n_vocab.
void add_output(plan::Plan& plan, const TransformerBuffers& buffers, const Hparams& hp,
                plan::WeightId output_norm, plan::WeightId output);

}  // namespace quant::model
