// Loading llama models: hyperparameters, weight binding, the plan's shape, and one clear error for
// each kind of broken file.

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "common/error.h"
#include "model/model.h"
#include "model/tiny_llama_gguf.h"

namespace quant {
namespace {

using test::TinyLlamaSpec;
using test::write_tiny_llama;

// The message of the quant::Error that loading `path` throws ("" when it loads).
std::string load_error(const std::string& path) {
  try {
    (void)model::Model::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelLoadTest, ReadsHyperparametersWithDefaults) {
  const model::Model m = model::Model::load(write_tiny_llama(TinyLlamaSpec{}, "ok.gguf"));
  const model::Hparams& hp = m.hparams();
  EXPECT_EQ(hp.architecture, "llama");
  EXPECT_EQ(hp.n_layers, 2u);
  EXPECT_EQ(hp.n_mtp_layers, 0u);  // no nextn_predict_layers
  EXPECT_EQ(hp.block_count(), 2u);
  EXPECT_EQ(hp.n_embd, 32u);
  EXPECT_EQ(hp.n_ff, 48u);
  EXPECT_EQ(hp.n_heads, 4u);
  EXPECT_EQ(hp.n_kv_heads, 2u);
  EXPECT_EQ(hp.head_dim, 8u);  // n_embd / n_heads without attention.key_length
  EXPECT_EQ(hp.n_rot, 8u);     // head_dim without rope.dimension_count
  EXPECT_EQ(hp.n_vocab, 40u);
  EXPECT_EQ(hp.context_length, 64u);
  EXPECT_FLOAT_EQ(hp.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(hp.rms_eps, 1e-5f);
}

TEST(ModelLoadTest, PlanHasOneBlockPerLayerAndTiedOutput) {
  const model::Model m = model::Model::load(write_tiny_llama(TinyLlamaSpec{}, "plan.gguf"));
  const plan::Plan& p = m.plan();
  EXPECT_EQ(p.n_vocab, 40u);
  EXPECT_EQ(p.kv_caches.size(), 2u);
  ASSERT_TRUE(std::holds_alternative<plan::Embed>(p.ops.front().kind));
  ASSERT_TRUE(std::holds_alternative<plan::MatVec>(p.ops.back().kind));
  EXPECT_EQ(p.ops.back().name, "logits");
  // Tied: the output projection is the embedding table itself, bound once.
  const auto& embed = std::get<plan::Embed>(p.ops.front().kind);
  const auto& logits = std::get<plan::MatVec>(p.ops.back().kind);
  EXPECT_EQ(logits.weight, embed.table);
  EXPECT_EQ(p.weights.size(), 2u + 9u * 2u);
  int attention_ops = 0;
  for (const plan::Op& op : p.ops) {
    if (std::holds_alternative<plan::Attention>(op.kind)) {
      EXPECT_EQ(op.layer, attention_ops);
      ++attention_ops;
    }
  }
  EXPECT_EQ(attention_ops, 2);
}

TEST(ModelLoadTest, UsesOutputWeightWhenPresent) {
  TinyLlamaSpec spec;
  spec.tied_embeddings = false;
  const model::Model m = model::Model::load(write_tiny_llama(spec, "untied.gguf"));
  const auto& logits = std::get<plan::MatVec>(m.plan().ops.back().kind);
  EXPECT_EQ(m.plan().weight(logits.weight).name, "output.weight");
}

TEST(ModelLoadTest, RejectsUnknownArchitecture) {
  TinyLlamaSpec spec;
  spec.architecture = "mamba9";
  const std::string message = load_error(write_tiny_llama(spec, "arch.gguf"));
  EXPECT_NE(message.find("unknown architecture 'mamba9'"), std::string::npos) << message;
  EXPECT_NE(message.find("llama"), std::string::npos) << message;
}

TEST(ModelLoadTest, RejectsMissingTensor) {
  TinyLlamaSpec spec;
  spec.omit_tensors = {"blk.1.ffn_up.weight"};
  const std::string message = load_error(write_tiny_llama(spec, "missing.gguf"));
  EXPECT_NE(message.find("missing tensor 'blk.1.ffn_up.weight'"), std::string::npos) << message;
}

TEST(ModelLoadTest, RejectsWrongShapeNamingBoth) {
  TinyLlamaSpec spec;
  spec.shape_overrides = {{"blk.0.attn_k.weight", {32, 8}}};
  const std::string message = load_error(write_tiny_llama(spec, "shape.gguf"));
  EXPECT_NE(message.find("'blk.0.attn_k.weight' has shape [32, 8], expected [32, 16]"),
            std::string::npos)
      << message;
}

TEST(ModelLoadTest, RejectsVocabularyThatDisagreesWithEmbeddings) {
  TinyLlamaSpec spec;
  spec.tokenizer_vocab = 41;
  const std::string message = load_error(write_tiny_llama(spec, "vocab.gguf"));
  EXPECT_NE(message.find("vocabulary has 41 tokens but 'token_embd.weight' has 40 rows"),
            std::string::npos)
      << message;
}

TEST(ModelLoadTest, RejectsTensorsTheArchitectureDoesNotUse) {
  TinyLlamaSpec spec;
  spec.extra_tensors = {"blk.0.attn_q.bias"};
  const std::string message = load_error(write_tiny_llama(spec, "extra.gguf"));
  EXPECT_NE(message.find("'blk.0.attn_q.bias' is not used"), std::string::npos) << message;
}

TEST(ModelLoadTest, RejectsMissingOrInconsistentHyperparameters) {
  TinyLlamaSpec missing;
  missing.omit_keys = {"feed_forward_length"};
  std::string message = load_error(write_tiny_llama(missing, "nokey.gguf"));
  EXPECT_NE(message.find("missing metadata key 'llama.feed_forward_length'"), std::string::npos)
      << message;

  TinyLlamaSpec heads;
  heads.n_kv_heads = 3;  // does not divide 4
  message = load_error(write_tiny_llama(heads, "heads.gguf"));
  EXPECT_NE(message.find("llama.attention.head_count_kv"), std::string::npos) << message;

  TinyLlamaSpec zero_layers;
  zero_layers.n_layers = 0;
  message = load_error(write_tiny_llama(zero_layers, "layers.gguf"));
  EXPECT_NE(message.find("llama.block_count' is 0"), std::string::npos) << message;
}

}  // namespace
}  // namespace quant
