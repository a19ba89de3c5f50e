#pragma once
// Writes small llama-architecture GGUFs with random F32 weights for tests, with knobs to break them
// in one way at a time (a missing tensor, a wrong shape, a vocabulary that disagrees with the
// embeddings, ...).

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"

namespace quant::test {

struct TinyLlamaSpec {
  std::string architecture = "llama";
  uint32_t n_vocab = 40;
  uint32_t n_embd = 32;
  uint32_t n_ff = 48;
  uint32_t n_layers = 2;
  uint32_t n_heads = 4;
  uint32_t n_kv_heads = 2;
  uint32_t context_length = 64;
  uint32_t tokenizer_vocab = 0;        // entries of tokenizer.ggml.tokens; 0: n_vocab
  bool tied_embeddings = true;         // no output.weight
  std::set<std::string> omit_tensors;  // tensors left out
  std::map<std::string, std::vector<uint64_t>>
      shape_overrides;                     // tensors written with another shape
  std::vector<std::string> extra_tensors;  // 1-D tensors of n_embd the arch lacks
  std::set<std::string> omit_keys;         // metadata keys (without "<arch>.") left out
  uint32_t seed = 7;
};

// Writes the model to the test temp dir as "quant_tiny_llama_<file_name>" and returns its path.
inline std::string write_tiny_llama(const TinyLlamaSpec& spec, const std::string& file_name) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / ("quant_tiny_llama_" + file_name)).string();
  const std::string a = spec.architecture;
  gguf::GgufWriter writer;
  writer.set_string("general.architecture", a);
  const auto set_key = [&](const std::string& key, uint32_t value) {
    if (!spec.omit_keys.contains(key)) writer.set_u32(a + "." + key, value);
  };
  set_key("block_count", spec.n_layers);
  set_key("context_length", spec.context_length);
  set_key("embedding_length", spec.n_embd);
  set_key("feed_forward_length", spec.n_ff);
  set_key("attention.head_count", spec.n_heads);
  set_key("attention.head_count_kv", spec.n_kv_heads);
  if (!spec.omit_keys.contains("attention.layer_norm_rms_epsilon"))
    writer.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  std::vector<std::string> tokens;
  for (uint32_t i = 0; i < (spec.tokenizer_vocab ? spec.tokenizer_vocab : spec.n_vocab); ++i)
    tokens.push_back("t" + std::to_string(i));
  writer.set_array_strings("tokenizer.ggml.tokens", tokens);

  const uint64_t embd = spec.n_embd;
  const uint64_t head_dim = spec.n_embd / spec.n_heads;
  const uint64_t kv = head_dim * spec.n_kv_heads;
  std::vector<std::pair<std::string, std::vector<uint64_t>>> tensors = {
      {"token_embd.weight", {embd, spec.n_vocab}}, {"output_norm.weight", {embd}}};
  if (!spec.tied_embeddings) tensors.push_back({"output.weight", {embd, spec.n_vocab}});
  for (uint32_t i = 0; i < spec.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    tensors.push_back({p + "attn_norm.weight", {embd}});
    tensors.push_back({p + "attn_q.weight", {embd, embd}});
    tensors.push_back({p + "attn_k.weight", {embd, kv}});
    tensors.push_back({p + "attn_v.weight", {embd, kv}});
    tensors.push_back({p + "attn_output.weight", {embd, embd}});
    tensors.push_back({p + "ffn_norm.weight", {embd}});
    tensors.push_back({p + "ffn_gate.weight", {embd, spec.n_ff}});
    tensors.push_back({p + "ffn_up.weight", {embd, spec.n_ff}});
    tensors.push_back({p + "ffn_down.weight", {spec.n_ff, embd}});
  }
  for (const std::string& name : spec.extra_tensors) tensors.push_back({name, {embd}});

  std::vector<std::pair<std::string, std::vector<uint64_t>>> written;
  for (auto& [name, dims] : tensors) {
    if (spec.omit_tensors.contains(name)) continue;
    if (const auto it = spec.shape_overrides.find(name); it != spec.shape_overrides.end())
      dims = it->second;
    writer.add_tensor(name, TensorType::F32, dims);
    written.push_back({name, dims});
  }
  writer.begin(path);
  std::mt19937 rng(spec.seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (const auto& [name, dims] : written) {
    uint64_t n = 1;
    for (const uint64_t d : dims) n *= d;
    std::vector<float> values(n);
    // Norm weights near 1, matrices random: activations stay in a sensible range.
    const bool is_norm = name.find("norm") != std::string::npos;
    for (float& v : values) v = is_norm ? 1.0f + 0.1f * normal(rng) : normal(rng);
    writer.write_tensor_data(
        {reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float)});
  }
  writer.finish();
  return path;
}

}  // namespace quant::test
