#include "modelgen/tensor_recipes.h"

#include <cassert>

#include <fmt/format.h>

#include "modelgen/deterministic_random.h"

namespace quant::modelgen {

namespace {

// Matrices: normal(0, 0.02); RMS-norm weights: 1.0. The delta-net's own tensors follow the
// reference README: the convolution is wider so that the last tokens matter, A = -exp(u) is
// negative so the state decays, and dt.bias in (-1, 0).
constexpr WeightInit kMatrix{WeightInit::Kind::Normal, 0.02f, 0, 0};
constexpr WeightInit kNorm{WeightInit::Kind::Constant, 1.0f, 0, 0};
constexpr WeightInit kConv{WeightInit::Kind::Normal, 0.3f, 0, 0};
constexpr WeightInit kSsmA{WeightInit::Kind::NegativeExpUniform, 0, -1.0f, 1.0f};
constexpr WeightInit kDtBias{WeightInit::Kind::Uniform, 0, -1.0f, 0.0f};

class RecipeList {
 public:
  void add(std::string name, std::vector<uint64_t> dims, WeightInit init) {
    recipes_.push_back({std::move(name), std::move(dims), init});
  }
  void add_layer(uint32_t layer, std::string_view name, std::vector<uint64_t> dims,
                 WeightInit init) {
    add(fmt::format("blk.{}.{}", layer, name), std::move(dims), init);
  }
  std::vector<TensorRecipe> take() { return std::move(recipes_); }

 private:
  std::vector<TensorRecipe> recipes_;
};

void add_ffn(RecipeList& list, const ModelPreset& p, uint32_t layer) {
  const uint64_t hidden = p.embedding_length;
  const uint64_t ffn = p.feed_forward_length;
  list.add_layer(layer, "ffn_gate.weight", {hidden, ffn}, kMatrix);
  list.add_layer(layer, "ffn_up.weight", {hidden, ffn}, kMatrix);
  list.add_layer(layer, "ffn_down.weight", {ffn, hidden}, kMatrix);
}

// llama and qwen3: attention, then the FFN; qwen3 adds per-head Q/K norms.
void add_transformer_layer(RecipeList& list, const ModelPreset& p, uint32_t layer) {
  const uint64_t hidden = p.embedding_length;
  const uint64_t q_size = uint64_t{p.head_count} * p.head_dim;
  const uint64_t kv_size = uint64_t{p.head_count_kv} * p.head_dim;
  list.add_layer(layer, "attn_norm.weight", {hidden}, kNorm);
  list.add_layer(layer, "attn_q.weight", {hidden, q_size}, kMatrix);
  list.add_layer(layer, "attn_k.weight", {hidden, kv_size}, kMatrix);
  list.add_layer(layer, "attn_v.weight", {hidden, kv_size}, kMatrix);
  list.add_layer(layer, "attn_output.weight", {q_size, hidden}, kMatrix);
  if (p.arch == Architecture::Qwen3) {
    list.add_layer(layer, "attn_q_norm.weight", {p.head_dim}, kNorm);
    list.add_layer(layer, "attn_k_norm.weight", {p.head_dim}, kNorm);
  }
  list.add_layer(layer, "ffn_norm.weight", {hidden}, kNorm);
  add_ffn(list, p, layer);
}

// qwen35 full-attention layer: attn_q yields a query and a gate per head.
void add_gated_attention_layer(RecipeList& list, const ModelPreset& p, uint32_t layer) {
  const uint64_t hidden = p.embedding_length;
  const uint64_t q_size = uint64_t{p.head_count} * p.head_dim;
  const uint64_t kv_size = uint64_t{p.head_count_kv} * p.head_dim;
  list.add_layer(layer, "attn_norm.weight", {hidden}, kNorm);
  list.add_layer(layer, "attn_q.weight", {hidden, 2 * q_size}, kMatrix);
  list.add_layer(layer, "attn_k.weight", {hidden, kv_size}, kMatrix);
  list.add_layer(layer, "attn_v.weight", {hidden, kv_size}, kMatrix);
  list.add_layer(layer, "attn_output.weight", {q_size, hidden}, kMatrix);
  list.add_layer(layer, "attn_q_norm.weight", {p.head_dim}, kNorm);
  list.add_layer(layer, "attn_k_norm.weight", {p.head_dim}, kNorm);
  list.add_layer(layer, "post_attention_norm.weight", {hidden}, kNorm);
  add_ffn(list, p, layer);
}

// qwen35 Gated DeltaNet layer.
void add_delta_net_layer(RecipeList& list, const ModelPreset& p, uint32_t layer) {
  const DeltaNetShape& d = p.delta_net;
  const uint64_t hidden = p.embedding_length;
  list.add_layer(layer, "attn_norm.weight", {hidden}, kNorm);
  list.add_layer(layer, "attn_qkv.weight", {hidden, d.qkv_size()}, kMatrix);
  list.add_layer(layer, "attn_gate.weight", {hidden, d.inner_size()}, kMatrix);
  list.add_layer(layer, "ssm_conv1d.weight", {d.conv_kernel, d.qkv_size()}, kConv);
  list.add_layer(layer, "ssm_dt.bias", {d.time_step_rank}, kDtBias);
  list.add_layer(layer, "ssm_a", {d.time_step_rank}, kSsmA);
  list.add_layer(layer, "ssm_beta.weight", {hidden, d.time_step_rank}, kMatrix);
  list.add_layer(layer, "ssm_alpha.weight", {hidden, d.time_step_rank}, kMatrix);
  list.add_layer(layer, "ssm_norm.weight", {d.state_size}, kNorm);
  list.add_layer(layer, "ssm_out.weight", {d.inner_size(), hidden}, kMatrix);
  list.add_layer(layer, "post_attention_norm.weight", {hidden}, kNorm);
  add_ffn(list, p, layer);
}

// One row of values. The switch stays outside the loops: this is the inner loop of make-model.
void fill_row(const WeightInit& init, SplitMix64& random, float* row, uint64_t n) {
  switch (init.kind) {
    case WeightInit::Kind::Normal: {
      const double scale = static_cast<double>(init.scale) * coin_sum_unit_scale();
      for (uint64_t i = 0; i < n; ++i) {
        row[i] = static_cast<float>(static_cast<double>(centered_coin_sum(random.next())) * scale);
      }
      break;
    }
    case WeightInit::Kind::Constant:
      for (uint64_t i = 0; i < n; ++i) row[i] = init.scale;
      break;
    case WeightInit::Kind::Uniform:
      for (uint64_t i = 0; i < n; ++i) {
        row[i] =
            static_cast<float>(init.low + (init.high - init.low) * uniform_unit(random.next()));
      }
      break;
    case WeightInit::Kind::NegativeExpUniform:
      for (uint64_t i = 0; i < n; ++i) {
        const double u = init.low + (init.high - init.low) * uniform_unit(random.next());
        row[i] = static_cast<float>(-exp_small(u));
      }
      break;
  }
}

}  // namespace

std::vector<TensorRecipe> tensor_recipes(const ModelPreset& p) {
  RecipeList list;
  list.add("token_embd.weight", {p.embedding_length, p.vocab_size}, kMatrix);
  for (uint32_t layer = 0; layer < p.block_count; ++layer) {
    if (p.arch != Architecture::Qwen35) {
      add_transformer_layer(list, p, layer);
    } else if (p.delta_net.is_full_attention(layer)) {
      add_gated_attention_layer(list, p, layer);
    } else {
      add_delta_net_layer(list, p, layer);
    }
  }
  list.add("output_norm.weight", {p.embedding_length}, kNorm);
  if (!p.tied_embeddings) list.add("output.weight", {p.embedding_length, p.vocab_size}, kMatrix);
  return list.take();
}

void fill_rows(const TensorRecipe& recipe, uint64_t seed, uint64_t first_row, uint64_t n_rows,
               std::span<float> out) {
  const uint64_t row_length = recipe.dims[0];
  assert(out.size() == n_rows * row_length);
  const uint64_t tensor_key = mix_keys(seed, hash_name(recipe.name));
  for (uint64_t r = 0; r < n_rows; ++r) {
    SplitMix64 random(mix_keys(tensor_key, first_row + r));
    fill_row(recipe.init, random, out.data() + r * row_length, row_length);
  }
}

}  // namespace quant::modelgen
