#include "quantize/type_choice.h"

#include <algorithm>
#include <array>
#include <numeric>

namespace quant {

namespace {

enum class Category { TokenEmbedding, Output, AttentionV, FfnDown, Other };

Category category_of(std::string_view name) {
  if (name == "output.weight") return Category::Output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") {
    return Category::TokenEmbedding;
  }
  // llama-quantize treats fused QKV and MLA's kv_b like attn_v: they carry the values.
  for (std::string_view v : {"attn_qkv.weight", "attn_kv_b.weight", "attn_v.weight"}) {
    if (name.find(v) != std::string_view::npos) return Category::AttentionV;
  }
  if (name.find("ffn_down") != std::string_view::npos) return Category::FfnDown;
  return Category::Other;
}

// Name fragments of tensors llama-quantize never quantizes: small or precision-critical ones.
constexpr std::array kNeverQuantized = {
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
};

// ggml_n_dims: trailing dimensions of size 1 do not count.
size_t effective_dims(std::span<const uint64_t> dims) {
  size_t n = dims.size();
  while (n > 1 && dims[n - 1] == 1) --n;
  return n;
}

// "blk.12.attn_v.weight" -> 12; -1 for tensors outside the blocks.
int layer_of(std::string_view name) {
  constexpr std::string_view prefix = "blk.";
  if (!name.starts_with(prefix)) return -1;
  int layer = 0;
  size_t i = prefix.size();
  if (i >= name.size() || name[i] < '0' || name[i] > '9') return -1;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i)
    layer = layer * 10 + (name[i] - '0');
  return layer;
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

bool divides(TensorType type, uint64_t row_length) {
  return row_length % static_cast<uint64_t>(type_traits(type).block_elements) == 0;
}

// A type whose block divides the row: llama-quantize's fallbacks, then F16 (where llama-quantize
// has no fallback at all, e.g. Q8_0 on a row of 172, it stops with an error; we keep going in F16).
TensorType fit_row_length(TensorType type, uint64_t row_length) {
  if (divides(type, row_length)) return type;
  TensorType fallback = TensorType::F16;
  switch (type) {
    case TensorType::Q2_K:
    case TensorType::Q3_K:
      fallback = TensorType::Q4_0;
      break;
    case TensorType::Q4_K:
      fallback = TensorType::Q5_0;
      break;
    case TensorType::Q5_K:
      fallback = TensorType::Q5_1;
      break;
    case TensorType::Q6_K:
      fallback = TensorType::Q8_0;
      break;
    default:
      break;
  }
  return divides(fallback, row_length) ? fallback : TensorType::F16;
}

}  // namespace

bool tensor_allows_quantization(std::string_view name, std::span<const uint64_t> dims) {
  if (effective_dims(dims) < 2) return false;
  if (!name.ends_with("weight")) return false;
  if (name == "position_embd.weight" || name == "token_types.weight") return false;
  return std::none_of(kNeverQuantized.begin(), kNeverQuantized.end(), [name](const char* part) {
    return name.find(part) != std::string_view::npos;
  });
}

std::vector<size_t> llama_quantize_order(std::span<const TensorDecl> tensors) {
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int layer_a = layer_of(tensors[a].name);
    const int layer_b = layer_of(tensors[b].name);
    if (layer_a != layer_b) return layer_a < layer_b;
    return tensors[a].name < tensors[b].name;
  });
  return order;
}

std::vector<TensorType> choose_tensor_types(FileType file_type, std::span<const TensorDecl> tensors,
                                            uint32_t n_layers) {
  std::vector<TensorType> chosen(tensors.size());
  std::transform(tensors.begin(), tensors.end(), chosen.begin(),
                 [](const TensorDecl& t) { return t.type; });

  const TensorType base = default_tensor_type(file_type);
  const bool mixed = file_type == FileType::Q4_K_M;
  const bool tied = std::none_of(tensors.begin(), tensors.end(), [](const TensorDecl& t) {
    return category_of(t.name) == Category::Output;
  });
  const int n_attention_v =
      static_cast<int>(std::count_if(tensors.begin(), tensors.end(), [](const TensorDecl& t) {
        return category_of(t.name) == Category::AttentionV;
      }));
  // llama-quantize counts attention-V and ffn_down tensors in the order it visits them.
  int i_attention_v = 0;
  int i_ffn_down = 0;
  for (size_t index : llama_quantize_order(tensors)) {
    const TensorDecl& t = tensors[index];
    if (!tensor_allows_quantization(t.name, t.dims)) continue;
    if (!type_traits(base).quantized) {
      chosen[index] = base;
      continue;
    }
    const uint64_t row_length = t.dims[0];
    TensorType type = base;
    const Category category = category_of(t.name);
    if (category == Category::Output || (tied && category == Category::TokenEmbedding)) {
      // The output matrix decides much of the quality: it gets more bits.
      if (!divides(base, row_length)) {
        type = TensorType::Q8_0;
      } else if (base != TensorType::Q8_0) {
        type = TensorType::Q6_K;
      }
    } else if (category == Category::AttentionV) {
      if (mixed && use_more_bits(i_attention_v, n_attention_v)) type = TensorType::Q6_K;
      ++i_attention_v;
    } else if (category == Category::FfnDown) {
      if (mixed && use_more_bits(i_ffn_down, static_cast<int>(n_layers))) type = TensorType::Q6_K;
      ++i_ffn_down;
    }
    chosen[index] = fit_row_length(type, row_length);
  }
  return chosen;
}

}  // namespace quant
