// Tokenizer::from_gguf: the tokenizer.ggml.* keys into a VocabularySpec.

#include "common/error.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace quant {

namespace {

std::optional<int64_t> optional_id(const gguf::GgufFile& file, std::string_view key) {
  if (!file.has(key)) return std::nullopt;
  return file.get_i64(key);
}

std::optional<bool> optional_bool(const gguf::GgufFile& file, std::string_view key) {
  if (!file.has(key)) return std::nullopt;
  return file.get_bool(key);
}

// Scores are float32 as written by the converters; llama.cpp also accepts int32 arrays.
std::vector<float> read_scores(const gguf::GgufFile& file, std::string_view key) {
  const gguf::ArrayValue& array = file.get_array(key);
  if (!gguf::is_integer_type(array.element_type)) return file.get_array_f32(key);
  const std::vector<int64_t> integers = file.get_array_i64(key);
  return std::vector<float>(integers.begin(), integers.end());
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const gguf::GgufFile& file) {
  VocabularySpec spec;
  const std::string_view model = file.get_string("tokenizer.ggml.model");
  if (model == "gpt2") {
    spec.model = TokenizerModel::BytePairEncoding;
  } else if (model == "llama") {
    spec.model = TokenizerModel::SentencePiece;
  } else {
    fail("{}: tokenizer.ggml.model '{}' is not supported (supported: gpt2, llama)", file.path(),
         model);
  }
  spec.pre_tokenizer = file.get_string_or("tokenizer.ggml.pre", "");
  spec.tokens = file.get_array_strings("tokenizer.ggml.tokens");
  if (file.has("tokenizer.ggml.scores")) spec.scores = read_scores(file, "tokenizer.ggml.scores");
  if (file.has("tokenizer.ggml.token_type"))
    spec.token_types = file.get_array_i64("tokenizer.ggml.token_type");
  if (spec.model == TokenizerModel::BytePairEncoding && file.has("tokenizer.ggml.merges"))
    spec.merges = file.get_array_strings("tokenizer.ggml.merges");
  spec.bos_id = optional_id(file, "tokenizer.ggml.bos_token_id");
  spec.eos_id = optional_id(file, "tokenizer.ggml.eos_token_id");
  spec.eot_id = optional_id(file, "tokenizer.ggml.eot_token_id");
  spec.eom_id = optional_id(file, "tokenizer.ggml.eom_token_id");
  spec.unknown_id = optional_id(file, "tokenizer.ggml.unknown_token_id");
  spec.padding_id = optional_id(file, "tokenizer.ggml.padding_token_id");
  spec.add_bos = optional_bool(file, "tokenizer.ggml.add_bos_token");
  spec.add_eos = optional_bool(file, "tokenizer.ggml.add_eos_token");
  spec.add_space_prefix = optional_bool(file, "tokenizer.ggml.add_space_prefix");
  try {
    return from_spec(spec);
  } catch (const Error& e) {
    fail("{}: {}", file.path(), e.what());
  }
}

}  // namespace quant
