// qwen35 (Qwen3.5): a hybrid of Gated DeltaNet ("linear attention") layers and gated full-attention
// layers, each followed by a SwiGLU FFN. The math is section 1 of shared/reference/README.md
// ("The math, as llama.cpp computes it"):
// - full attention: attn_q yields [query_h | gate_h] per head; query and key are RMS-normed per
//   head, NeoX RoPE turns their first rope.dimension_count values; the attention output is
//   multiplied by sigmoid(gate) before attn_output (the shared attention block, gated_query).
// - Gated DeltaNet: attn_qkv -> causal depthwise convolution over the last ssm.conv_kernel tokens
//   -> SiLU -> q, k, v; the gated delta rule per V head (state S, head_k_dim x head_v_dim); then
//   RMSNorm(o) * ssm_norm * silu(z) per head, z = attn_gate(x), and ssm_out.
// Every norm weight is applied as stored (the converter already folded Qwen3.5's 1 + w into it).
// A trailing multi-token-prediction block (nextn_predict_layers) is not run: Hparams::n_layers
// leaves it out.

#include <fmt/format.h>

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/error.h"
#include "model/architectures.h"
#include "model/transformer_blocks.h"
#include "model/transformer_weights.h"
#include "model/vocab_check.h"
#include "model/weight_binder.h"

namespace quant::model {

namespace {

constexpr const char* kArch = "qwen35";
constexpr uint32_t kMaxSsmSize = 1u << 16;
constexpr uint32_t kMaxConvKernel = 64;
constexpr TransformerConfig kQwen35Config{
    .rope_style = plan::RopeStyle::Neox, .head_norms = true, .gated_query = true};

// What qwen35 adds to the common hyperparameters.
struct Qwen35Params {
  uint32_t conv_kernel = 0;     // ssm.conv_kernel
  uint32_t n_k_heads = 0;       // ssm.group_count: linear-attention Q/K heads
  uint32_t n_v_heads = 0;       // ssm.time_step_rank: linear-attention V heads
  uint32_t head_k_dim = 0;      // ssm.state_size
  uint32_t head_v_dim = 0;      // ssm.inner_size / n_v_heads
  std::vector<bool> recurrent;  // per layer run: Gated DeltaNet (true) or full attention

  uint64_t k_size() const { return uint64_t{n_k_heads} * head_k_dim; }
  uint64_t v_size() const { return uint64_t{n_v_heads} * head_v_dim; }
  // Channels of attn_qkv and of the convolution: [q | k | v].
  uint64_t conv_channels() const { return 2 * k_size() + v_size(); }
};

std::string key(std::string_view suffix) {
  return fmt::format("{}.{}", kArch, suffix);
}

uint32_t read_size(const gguf::GgufFile& file, std::string_view suffix, uint32_t max) {
  const std::string k = key(suffix);
  const uint32_t value = file.get_u32(k);
  if (value == 0 || value > max)
    fail("{}: metadata key '{}' is {}, expected 1..{}", file.path(), k, value, max);
  return value;
}

// llama.cpp runs qwen35's RoPE as interleaved multi-section RoPE with text positions (p, p, p, 0):
// rotary pair i takes section (i mod sum(sections)) mod 3 while that sector is below 3 * the
// section's size, and position 0 (no rotation) otherwise. That is plain NeoX RoPE exactly when
// every pair lands in one of the first three sections, which holds for every released Qwen3.5;
// other section lists are refused rather than run wrongly.
void check_rope_sections(const gguf::GgufFile& file, const Hparams& hp) {
  const std::string k = key("rope.dimension_sections");
  const std::vector<int64_t> sections = file.get_array_i64(k);
  if (sections.size() < 3)
    fail("{}: metadata key '{}' has {} values, expected 4", file.path(), k, sections.size());
  int64_t total = 0;
  for (const int64_t s : sections) {
    if (s < 0 || s > kMaxSsmSize)
      fail("{}: metadata key '{}' holds {}, expected 0..{}", file.path(), k, s, kMaxSsmSize);
    total += s;
  }
  if (total == 0) fail("{}: metadata key '{}' is all zeros", file.path(), k);
  for (uint32_t pair = 0; pair < hp.n_rot / 2; ++pair) {
    const int64_t sector = pair % total;
    if (sector >= 3 * sections[static_cast<size_t>(sector % 3)])
      fail(
          "{}: '{}' puts rotary pair {} in the fourth section (position 0), which only "
          "multimodal positions use; unsupported",
          file.path(), k, pair);
  }
}

std::vector<bool> read_layer_kinds(const gguf::GgufFile& file, uint32_t block_count,
                                   uint32_t n_layers) {
  const std::string recurrent_key = key("attention.recurrent_layers");
  if (file.has(recurrent_key)) {
    std::vector<bool> recurrent = file.get_array_bool(recurrent_key);
    if (recurrent.size() != block_count)
      fail("{}: metadata key '{}' has {} values, expected block_count ({})", file.path(),
           recurrent_key, recurrent.size(), block_count);
    recurrent.resize(n_layers);
    return recurrent;
  }
  const std::string interval_key = key("full_attention_interval");
  const uint32_t interval = file.get_u32_or(interval_key, 4);
  if (interval == 0) fail("{}: metadata key '{}' is 0", file.path(), interval_key);
  std::vector<bool> recurrent(n_layers);
  for (uint32_t i = 0; i < n_layers; ++i) recurrent[i] = (i + 1) % interval != 0;
  return recurrent;
}

Qwen35Params read_qwen35_params(const gguf::GgufFile& file, const Hparams& hp) {
  const std::string value_length = key("attention.value_length");
  if (file.has(value_length) && file.get_u32(value_length) != hp.head_dim)
    fail("{}: '{}' ({}) differs from the key length {}", file.path(), value_length,
         file.get_u32(value_length), hp.head_dim);
  check_rope_sections(file, hp);

  Qwen35Params p;
  p.conv_kernel = read_size(file, "ssm.conv_kernel", kMaxConvKernel);
  p.n_k_heads = read_size(file, "ssm.group_count", kMaxSsmSize);
  p.n_v_heads = read_size(file, "ssm.time_step_rank", kMaxSsmSize);
  p.head_k_dim = read_size(file, "ssm.state_size", kMaxSsmSize);
  const uint32_t inner_size = read_size(file, "ssm.inner_size", kMaxSsmSize * 16);
  if (inner_size % p.n_v_heads != 0 || p.n_v_heads % p.n_k_heads != 0)
    fail("{}: ssm.inner_size {}, ssm.time_step_rank {} and ssm.group_count {} do not divide",
         file.path(), inner_size, p.n_v_heads, p.n_k_heads);
  p.head_v_dim = inner_size / p.n_v_heads;
  p.recurrent = read_layer_kinds(file, hp.block_count(), hp.n_layers);
  return p;
}

// Buffers beyond the common transformer ones (the gated query's among them).
struct Qwen35Buffers {
  plan::BufferId qkv;       // conv_channels: attn_qkv's output
  plan::BufferId qkv_conv;  // conv_channels: after the convolution and SiLU
  plan::BufferId z;         // v_size: attn_gate's output (the output gate)
  plan::BufferId alpha;     // n_v_heads: ssm_alpha's output
  plan::BufferId beta;      // n_v_heads: ssm_beta's output
  plan::BufferId delta;     // v_size: the delta rule's output, then gated-normed
};

Qwen35Buffers add_qwen35_buffers(plan::Plan& plan, const Qwen35Params& p) {
  return Qwen35Buffers{
      .qkv = plan.add_buffer("qkv", p.conv_channels()),
      .qkv_conv = plan.add_buffer("qkv_conv", p.conv_channels()),
      .z = plan.add_buffer("z", p.v_size()),
      .alpha = plan.add_buffer("alpha", p.n_v_heads),
      .beta = plan.add_buffer("beta", p.n_v_heads),
      .delta = plan.add_buffer("delta", p.v_size()),
  };
}

struct DeltaNetWeights {
  plan::WeightId input_norm;  // attn_norm [n_embd]
  plan::WeightId qkv;         // attn_qkv [n_embd, conv_channels]
  plan::WeightId z;           // attn_gate [n_embd, v_size]
  plan::WeightId conv;        // ssm_conv1d [conv_kernel, conv_channels], F32
  plan::WeightId dt_bias;     // ssm_dt.bias [n_v_heads], F32
  plan::WeightId a;           // ssm_a [n_v_heads], F32: -exp(A_log)
  plan::WeightId beta;        // ssm_beta [n_embd, n_v_heads]
  plan::WeightId alpha;       // ssm_alpha [n_embd, n_v_heads]
  plan::WeightId norm;        // ssm_norm [head_v_dim]
  plan::WeightId output;      // ssm_out [v_size, n_embd]
};

// One of attention (gated: kQwen35Config) and delta_net.
struct Qwen35Layer {
  std::optional<AttentionWeights> attention;
  std::optional<DeltaNetWeights> delta_net;
  FfnWeights ffn;  // its norm is post_attention_norm
};

// Every tensor of layer i, each declared once with its shape.
Qwen35Layer bind_layer(WeightBinder& bind, const Hparams& hp, const Qwen35Params& p, uint32_t i) {
  Qwen35Layer layer{.attention = std::nullopt, .delta_net = std::nullopt, .ffn = {}};
  if (p.recurrent[i]) {
    const auto name = [i](const char* suffix) { return fmt::format("blk.{}.{}", i, suffix); };
    const uint64_t embd = hp.n_embd;
    layer.delta_net = DeltaNetWeights{
        .input_norm = bind.require(name("attn_norm.weight"), {embd}),
        .qkv = bind.require(name("attn_qkv.weight"), {embd, p.conv_channels()}),
        .z = bind.require(name("attn_gate.weight"), {embd, p.v_size()}),
        .conv = bind.require(name("ssm_conv1d.weight"), {p.conv_kernel, p.conv_channels()}),
        .dt_bias = bind.require(name("ssm_dt.bias"), {p.n_v_heads}),
        .a = bind.require(name("ssm_a"), {p.n_v_heads}),
        .beta = bind.require(name("ssm_beta.weight"), {embd, p.n_v_heads}),
        .alpha = bind.require(name("ssm_alpha.weight"), {embd, p.n_v_heads}),
        .norm = bind.require(name("ssm_norm.weight"), {p.head_v_dim}),
        .output = bind.require(name("ssm_out.weight"), {p.v_size(), embd}),
    };
  } else {
    layer.attention = bind_attention(bind, hp, kQwen35Config, i);
  }
  layer.ffn = bind_swiglu_ffn(bind, hp, "post_attention_norm", i);
  return layer;
}

// x <- x + ssm_out(RMSNorm(DeltaRule(silu(conv(attn_qkv h)))) * ssm_norm * silu(attn_gate h)) over
// h = RMSNorm(x) * attn_norm, with this layer's convolution and delta-rule states.
void add_gated_delta_net(plan::Plan& plan, const TransformerBuffers& b, const Qwen35Buffers& qb,
                         const Hparams& hp, const Qwen35Params& p, const DeltaNetWeights& w,
                         int32_t layer) {
  add_pre_norm(plan, b, hp, w.input_norm, "attn_norm", layer);
  plan.add_op(plan::MatVec{.weight = w.qkv, .in = b.normed, .out = qb.qkv}, "qkv", layer);
  plan.add_op(plan::MatVec{.weight = w.z, .in = b.normed, .out = qb.z}, "z", layer);
  plan.add_op(plan::MatVec{.weight = w.beta, .in = b.normed, .out = qb.beta}, "beta", layer);
  plan.add_op(plan::MatVec{.weight = w.alpha, .in = b.normed, .out = qb.alpha}, "alpha", layer);
  const auto channels = static_cast<uint32_t>(p.conv_channels());
  const plan::StateId conv_state = plan.add_state(plan::StateDecl{
      .name = "conv_state", .layer = layer, .n_floats = uint64_t{p.conv_kernel - 1} * channels});
  plan.add_op(plan::CausalConv1dSilu{.in = qb.qkv,
                                     .weight = w.conv,
                                     .state = conv_state,
                                     .out = qb.qkv_conv,
                                     .n_channels = channels,
                                     .kernel = p.conv_kernel},
              "conv", layer);
  const plan::StateId delta_state = plan.add_state(
      plan::StateDecl{.name = "delta_state",
                      .layer = layer,
                      .n_floats = uint64_t{p.n_v_heads} * p.head_k_dim * p.head_v_dim});
  plan.add_op(plan::GatedDeltaNet{.qkv = qb.qkv_conv,
                                  .alpha_in = qb.alpha,
                                  .beta_in = qb.beta,
                                  .a = w.a,
                                  .dt_bias = w.dt_bias,
                                  .state = delta_state,
                                  .out = qb.delta,
                                  .n_k_heads = p.n_k_heads,
                                  .n_v_heads = p.n_v_heads,
                                  .head_k_dim = p.head_k_dim,
                                  .head_v_dim = p.head_v_dim,
                                  .eps = hp.rms_eps},
              "delta_net", layer);
  plan.add_op(plan::RmsNorm{.in = qb.delta,
                            .weight = w.norm,
                            .out = qb.delta,
                            .n_groups = p.n_v_heads,
                            .group_size = p.head_v_dim,
                            .eps = hp.rms_eps},
              "ssm_norm", layer);
  plan.add_op(plan::SwiGLU{.gate = qb.z, .up = qb.delta, .out = qb.delta}, "ssm_gated", layer);
  plan.add_op(plan::MatVec{.weight = w.output, .in = qb.delta, .out = b.proj}, "ssm_out", layer);
  plan.add_op(plan::Add{.a = b.x, .b = b.proj, .out = b.x}, "attn_residual", layer);
}

// Like WeightBinder::check_all_bound, except that the tensors of the MTP layers (blk.i.* for i at
// or past the layers run) are expected to stay unused.
void check_all_used(const gguf::GgufFile& file, const plan::Plan& plan, const Hparams& hp) {
  std::unordered_set<std::string_view> used;
  for (const plan::WeightRef& w : plan.weights) used.insert(w.name);
  std::vector<std::string> mtp_prefixes;
  for (uint32_t i = hp.n_layers; i < hp.block_count(); ++i)
    mtp_prefixes.push_back(fmt::format("blk.{}.", i));
  for (const gguf::TensorInfo& tensor : file.tensors()) {
    if (used.contains(tensor.name)) continue;
    bool in_mtp_layer = false;
    for (const std::string& prefix : mtp_prefixes) in_mtp_layer |= tensor.name.starts_with(prefix);
    if (!in_mtp_layer)
      fail("{}: tensor '{}' is not used by the {} architecture (unsupported variant?)", file.path(),
           tensor.name, kArch);
  }
}

}  // namespace

BuiltModel build_qwen35(const gguf::GgufFile& file) {
  BuiltModel built{.hparams = read_hparams(file, kArch), .plan = {}};
  const Hparams& hp = built.hparams;
  plan::Plan& plan = built.plan;
  const Qwen35Params p = read_qwen35_params(file, hp);

  check_vocab_matches_embeddings(file, hp, "token_embd.weight");
  WeightBinder bind(file, plan);
  const EmbeddingAndOutputWeights ends = bind_embedding_and_output(bind, hp);

  const TransformerBuffers buffers = add_transformer_buffers(plan, hp, kQwen35Config);
  const Qwen35Buffers qwen35_buffers = add_qwen35_buffers(plan, p);
  add_embedding(plan, buffers, ends.token_embd);
  for (uint32_t i = 0; i < hp.n_layers; ++i) {
    const Qwen35Layer layer = bind_layer(bind, hp, p, i);
    const auto layer_index = static_cast<int32_t>(i);
    if (layer.delta_net)
      add_gated_delta_net(plan, buffers, qwen35_buffers, hp, p, *layer.delta_net, layer_index);
    else
      add_attention_block(plan, buffers, hp, kQwen35Config, *layer.attention, layer_index);
    add_swiglu_ffn_block(plan, buffers, hp, layer.ffn, layer_index);
  }
  add_output(plan, buffers, hp, ends.output_norm, ends.output);
  check_all_used(file, plan, hp);
  plan::check_plan(plan);
  return built;
}

}  // namespace quant::model
