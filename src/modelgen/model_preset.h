#pragma once
// Shapes of the synthetic models `quant make-model` writes: real models (SmolLM2-1.7B, Qwen3-4B,
// Qwen3.5-4B) for speed and memory measurements, and the tiny test models of shared/data/models.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quant::modelgen {

enum class Architecture { Llama, Qwen3, Qwen35 };

// The value of `general.architecture` (and the prefix of the architecture's keys).
std::string_view architecture_name(Architecture arch);

// Qwen3.5's Gated DeltaNet ("linear attention") layers; every full_attention_interval-th layer is
// full attention instead.
struct DeltaNetShape {
  uint32_t conv_kernel = 0;
  uint32_t state_size = 0;      // head size of the linear Q/K and V heads
  uint32_t group_count = 0;     // linear Q/K heads
  uint32_t time_step_rank = 0;  // linear V heads
  uint32_t full_attention_interval = 0;
  std::array<int32_t, 4> rope_sections{};  // rope.dimension_sections of the attention layers

  uint32_t inner_size() const { return time_step_rank * state_size; }
  // Width of attn_qkv's output (and of the convolution): q and k for each group, then v.
  uint32_t qkv_size() const { return 2 * group_count * state_size + inner_size(); }
  bool is_full_attention(uint32_t layer) const {
    return (layer + 1) % full_attention_interval == 0;
  }
};

struct ModelPreset {
  std::string_view name;
  Architecture arch;
  uint32_t vocab_size;
  uint32_t context_length;
  uint32_t embedding_length;
  uint32_t block_count;
  uint32_t feed_forward_length;
  uint32_t head_count;
  uint32_t head_count_kv;
  uint32_t head_dim;
  uint32_t rope_dimensions;
  float rope_freq_base;
  float rms_epsilon;
  bool tied_embeddings;
  std::string_view tokenizer_pre;  // tokenizer.ggml.pre
  DeltaNetShape delta_net;         // Qwen35 only
};

// The preset called `name`; throws quant::Error listing the known names when there is none.
const ModelPreset& find_model_preset(std::string_view name);
std::vector<std::string_view> model_preset_names();

}  // namespace quant::modelgen
