#include "model/transformer_blocks.h"

#include <cassert>
#include <cmath>

namespace quant::model {

using plan::BufferId;

TransformerBuffers add_transformer_buffers(plan::Plan& plan, const Hparams& hp,
                                           const TransformerConfig& config) {
  const uint64_t q_size = uint64_t{hp.n_heads} * hp.head_dim;
  const uint64_t kv_size = uint64_t{hp.n_kv_heads} * hp.head_dim;
  TransformerBuffers buffers{
      .x = plan.add_buffer("x", hp.n_embd),
      .normed = plan.add_buffer("normed", hp.n_embd),
      .q = plan.add_buffer("q", q_size),
      .k = plan.add_buffer("k", kv_size),
      .v = plan.add_buffer("v", kv_size),
      .attn = plan.add_buffer("attn", q_size),
      .proj = plan.add_buffer("proj", hp.n_embd),
      .gate = plan.add_buffer("gate", hp.n_ff),
      .up = plan.add_buffer("up", hp.n_ff),
      .logits = plan.add_buffer("logits", hp.n_vocab),
      .gated_query = std::nullopt,
  };
  if (config.gated_query)
    buffers.gated_query = GatedQueryBuffers{.q_gate = plan.add_buffer("q_gate", 2 * q_size),
                                            .gate = plan.add_buffer("attn_gate", q_size)};
  return buffers;
}

void add_pre_norm(plan::Plan& plan, const TransformerBuffers& b, const Hparams& hp,
                  plan::WeightId weight, const char* name, int32_t layer) {
  plan.add_op(plan::RmsNorm{.in = b.x,
                            .weight = weight,
                            .out = b.normed,
                            .n_groups = 1,
                            .group_size = hp.n_embd,
                            .eps = hp.rms_eps},
              name, layer);
}

void add_attention_block(plan::Plan& plan, const TransformerBuffers& b, const Hparams& hp,
                         const TransformerConfig& config, const AttentionWeights& w,
                         int32_t layer) {
  assert(w.q_norm.has_value() == config.head_norms && w.k_norm.has_value() == config.head_norms);
  add_pre_norm(plan, b, hp, w.norm, "attn_norm", layer);
  if (config.gated_query) {
    assert(b.gated_query);
    const GatedQueryBuffers& gated = *b.gated_query;
    plan.add_op(plan::MatVec{.weight = w.q, .in = b.normed, .out = gated.q_gate}, "q_gate", layer);
    const auto slice = [&](BufferId out, uint32_t offset, const char* name) {
      plan.add_op(plan::SliceHeads{.in = gated.q_gate,
                                   .out = out,
                                   .n_heads = hp.n_heads,
                                   .in_head_stride = 2 * hp.head_dim,
                                   .in_offset = offset,
                                   .size = hp.head_dim},
                  name, layer);
    };
    slice(b.q, 0, "q");
    slice(gated.gate, hp.head_dim, "attn_gate");
  } else {
    plan.add_op(plan::MatVec{.weight = w.q, .in = b.normed, .out = b.q}, "q", layer);
  }
  plan.add_op(plan::MatVec{.weight = w.k, .in = b.normed, .out = b.k}, "k", layer);
  plan.add_op(plan::MatVec{.weight = w.v, .in = b.normed, .out = b.v}, "v", layer);
  const auto head_norm = [&](BufferId buf, plan::WeightId weight, uint32_t n_heads,
                             const char* name) {
    plan.add_op(plan::RmsNorm{.in = buf,
                              .weight = weight,
                              .out = buf,
                              .n_groups = n_heads,
                              .group_size = hp.head_dim,
                              .eps = hp.rms_eps},
                name, layer);
  };
  if (w.q_norm) head_norm(b.q, *w.q_norm, hp.n_heads, "q_norm");
  if (w.k_norm) head_norm(b.k, *w.k_norm, hp.n_kv_heads, "k_norm");
  const auto rope = [&](BufferId buf, uint32_t n_heads, const char* name) {
    plan.add_op(plan::Rope{.buf = buf,
                           .n_heads = n_heads,
                           .head_dim = hp.head_dim,
                           .n_rot = hp.n_rot,
                           .theta = hp.rope_theta,
                           .style = config.rope_style},
                name, layer);
  };
  rope(b.q, hp.n_heads, "q_rope");
  rope(b.k, hp.n_kv_heads, "k_rope");
  const plan::KvCacheId cache = plan.add_kv_cache(
      plan::KvCacheDecl{.layer = layer, .n_kv_heads = hp.n_kv_heads, .head_dim = hp.head_dim});
  plan.add_op(plan::KvStore{.k = b.k, .v = b.v, .cache = cache}, "kv_store", layer);
  plan.add_op(plan::Attention{.q = b.q,
                              .cache = cache,
                              .out = b.attn,
                              .n_heads = hp.n_heads,
                              .n_kv_heads = hp.n_kv_heads,
                              .head_dim = hp.head_dim,
                              .scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim))},
              "attn", layer);
  if (config.gated_query)
    plan.add_op(plan::SigmoidGate{.in = b.attn, .gate = b.gated_query->gate, .out = b.attn},
                "attn_gated", layer);
  plan.add_op(plan::MatVec{.weight = w.output, .in = b.attn, .out = b.proj}, "attn_out", layer);
  plan.add_op(plan::Add{.a = b.x, .b = b.proj, .out = b.x}, "attn_residual", layer);
}

void add_swiglu_ffn_block(plan::Plan& plan, const TransformerBuffers& b, const Hparams& hp,
                          const FfnWeights& w, int32_t layer) {
  add_pre_norm(plan, b, hp, w.norm, "ffn_norm", layer);
  plan.add_op(plan::MatVec{.weight = w.gate, .in = b.normed, .out = b.gate}, "ffn_gate", layer);
  plan.add_op(plan::MatVec{.weight = w.up, .in = b.normed, .out = b.up}, "ffn_up", layer);
  plan.add_op(plan::SwiGLU{.gate = b.gate, .up = b.up, .out = b.gate}, "ffn_swiglu", layer);
  plan.add_op(plan::MatVec{.weight = w.down, .in = b.gate, .out = b.proj}, "ffn_down", layer);
  plan.add_op(plan::Add{.a = b.x, .b = b.proj, .out = b.x}, "ffn_residual", layer);
}

void add_embedding(plan::Plan& plan, const TransformerBuffers& b, plan::WeightId token_embd) {
  plan.add_op(plan::Embed{.table = token_embd, .out = b.x}, "embed", -1);
}

void add_output(plan::Plan& plan, const TransformerBuffers& b, const Hparams& hp,
                plan::WeightId output_norm, plan::WeightId output) {
  add_pre_norm(plan, b, hp, output_norm, "output_norm", -1);
  plan.add_op(plan::MatVec{.weight = output, .in = b.normed, .out = b.logits}, "logits", -1);
  plan.logits = b.logits;
  plan.n_vocab = hp.n_vocab;
}

}  // namespace quant::model
