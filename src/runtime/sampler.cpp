#include "runtime/sampler.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "common/error.h"
#include "plan/backend.h"

namespace quant {

namespace {

// The total order every filter uses: larger logit first, lower id first among equal logits. It
// makes the kept set (and so the result for a given seed) independent of how the standard library
// selects.
template <typename C>
bool ranks_before(const C& a, const C& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// NaN logits (a bug upstream) rank as -infinity, so that the ranking stays a strict weak order.
float rank_value(float logit) {
  return std::isnan(logit) ? -INFINITY : logit;
}

void check_options(const SamplerOptions& o) {
  if (!(o.temperature >= 0.0f) || !std::isfinite(o.temperature))
    fail("sampler: temperature {} must be a finite number >= 0", o.temperature);
  if (o.top_k < 0) fail("sampler: top_k {} must be >= 0 (0 keeps all tokens)", o.top_k);
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f))
    fail("sampler: top_p {} must be in (0, 1] (1 keeps all tokens)", o.top_p);
  if (!(o.min_p >= 0.0f && o.min_p <= 1.0f))
    fail("sampler: min_p {} must be in [0, 1] (0 keeps all tokens)", o.min_p);
  if (!(o.repetition_penalty > 0.0f) || !std::isfinite(o.repetition_penalty))
    fail("sampler: repetition_penalty {} must be a finite number > 0 (1 is off)",
         o.repetition_penalty);
  if (o.repetition_window < 0)
    fail("sampler: repetition_window {} must be >= 0", o.repetition_window);
}

}  // namespace

bool Sampler::chooses_greedily() const {
  return options_.temperature == 0.0f &&
         (options_.repetition_penalty == 1.0f || options_.repetition_window == 0);
}

Sampler::Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) {
  check_options(options_);
  window_.reserve(static_cast<size_t>(options_.repetition_window));
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (logits.empty()) fail("sampler: the logits vector is empty");
  std::span<const float> scores = penalized(logits, history);

  if (options_.temperature == 0.0f) return greedy_token(scores);

  size_t count = gather_candidates(scores);
  const float max_logit = candidates_.front().logit;  // gather_candidates puts the best first
  if (!std::isfinite(max_logit)) fail("sampler: the largest logit is {}", max_logit);
  // top-p measures mass against the distribution left by top-k (llama.cpp applies it before min-p),
  // so its total is taken before min-p shrinks the set.
  double top_k_mass = 0.0;
  if (options_.top_p < 1.0f) {
    for (size_t i = 0; i < count; ++i) {
      Candidate& c = candidates_[i];
      c.weight = std::exp(c.logit - max_logit);
      top_k_mass += c.weight;
    }
  }
  count = keep_min_p(count, max_logit);
  if (options_.top_p < 1.0f) count = keep_top_p(count, top_k_mass);
  return draw(count, max_logit);
}

std::span<const float> Sampler::penalized(std::span<const float> logits,
                                          std::span<const int32_t> history) {
  if (options_.repetition_penalty == 1.0f || options_.repetition_window == 0 || history.empty())
    return logits;
  const size_t window = std::min(history.size(), static_cast<size_t>(options_.repetition_window));
  window_.assign(history.end() - static_cast<std::ptrdiff_t>(window), history.end());
  std::sort(window_.begin(), window_.end());
  window_.erase(std::unique(window_.begin(), window_.end()), window_.end());

  penalized_.assign(logits.begin(), logits.end());
  for (int32_t token : window_) {
    if (token < 0 || static_cast<size_t>(token) >= logits.size())
      fail("sampler: history token {} is outside the vocabulary of {} tokens", token,
           logits.size());
    float& logit = penalized_[static_cast<size_t>(token)];
    logit =
        logit > 0.0f ? logit / options_.repetition_penalty : logit * options_.repetition_penalty;
  }
  return penalized_;
}

size_t Sampler::gather_candidates(std::span<const float> scores) {
  const auto before = [](const Candidate& a, const Candidate& b) { return ranks_before(a, b); };
  const size_t k = static_cast<size_t>(options_.top_k);
  if (k == 0 || k >= scores.size()) {
    candidates_.resize(scores.size());
    for (size_t i = 0; i < scores.size(); ++i)
      candidates_[i] = {static_cast<int32_t>(i), rank_value(scores[i]), 0.0f};
    // Only the best has to be in front; the rest is ordered later if top-p needs it.
    std::iter_swap(candidates_.begin(),
                   std::min_element(candidates_.begin(), candidates_.end(), before));
    return candidates_.size();
  }
  // One pass with a heap of the k best so far, its worst on top: after the first few thousand
  // logits a newcomer rarely reaches the worst, so this costs about one comparison per token.
  candidates_.clear();
  for (size_t i = 0; i < k; ++i)
    candidates_.push_back({static_cast<int32_t>(i), rank_value(scores[i]), 0.0f});
  std::make_heap(candidates_.begin(), candidates_.end(), before);
  float worst_kept = candidates_.front().logit;
  for (size_t i = k; i < scores.size(); ++i) {
    // An equal logit with a higher id ranks after the worst kept; NaN compares false and is
    // skipped.
    if (!(scores[i] > worst_kept)) continue;
    std::pop_heap(candidates_.begin(), candidates_.end(), before);
    candidates_.back() = {static_cast<int32_t>(i), scores[i], 0.0f};
    std::push_heap(candidates_.begin(), candidates_.end(), before);
    worst_kept = candidates_.front().logit;
  }
  std::sort_heap(candidates_.begin(), candidates_.end(), before);  // best first
  return k;
}

size_t Sampler::keep_min_p(size_t count, float max_logit) {
  if (options_.min_p == 0.0f) return count;
  // p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p). The kept tokens are a prefix of
  // the ranked order, so dropping them before top-p does not change what top-p keeps.
  const float threshold = max_logit + std::log(options_.min_p);
  const auto begin = candidates_.begin();
  const auto end = begin + static_cast<std::ptrdiff_t>(count);
  const auto kept =
      std::partition(begin, end, [&](const Candidate& c) { return c.logit >= threshold; });
  return static_cast<size_t>(kept - begin);
}

size_t Sampler::keep_top_p(size_t count, double total_mass) {
  const auto before = [](const Candidate& a, const Candidate& b) { return ranks_before(a, b); };
  const auto at = [&](size_t i) { return candidates_.begin() + static_cast<std::ptrdiff_t>(i); };
  const double target = static_cast<double>(options_.top_p) * total_mass;
  // A quickselect on mass instead of a sort: the nucleus is the shortest ranked prefix whose mass
  // reaches the target, and its end lies in (lo, hi]. Halving the range with nth_element costs O(n)
  // in all, where a sort of a 250k vocabulary would cost O(n log n).
  size_t lo = 0, hi = count;
  double mass_before_lo = 0.0;  // of the tokens ranked before `lo`; below the target
  while (hi - lo > 64) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(at(lo), at(mid), at(hi), before);
    double mass = mass_before_lo;
    for (size_t i = lo; i < mid; ++i) mass += candidates_[i].weight;
    if (mass >= target) {
      hi = mid;
    } else {
      lo = mid;
      mass_before_lo = mass;
    }
  }
  std::sort(at(lo), at(hi), before);
  for (size_t i = lo; i < hi; ++i) {
    mass_before_lo += candidates_[i].weight;
    if (mass_before_lo >= target) return i + 1;  // the token that reaches top_p is kept
  }
  return hi;
}

int32_t Sampler::draw(size_t count, float max_logit) {
  assert(count > 0);
  const float inv_temperature = 1.0f / options_.temperature;
  double total = 0.0;
  for (size_t i = 0; i < count; ++i) {
    Candidate& c = candidates_[i];
    c.weight = std::exp((c.logit - max_logit) * inv_temperature);
    total += c.weight;
  }
  double remaining = next_unit() * total;
  for (size_t i = 0; i < count; ++i) {
    remaining -= candidates_[i].weight;
    if (remaining < 0.0) return candidates_[i].id;
  }
  return candidates_[count - 1].id;  // rounding left a sliver of mass past the last token
}

double Sampler::next_unit() {
  // 53 random bits as a double in [0, 1); std::uniform_real_distribution is not specified
  // bit-for-bit, this is.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

}  // namespace quant
