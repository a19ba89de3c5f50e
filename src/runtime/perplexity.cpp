#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace quant {

double negative_log_likelihood(std::span<const float> logits, int32_t target) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (const float l : logits) sum += std::exp(double{l} - max_logit);
  return std::log(sum) + max_logit - logits[static_cast<size_t>(target)];
}

PerplexityResult compute_perplexity(Session& session, std::span<const int32_t> tokens,
                                    int32_t bos_id, const PerplexityOptions& options,
                                    const PerplexityProgress& progress) {
  const uint32_t context = options.context;
  if (context < 4) fail("perplexity context {} is too small (at least 4)", context);
  if (context > session.context_length())
    fail("perplexity context {} exceeds the session's context length {}", context,
         session.context_length());
  uint64_t n_chunks = tokens.size() / context;
  if (options.max_chunks > 0) n_chunks = std::min<uint64_t>(n_chunks, options.max_chunks);
  if (n_chunks == 0)
    fail("the text has {} tokens, fewer than one window of {}", tokens.size(), context);

  PerplexityResult result;
  result.n_chunks = static_cast<uint32_t>(n_chunks);
  double nll_sum = 0.0;
  double nll_squares = 0.0;
  std::vector<int32_t> window(context);
  const uint32_t first_scored = context / 2;
  for (uint32_t chunk = 0; chunk < n_chunks; ++chunk) {
    const auto start = tokens.begin() + uint64_t{chunk} * context;
    std::copy(start, start + context, window.begin());
    window[0] = bos_id;
    session.reset();
    const std::span<const float> logits = session.forward_batch(window);
    const uint32_t n_vocab = session.n_vocab();
    for (uint32_t j = first_scored; j + 1 < context; ++j) {
      // The target is the original token: only the window's first token is replaced.
      const double nll =
          negative_log_likelihood(logits.subspan(size_t{j} * n_vocab, n_vocab), start[j + 1]);
      nll_sum += nll;
      nll_squares += nll * nll;
      ++result.tokens_scored;
    }
    result.running_ppl.push_back(std::exp(nll_sum / static_cast<double>(result.tokens_scored)));
    if (progress) progress(chunk + 1, result.n_chunks);
  }
  const auto count = static_cast<double>(result.tokens_scored);
  const double mean = nll_sum / count;
  result.ppl = std::exp(mean);
  const double variance = nll_squares / count - mean * mean;
  result.ppl_error = count > 1 ? result.ppl * std::sqrt(std::max(0.0, variance) / (count - 1)) : 0;
  return result;
}

}  // namespace quant
