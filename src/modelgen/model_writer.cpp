#include "modelgen/model_writer.h"

#include <chrono>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "gguf/gguf_writer.h"
#include "modelgen/synthetic_vocab.h"
#include "modelgen/tensor_recipes.h"
#include "quantize/partial_file.h"
#include "quantize/quantizer.h"
#include "quantize/row_encoder.h"
#include "quantize/type_choice.h"

namespace quant::modelgen {

namespace {

constexpr uint32_t kQuantizationVersion = 2;

void write_hyperparameters(const ModelPreset& p, gguf::GgufWriter& w) {
  const std::string_view arch = architecture_name(p.arch);
  auto key = [arch](std::string_view name) { return fmt::format("{}.{}", arch, name); };
  w.set_u32(key("vocab_size"), p.vocab_size);
  w.set_u32(key("context_length"), p.context_length);
  w.set_u32(key("embedding_length"), p.embedding_length);
  w.set_u32(key("block_count"), p.block_count);
  w.set_u32(key("feed_forward_length"), p.feed_forward_length);
  w.set_u32(key("attention.head_count"), p.head_count);
  w.set_u32(key("attention.head_count_kv"), p.head_count_kv);
  w.set_u32(key("attention.key_length"), p.head_dim);
  w.set_u32(key("attention.value_length"), p.head_dim);
  w.set_u32(key("rope.dimension_count"), p.rope_dimensions);
  w.set_f32(key("rope.freq_base"), p.rope_freq_base);
  w.set_f32(key("attention.layer_norm_rms_epsilon"), p.rms_epsilon);
  if (p.arch == Architecture::Qwen35) {
    const DeltaNetShape& d = p.delta_net;
    w.set_array_i32(key("rope.dimension_sections"), d.rope_sections);
    w.set_u32(key("ssm.conv_kernel"), d.conv_kernel);
    w.set_u32(key("ssm.state_size"), d.state_size);
    w.set_u32(key("ssm.group_count"), d.group_count);
    w.set_u32(key("ssm.time_step_rank"), d.time_step_rank);
    w.set_u32(key("ssm.inner_size"), d.inner_size());
    w.set_u32(key("full_attention_interval"), d.full_attention_interval);
  }
}

void write_tokenizer(const ModelPreset& p, const SyntheticVocab& vocab, gguf::GgufWriter& w) {
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", p.tokenizer_pre);
  w.set_array_strings("tokenizer.ggml.tokens", vocab.tokens);
  w.set_array_i32("tokenizer.ggml.token_type", vocab.token_types);
  w.set_array_strings("tokenizer.ggml.merges", vocab.merges);
  // The special-token roles of the real models: SmolLM2 starts with <|im_start|> and knows
  // <|endoftext|> as unknown; Qwen uses <|endoftext|> as BOS and padding.
  if (p.arch == Architecture::Llama) {
    w.set_u32("tokenizer.ggml.bos_token_id", vocab.im_start_id);
    w.set_u32("tokenizer.ggml.eos_token_id", vocab.im_end_id);
    w.set_u32("tokenizer.ggml.unknown_token_id", vocab.endoftext_id);
    w.set_u32("tokenizer.ggml.padding_token_id", vocab.im_end_id);
  } else {
    w.set_u32("tokenizer.ggml.bos_token_id", vocab.endoftext_id);
    w.set_u32("tokenizer.ggml.eos_token_id", vocab.im_end_id);
    w.set_u32("tokenizer.ggml.padding_token_id", vocab.endoftext_id);
  }
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_string("tokenizer.chat_template", chatml_template());
}

void write_metadata(const ModelPreset& p, const MakeModelOptions& options, gguf::GgufWriter& w) {
  w.set_string("general.architecture", architecture_name(p.arch));
  w.set_string("general.name", fmt::format("{}-synthetic", p.name));
  w.set_string(
      "general.description",
      fmt::format("synthetic random weights (normal, std 0.02) with the exact shapes of {} "
                  "(quant make-model, seed {})",
                  p.name, options.seed));
  write_hyperparameters(p, w);
  w.set_u32("general.file_type", llama_ftype_id(options.file_type));
  if (type_traits(default_tensor_type(options.file_type)).quantized) {
    w.set_u32("general.quantization_version", kQuantizationVersion);
  }
  write_tokenizer(p, build_synthetic_vocab(p.vocab_size), w);
}

}  // namespace

MakeModelSummary write_synthetic_model(const std::string& out_path,
                                       const MakeModelOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const ModelPreset& preset = find_model_preset(options.preset);
  const std::vector<TensorRecipe> recipes = tensor_recipes(preset);

  // Weights are drawn as F32; the file type's rules decide what each one is stored as.
  std::vector<TensorDecl> decls;
  for (const auto& r : recipes) decls.push_back({r.name, TensorType::F32, r.dims});
  const std::vector<TensorType> types =
      choose_tensor_types(options.file_type, decls, preset.block_count);

  gguf::GgufWriter writer;
  write_metadata(preset, options, writer);
  MakeModelSummary summary;
  for (size_t i = 0; i < recipes.size(); ++i) {
    writer.add_tensor(recipes[i].name, types[i], recipes[i].dims);
    uint64_t n = 1;
    for (uint64_t d : recipes[i].dims) n *= d;
    summary.n_parameters += n;
  }
  summary.n_tensors = recipes.size();

  PartialFile partial(out_path);
  writer.begin(partial.temporary_path());
  const int threads = resolve_thread_count(options.threads);
  ProgressBar progress(
      fmt::format("make-model {} {}", preset.name, file_type_name(options.file_type)),
      summary.n_parameters, options.progress);
  std::vector<uint8_t> encoded;
  for (size_t i = 0; i < recipes.size(); ++i) {
    const TensorRecipe& recipe = recipes[i];
    const uint64_t row_length = recipe.dims[0];
    uint64_t n_rows = 1;
    for (size_t d = 1; d < recipe.dims.size(); ++d) n_rows *= recipe.dims[d];
    encoded.resize(*row_bytes(types[i], row_length * n_rows));
    const RowSource generate = [&](uint64_t first, uint64_t n, std::span<float> rows) {
      fill_rows(recipe, options.seed, first, n, rows);
    };
    encode_rows({types[i], row_length, n_rows}, generate, encoded, threads, &progress);
    writer.write_tensor_data(encoded);
  }
  writer.finish();
  progress.finish();
  partial.commit();
  summary.file_bytes = std::filesystem::file_size(out_path);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace quant::modelgen
