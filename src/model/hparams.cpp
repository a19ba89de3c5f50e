#include "model/hparams.h"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "common/error.h"

namespace quant::model {

namespace {

// Sizes beyond these are not a model we can run but a corrupt or hostile header; refusing them
// early keeps every later size computation far from overflow.
constexpr uint32_t kMaxLayers = 4096;
constexpr uint32_t kMaxWidth = 1u << 20;

class HparamReader {
 public:
  HparamReader(const gguf::GgufFile& file, const std::string& arch) : file_(file), arch_(arch) {}

  std::string key(std::string_view suffix) const { return fmt::format("{}.{}", arch_, suffix); }

  uint32_t required_size(std::string_view suffix, uint32_t max) const {
    const std::string k = key(suffix);
    if (!file_.has(k)) fail("{}: missing metadata key '{}'", file_.path(), k);
    return checked_size(k, file_.get_u32(k), max);
  }
  uint32_t optional_size(std::string_view suffix, uint32_t fallback, uint32_t max) const {
    const std::string k = key(suffix);
    return file_.has(k) ? checked_size(k, file_.get_u32(k), max) : fallback;
  }
  float positive_float(std::string_view suffix, std::optional<float> fallback) const {
    const std::string k = key(suffix);
    if (!file_.has(k) && !fallback) fail("{}: missing metadata key '{}'", file_.path(), k);
    const float value = file_.has(k) ? file_.get_f32(k) : *fallback;
    if (!(value > 0.0f) || !std::isfinite(value))
      fail("{}: metadata key '{}' is {}, expected a positive finite number", file_.path(), k,
           value);
    return value;
  }

 private:
  uint32_t checked_size(const std::string& k, uint32_t value, uint32_t max) const {
    if (value == 0 || value > max)
      fail("{}: metadata key '{}' is {}, expected 1..{}", file_.path(), k, value, max);
    return value;
  }

  const gguf::GgufFile& file_;
  const std::string& arch_;
};

uint32_t read_vocab_size(const gguf::GgufFile& file, const HparamReader& reader) {
  if (file.has("tokenizer.ggml.tokens")) {
    const uint64_t count = file.get_array("tokenizer.ggml.tokens").count;
    if (count == 0 || count > kMaxWidth)
      fail("{}: tokenizer.ggml.tokens has {} entries, expected 1..{}", file.path(), count,
           kMaxWidth);
    return static_cast<uint32_t>(count);
  }
  return reader.required_size("vocab_size", kMaxWidth);
}

}  // namespace

Hparams read_hparams(const gguf::GgufFile& file, const std::string& architecture) {
  const HparamReader r(file, architecture);
  Hparams hp;
  hp.architecture = architecture;
  const uint32_t block_count = r.required_size("block_count", kMaxLayers);
  // The trailing MTP blocks predict further tokens for speculative decoding; a plain forward pass
  // ends before them.
  if (file.has(r.key("nextn_predict_layers"))) {
    hp.n_mtp_layers = file.get_u32(r.key("nextn_predict_layers"));
    if (hp.n_mtp_layers >= block_count)
      fail("{}: {} ({}) leaves no layers of {} ({})", file.path(), r.key("nextn_predict_layers"),
           hp.n_mtp_layers, r.key("block_count"), block_count);
  }
  hp.n_layers = block_count - hp.n_mtp_layers;
  hp.n_embd = r.required_size("embedding_length", kMaxWidth);
  hp.n_ff = r.required_size("feed_forward_length", kMaxWidth);
  hp.n_heads = r.required_size("attention.head_count", kMaxWidth);
  hp.n_kv_heads = r.optional_size("attention.head_count_kv", hp.n_heads, kMaxWidth);
  if (hp.n_heads % hp.n_kv_heads != 0)
    fail("{}: {} is {}, which does not divide {} ({})", file.path(),
         r.key("attention.head_count_kv"), hp.n_kv_heads, r.key("attention.head_count"),
         hp.n_heads);
  if (!file.has(r.key("attention.key_length")) && hp.n_embd % hp.n_heads != 0)
    fail("{}: {} ({}) is not a multiple of {} ({}) and {} is absent", file.path(),
         r.key("embedding_length"), hp.n_embd, r.key("attention.head_count"), hp.n_heads,
         r.key("attention.key_length"));
  hp.head_dim = r.optional_size("attention.key_length", hp.n_embd / hp.n_heads, kMaxWidth);
  hp.n_rot = r.optional_size("rope.dimension_count", hp.head_dim, kMaxWidth);
  if (hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
    fail("{}: {} is {}, expected an even number up to the head size {}", file.path(),
         r.key("rope.dimension_count"), hp.n_rot, hp.head_dim);
  hp.context_length = r.required_size("context_length", 1u << 24);
  hp.n_vocab = read_vocab_size(file, r);
  hp.rms_eps = r.positive_float("attention.layer_norm_rms_epsilon", std::nullopt);
  hp.rope_theta = r.positive_float("rope.freq_base", 10000.0f);
  return hp;
}

}  // namespace quant::model
