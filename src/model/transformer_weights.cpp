#include "model/transformer_weights.h"

#include <fmt/format.h>

#include <optional>
#include <string>

namespace quant::model {

namespace {

std::string layer_tensor(uint32_t layer, std::string_view name) {
  return fmt::format("blk.{}.{}.weight", layer, name);
}

}  // namespace

EmbeddingAndOutputWeights bind_embedding_and_output(WeightBinder& bind, const Hparams& hp) {
  const uint64_t embd = hp.n_embd;
  const plan::WeightId token_embd = bind.require("token_embd.weight", {embd, hp.n_vocab});
  const plan::WeightId output_norm = bind.require("output_norm.weight", {embd});
  return EmbeddingAndOutputWeights{
      .token_embd = token_embd,
      .output_norm = output_norm,
      .output = bind.optional("output.weight", {embd, hp.n_vocab}).value_or(token_embd),
  };
}

AttentionWeights bind_attention(WeightBinder& bind, const Hparams& hp,
                                const TransformerConfig& config, uint32_t layer) {
  const auto name = [layer](std::string_view suffix) { return layer_tensor(layer, suffix); };
  const uint64_t embd = hp.n_embd;
  const uint64_t q_size = uint64_t{hp.n_heads} * hp.head_dim;
  const uint64_t kv_size = uint64_t{hp.n_kv_heads} * hp.head_dim;
  const uint64_t q_rows = config.gated_query ? 2 * q_size : q_size;
  const auto head_norm = [&](std::string_view suffix) -> std::optional<plan::WeightId> {
    if (!config.head_norms) return std::nullopt;
    return bind.require(name(suffix), {hp.head_dim});
  };
  return AttentionWeights{
      .norm = bind.require(name("attn_norm"), {embd}),
      .q = bind.require(name("attn_q"), {embd, q_rows}),
      .k = bind.require(name("attn_k"), {embd, kv_size}),
      .v = bind.require(name("attn_v"), {embd, kv_size}),
      .output = bind.require(name("attn_output"), {q_size, embd}),
      .q_norm = head_norm("attn_q_norm"),
      .k_norm = head_norm("attn_k_norm"),
  };
}

FfnWeights bind_swiglu_ffn(WeightBinder& bind, const Hparams& hp, std::string_view norm_name,
                           uint32_t layer) {
  const auto name = [layer](std::string_view suffix) { return layer_tensor(layer, suffix); };
  const uint64_t embd = hp.n_embd;
  return FfnWeights{
      .norm = bind.require(name(norm_name), {embd}),
      .gate = bind.require(name("ffn_gate"), {embd, hp.n_ff}),
      .up = bind.require(name("ffn_up"), {embd, hp.n_ff}),
      .down = bind.require(name("ffn_down"), {hp.n_ff, embd}),
  };
}

}  // namespace quant::model
