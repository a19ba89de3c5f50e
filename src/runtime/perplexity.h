#pragma once
// Perplexity the way llama.cpp's llama-perplexity computes it: the tokenized text (BOS first) is
// cut into non-overlapping windows of `context` tokens; each window is evaluated from an empty
// cache with its first token replaced by BOS, and only its second half is scored: the logits at
// positions context/2 .. context-2 predict the tokens at context/2+1 .. context-1.

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "runtime/session.h"

namespace quant {

struct PerplexityOptions {
  uint32_t context = 512;   // tokens per window (>= 4; at most the session's context length)
  uint32_t max_chunks = 0;  // windows to evaluate; 0: all that fit in the text
};

struct PerplexityResult {
  double ppl = 0.0;        // exp(mean negative log-likelihood)
  double ppl_error = 0.0;  // ppl * sqrt((E[nll^2] - E[nll]^2) / (count - 1))
  uint64_t tokens_scored = 0;
  uint32_t n_chunks = 0;
  std::vector<double> running_ppl;  // ppl over the chunks so far, after each chunk
};

// Called after each chunk with (chunks done, chunks in all).
using PerplexityProgress = std::function<void(uint32_t done, uint32_t total)>;

// Throws quant::Error when the text has fewer than one window of tokens, or the options do not fit
// the session.
PerplexityResult compute_perplexity(Session& session, std::span<const int32_t> tokens,
                                    int32_t bos_id, const PerplexityOptions& options,
                                    const PerplexityProgress& progress = {});

// -log softmax(logits)[target], in double precision.
double negative_log_likelihood(std::span<const float> logits, int32_t target);

}  // namespace quant
