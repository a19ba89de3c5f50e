#pragma once
// The hyperparameters every decoder-only transformer in a GGUF has, read from `<arch>.*` metadata
// keys and validated where they enter. Architecture-specific extras (e.g. qwen35's ssm.* keys) are
// read by that architecture's builder, not here.

#include <cstdint>
#include <string>

#include "gguf/gguf_file.h"

namespace quant::model {

struct Hparams {
  std::string architecture;     // general.architecture, e.g. "llama"
  uint32_t n_layers = 0;        // layers run: <arch>.block_count without the MTP layers
  uint32_t n_mtp_layers = 0;    // <arch>.nextn_predict_layers (default 0): trailing
                                // multi-token-prediction blocks, which are not run
  uint32_t n_embd = 0;          // <arch>.embedding_length (hidden size)
  uint32_t n_ff = 0;            // <arch>.feed_forward_length
  uint32_t n_heads = 0;         // <arch>.attention.head_count
  uint32_t n_kv_heads = 0;      // <arch>.attention.head_count_kv (default: n_heads)
  uint32_t head_dim = 0;        // <arch>.attention.key_length (default: n_embd / n_heads)
  uint32_t n_rot = 0;           // <arch>.rope.dimension_count (default: head_dim)
  uint32_t context_length = 0;  // <arch>.context_length: the trained context
  uint32_t n_vocab = 0;         // entries of tokenizer.ggml.tokens (or <arch>.vocab_size)
  float rms_eps = 0.0f;         // <arch>.attention.layer_norm_rms_epsilon
  float rope_theta = 10000.0f;  // <arch>.rope.freq_base (default 10000)

  // <arch>.block_count: every block in the file, MTP blocks included.
  uint32_t block_count() const { return n_layers + n_mtp_layers; }
};

// Reads and checks the hyperparameters of `file` for `architecture`. Throws quant::Error naming the
// file and the key for a missing or invalid value (zero sizes, heads that do not divide, odd or too
// large rotary dimension, non-positive epsilon or base, MTP blocks that leave no layer to run).
Hparams read_hparams(const gguf::GgufFile& file, const std::string& architecture);

}  // namespace quant::model
