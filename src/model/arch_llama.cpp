// llama: pre-norm decoder with RMSNorm, RoPE on adjacent pairs, grouped-query attention and a
// SwiGLU FFN. Also the architecture of stories260K, SmolLM2 and the tiny-llama test models.

#include <fmt/format.h>

#include "model/architectures.h"
#include "model/transformer_blocks.h"
#include "model/vocab_check.h"
#include "model/weight_binder.h"

namespace quant::model {

namespace {

constexpr TransformerConfig kLlamaConfig{.rope_style = plan::RopeStyle::AdjacentPairs};

struct LlamaLayer {
  AttentionWeights attention;
  FfnWeights ffn;
};

// Every tensor of a llama model, each declared once with its shape.
LlamaLayer bind_layer(WeightBinder& bind, const Hparams& hp, uint32_t i) {
  const auto name = [i](const char* suffix) { return fmt::format("blk.{}.{}.weight", i, suffix); };
  const uint64_t embd = hp.n_embd;
  const uint64_t q_size = uint64_t{hp.n_heads} * hp.head_dim;
  const uint64_t kv_size = uint64_t{hp.n_kv_heads} * hp.head_dim;
  return LlamaLayer{
      .attention = {.norm = bind.require(name("attn_norm"), {embd}),
                    .q = bind.require(name("attn_q"), {embd, q_size}),
                    .k = bind.require(name("attn_k"), {embd, kv_size}),
                    .v = bind.require(name("attn_v"), {embd, kv_size}),
                    .output = bind.require(name("attn_output"), {q_size, embd}),
                    .q_norm = std::nullopt,
                    .k_norm = std::nullopt},
      .ffn = {.norm = bind.require(name("ffn_norm"), {embd}),
              .gate = bind.require(name("ffn_gate"), {embd, hp.n_ff}),
              .up = bind.require(name("ffn_up"), {embd, hp.n_ff}),
              .down = bind.require(name("ffn_down"), {hp.n_ff, embd})},
  };
}

}  // namespace

BuiltModel build_llama(const gguf::GgufFile& file) {
  BuiltModel built{.hparams = read_hparams(file, "llama"), .plan = {}};
  const Hparams& hp = built.hparams;
  plan::Plan& plan = built.plan;

  check_vocab_matches_embeddings(file, hp, "token_embd.weight");
  WeightBinder bind(file, plan);
  const uint64_t embd = hp.n_embd;
  const plan::WeightId token_embd = bind.require("token_embd.weight", {embd, hp.n_vocab});
  const plan::WeightId output_norm = bind.require("output_norm.weight", {embd});
  // Without output.weight the embeddings are tied: the output projection reuses token_embd.
  const plan::WeightId output =
      bind.optional("output.weight", {embd, hp.n_vocab}).value_or(token_embd);

  const TransformerBuffers buffers = add_transformer_buffers(plan, hp);
  add_embedding(plan, buffers, token_embd);
  for (uint32_t i = 0; i < hp.n_layers; ++i) {
    const LlamaLayer layer = bind_layer(bind, hp, i);
    add_attention_block(plan, buffers, hp, kLlamaConfig, layer.attention, static_cast<int32_t>(i));
    add_swiglu_ffn_block(plan, buffers, hp, layer.ffn, static_cast<int32_t>(i));
  }
  add_output(plan, buffers, hp, output_norm, output);
  bind.check_all_bound(hp.architecture);
  plan::check_plan(plan);
  return built;
}

}  // namespace quant::model
