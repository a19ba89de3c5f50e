#pragma once
// Picks the next token from a logits vector on the CPU: greedy, or temperature sampling after
// repetition penalty, top-k, top-p and min-p (llama.cpp's order and semantics). Built for
// vocabularies of 150k-250k: no full sort unless top-p alone is asked to keep a large nucleus, and
// no allocation per call once the first call has sized the scratch space.

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace quant {

struct SamplerOptions {
  // 0 picks the largest logit (ties go to the lower token id); > 0 samples from softmax(logits /
  // T).
  float temperature = 0.8f;
  // Keep only the k largest logits; 0 keeps all.
  int32_t top_k = 40;
  // Keep the smallest set of most likely tokens whose probability sum reaches top_p; 1 keeps all.
  float top_p = 0.95f;
  // Drop tokens less likely than min_p times the most likely one; 0 keeps all.
  float min_p = 0.05f;
  // Each distinct token among the last `repetition_window` of the history has a positive logit
  // divided by, or a negative logit multiplied by, this factor (once, however often it occurs). 1
  // is off.
  float repetition_penalty = 1.0f;
  int32_t repetition_window = 64;
  // Same seed, same logits and same history give the same tokens (with one build of the program).
  uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws quant::Error naming the option when a value is out of range.
  explicit Sampler(const SamplerOptions& options);

  // Returns a token id in [0, logits.size()). `history` is the token sequence so far (prompt and
  // generated); only its last `repetition_window` tokens matter, and only when the penalty is on.
  // NaN logits count as -infinity. Throws quant::Error for empty logits, when no logit is finite
  // (or one is +infinity), and for history ids outside the vocabulary.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history = {});

  // Whether sample() is greedy_token(logits) whatever the history: temperature 0 without a
  // repetition penalty. A backend can then choose on the device (Session::decode_greedy).
  bool chooses_greedily() const;

  const SamplerOptions& options() const { return options_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float weight;  // exp((logit - max) / T): T = 1 for top-p, the temperature in draw()
  };

  std::span<const float> penalized(std::span<const float> logits, std::span<const int32_t> history);
  size_t gather_candidates(std::span<const float> scores);
  size_t keep_min_p(size_t count, float max_logit);
  size_t keep_top_p(size_t count, double total_mass);
  int32_t draw(size_t count, float max_logit);
  double next_unit();

  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<float> penalized_;       // the logits after the repetition penalty, when it is on
  std::vector<Candidate> candidates_;  // the tokens still in play, reordered by the filters
  std::vector<int32_t> window_;        // distinct tokens of the penalty window
};

}  // namespace quant
