#pragma once
// Random numbers that are the same on every machine, compiler and standard library: a splitmix64
// generator and distributions built from integer operations and single IEEE-754 operations
// (std::normal_distribution and libm's exp/log differ between platforms; these do not). The library
// is compiled with -ffp-contract=off so that no multiply-add gets fused differently on another
// compiler. The per-value functions are inline: a 4B-parameter model draws four billion of them.

#include <bit>
#include <cstdint>
#include <string_view>

namespace quant::modelgen {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += kGolden;
    return finalize(state_);
  }

  static constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  static constexpr uint64_t finalize(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// A well-mixed 64-bit value of `a` and `b` (for deriving independent streams).
inline uint64_t mix_keys(uint64_t a, uint64_t b) {
  return SplitMix64::finalize(SplitMix64::finalize(a + SplitMix64::kGolden) ^ b);
}
// FNV-1a of a string, to key a stream by a tensor's name.
uint64_t hash_name(std::string_view name);

// Uniform in [0, 1), 24 bits of resolution (exact in float).
inline double uniform_unit(uint64_t bits) {
  return static_cast<double>(bits >> 40) * (1.0 / static_cast<double>(uint64_t{1} << 24));
}

// The integer core of approximate_normal: the number of heads in 32 fair coin flips, minus 16, in
// units of 2^-24, plus a uniform offset in [-1/2, 1/2) that fills the gaps between the binomial's
// integer values. Exact; its variance is (8 + 1/12) * 2^48.
inline int64_t centered_coin_sum(uint64_t bits) {
  const int64_t heads = std::popcount(static_cast<uint32_t>(bits >> 32));
  const auto fraction = static_cast<int64_t>(bits & 0xFFFFFF);
  return (heads - 16) * (int64_t{1} << 24) + fraction - (int64_t{1} << 23);
}
// The factor that turns centered_coin_sum into unit variance.
double coin_sum_unit_scale();

// Approximately standard normal (mean 0, standard deviation 1), bounded by about 5.8 standard
// deviations, which suits random weights.
inline double approximate_normal(uint64_t bits) {
  return static_cast<double>(centered_coin_sum(bits)) * coin_sum_unit_scale();
}

// e^x for |x| <= 1, from its Taylor series (basic operations only); accurate to a few ulp.
double exp_small(double x);

}  // namespace quant::modelgen
