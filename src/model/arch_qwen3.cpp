// qwen3: the llama layout with a per-head RMSNorm of q and k before RoPE (attn_q_norm,
// attn_k_norm), NeoX RoPE and a head size of its own (attention.key_length, 128 in the real models,
// so n_heads * head_dim may differ from n_embd). No biases; embeddings tied in the small models.

#include <fmt/format.h>

#include "model/architectures.h"
#include "model/transformer_blocks.h"
#include "model/vocab_check.h"
#include "model/weight_binder.h"

namespace quant::model {

namespace {

constexpr TransformerConfig kQwen3Config{.rope_style = plan::RopeStyle::Neox};

struct Qwen3Layer {
  AttentionWeights attention;
  FfnWeights ffn;
};

// Every tensor of a qwen3 layer, each declared once with its shape.
Qwen3Layer bind_layer(WeightBinder& bind, const Hparams& hp, uint32_t i) {
  const auto name = [i](const char* suffix) { return fmt::format("blk.{}.{}.weight", i, suffix); };
  const uint64_t embd = hp.n_embd;
  const uint64_t q_size = uint64_t{hp.n_heads} * hp.head_dim;
  const uint64_t kv_size = uint64_t{hp.n_kv_heads} * hp.head_dim;
  return Qwen3Layer{
      .attention = {.norm = bind.require(name("attn_norm"), {embd}),
                    .q = bind.require(name("attn_q"), {embd, q_size}),
                    .k = bind.require(name("attn_k"), {embd, kv_size}),
                    .v = bind.require(name("attn_v"), {embd, kv_size}),
                    .output = bind.require(name("attn_output"), {q_size, embd}),
                    .q_norm = bind.require(name("attn_q_norm"), {hp.head_dim}),
                    .k_norm = bind.require(name("attn_k_norm"), {hp.head_dim})},
      .ffn = {.norm = bind.require(name("ffn_norm"), {embd}),
              .gate = bind.require(name("ffn_gate"), {embd, hp.n_ff}),
              .up = bind.require(name("ffn_up"), {embd, hp.n_ff}),
              .down = bind.require(name("ffn_down"), {hp.n_ff, embd})},
  };
}

}  // namespace

BuiltModel build_qwen3(const gguf::GgufFile& file) {
  BuiltModel built{.hparams = read_hparams(file, "qwen3"), .plan = {}};
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
    const Qwen3Layer layer = bind_layer(bind, hp, i);
    add_attention_block(plan, buffers, hp, kQwen3Config, layer.attention, static_cast<int32_t>(i));
    add_swiglu_ffn_block(plan, buffers, hp, layer.ffn, static_cast<int32_t>(i));
  }
  add_output(plan, buffers, hp, output_norm, output);
  bind.check_all_bound(hp.architecture);
  plan::check_plan(plan);
  return built;
}

}  // namespace quant::model
