#include "model/dense_transformer.h"

#include "model/transformer_weights.h"
#include "model/vocab_check.h"
#include "model/weight_binder.h"

namespace quant::model {

BuiltModel build_dense_transformer(const gguf::GgufFile& file, const std::string& architecture,
                                   const TransformerConfig& config) {
  BuiltModel built{.hparams = read_hparams(file, architecture), .plan = {}};
  const Hparams& hp = built.hparams;
  plan::Plan& plan = built.plan;

  check_vocab_matches_embeddings(file, hp, "token_embd.weight");
  WeightBinder bind(file, plan);
  const EmbeddingAndOutputWeights ends = bind_embedding_and_output(bind, hp);

  const TransformerBuffers buffers = add_transformer_buffers(plan, hp, config);
  add_embedding(plan, buffers, ends.token_embd);
  for (uint32_t i = 0; i < hp.n_layers; ++i) {
    const AttentionWeights attention = bind_attention(bind, hp, config, i);
    const FfnWeights ffn = bind_swiglu_ffn(bind, hp, "ffn_norm", i);
    const auto layer = static_cast<int32_t>(i);
    add_attention_block(plan, buffers, hp, config, attention, layer);
    add_swiglu_ffn_block(plan, buffers, hp, ffn, layer);
  }
  add_output(plan, buffers, hp, ends.output_norm, ends.output);
  bind.check_all_bound(hp.architecture);
  plan::check_plan(plan);
  return built;
}

}  // namespace quant::model
