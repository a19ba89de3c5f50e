// Lane-parallel scale searches (see k_scale_search.h). All sub-blocks of a super-block travel
// together in one lane vector; the operations within a lane follow the one-sub-block-at-a-time
// reference exactly, and conditional updates become per-lane selects.
//
// Lane vectors are GCC/Clang vector extensions: on x86-64-v3 one AVX register per 8 lanes, lowered
// to narrower registers or scalars on other targets. Every operation on them is element-wise IEEE
// arithmetic, so the results do not depend on how they are lowered. (Plain loops over lanes would
// do the same, but compilers vectorize them the wrong way round, across the chains of dependent
// sums.)

#include "formats/k_scale_search.h"

#include <bit>
#include <cassert>
#include <cstring>

// The lane vectors are passed between functions of this file only, so GCC's notes that their
// calling convention differs between instruction sets (AVX, AVX-512) do not apply.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace quant::detail {
namespace {

using Float8 = float __attribute__((vector_size(32)));
static_assert(sizeof(Float8) == kAffineLanes * sizeof(float));
static_assert(kSymmetricLanes % kAffineLanes == 0);

// The integer vector that comparisons of F give (lanes of all ones or zeros).
template <typename F>
using Mask = decltype(F{} < F{});

// Sub-blocks whose largest magnitude is below this are all zero to the symmetric search.
constexpr float kZeroGroup = 1e-15f;

// Each lane rounded to nearest (ties to even) and limited to [lo, hi], as a float. The rounding is
// nearest_int's (quant_rounding.h): adding 1.5 * 2^23 leaves the integer in the low mantissa bits.
template <typename F>
F round_to_level(F value, int lo, int hi) {
  using I = Mask<F>;
  const I bits = std::bit_cast<I>(value + 12582912.0f);
  I level = (bits & 0x7fffff) - 0x400000;
  const I low = I{} + lo;
  const I high = I{} + hi;
  level = level < low ? low : level;
  level = level > high ? high : level;
  return __builtin_convertvector(level, F);
}

// fabs of each lane: the sign bit cleared.
template <typename F>
F abs_lanes(F value) {
  using I = Mask<F>;
  return std::bit_cast<F>(std::bit_cast<I>(value) & 0x7fffffff);
}

// G super-blocks, interleaved in every loop.
template <int G>
void search_affine_batch(const AffineInput* inputs, const AffineSearch& search, AffineFit* fits) {
  using F = Float8;
  constexpr int L = kAffineLength;
  const int nmax = search.nmax;
  F x[L][G], w[L][G];
  for (int g = 0; g < G; ++g) {
    for (int i = 0; i < L; ++i) {
      std::memcpy(&x[i][g], inputs[g].x[i], sizeof(F));
      std::memcpy(&w[i][g], inputs[g].weights[i], sizeof(F));
    }
  }

  F min[G], max[G], sum_w[G], sum_x[G];
  for (int g = 0; g < G; ++g) {
    min[g] = max[g] = x[0][g];
    sum_w[g] = w[0][g];
    sum_x[g] = sum_w[g] * x[0][g];
  }
  for (int i = 1; i < L; ++i) {
    for (int g = 0; g < G; ++g) {
      min[g] = x[i][g] < min[g] ? x[i][g] : min[g];
      max[g] = x[i][g] > max[g] ? x[i][g] : max[g];
      sum_w[g] += w[i][g];
      sum_x[g] += w[i][g] * x[i][g];
    }
  }
  const F zero{};
  Mask<F> flat[G];
  for (int g = 0; g < G; ++g) {
    min[g] = min[g] > 0 ? zero : min[g];  // the offset only ever lowers values
    flat[g] = max[g] == min[g];
  }

  // The levels of the best fit so far are remembered by how they were made: (x - shift) * iscale.
  F best_iscale[G], best_shift[G], scale[G], best_error[G];
  for (int g = 0; g < G; ++g) {
    best_iscale[g] = static_cast<float>(nmax) / (max[g] - min[g]);
    best_shift[g] = min[g];
    scale[g] = 1 / best_iscale[g];
    best_error[g] = zero;
  }
  for (int i = 0; i < L; ++i) {
    for (int g = 0; g < G; ++g) {
      const F level = round_to_level(best_iscale[g] * (x[i][g] - min[g]), 0, nmax);
      const F diff = scale[g] * level + min[g] - x[i][g];
      best_error[g] += w[i][g] * (diff * diff);
    }
  }

  for (int step = 0; step <= search.steps; ++step) {
    const float span =
        search.rmin + search.rdelta * static_cast<float>(step) + static_cast<float>(nmax);
    F iscale[G], shift[G], sum_l[G], sum_l2[G], sum_xl[G];
    for (int g = 0; g < G; ++g) {
      iscale[g] = span / (max[g] - min[g]);
      shift[g] = min[g];
      sum_l[g] = sum_l2[g] = sum_xl[g] = zero;
    }
    F trial[L][G];
    for (int i = 0; i < L; ++i) {
      for (int g = 0; g < G; ++g) {
        trial[i][g] = round_to_level(iscale[g] * (x[i][g] - shift[g]), 0, nmax);
        const F weighted = w[i][g] * trial[i][g];
        sum_l[g] += weighted;
        sum_l2[g] += weighted * trial[i][g];
        sum_xl[g] += weighted * x[i][g];
      }
    }
    // Least squares for scale and offset given these levels; an offset that would raise values is
    // dropped and the scale refitted alone.
    F determinant[G], trial_scale[G], trial_min[G], error[G];
    for (int g = 0; g < G; ++g) {
      determinant[g] = sum_w[g] * sum_l2[g] - sum_l[g] * sum_l[g];
      const F fitted_scale = (sum_w[g] * sum_xl[g] - sum_x[g] * sum_l[g]) / determinant[g];
      const F fitted_min = (sum_l2[g] * sum_x[g] - sum_l[g] * sum_xl[g]) / determinant[g];
      const Mask<F> clipped = fitted_min > 0;
      trial_scale[g] = clipped ? sum_xl[g] / sum_l2[g] : fitted_scale;
      trial_min[g] = clipped ? zero : fitted_min;
      error[g] = zero;
    }
    for (int i = 0; i < L; ++i) {
      for (int g = 0; g < G; ++g) {
        const F diff = trial_scale[g] * trial[i][g] + trial_min[g] - x[i][g];
        error[g] += w[i][g] * (diff * diff);
      }
    }
    for (int g = 0; g < G; ++g) {
      const Mask<F> better = (determinant[g] > 0) & (error[g] < best_error[g]);
      best_error[g] = better ? error[g] : best_error[g];
      scale[g] = better ? trial_scale[g] : scale[g];
      min[g] = better ? trial_min[g] : min[g];
      best_iscale[g] = better ? iscale[g] : best_iscale[g];
      best_shift[g] = better ? shift[g] : best_shift[g];
    }
  }

  for (int g = 0; g < G; ++g) {
    const F fit_scale = flat[g] ? zero : scale[g];
    const F fit_min = -min[g];
    std::memcpy(fits[g].scale, &fit_scale, sizeof fit_scale);
    std::memcpy(fits[g].min, &fit_min, sizeof fit_min);
    for (int i = 0; i < L; ++i) {
      const F level = round_to_level(best_iscale[g] * (x[i][g] - best_shift[g]), 0, nmax);
      const F kept = flat[g] ? zero : level;
      for (int k = 0; k < kAffineLanes; ++k) {
        fits[g].levels[L * k + i] = static_cast<uint8_t>(kept[k]);
      }
    }
  }
}

}  // namespace

void search_affine(const AffineInput* inputs, int count, const AffineSearch& search,
                   AffineFit* fits) {
  assert(search.steps >= 1);
  static_assert(kMaxAffineBatch == 2);
  if (count == 2) {
    search_affine_batch<2>(inputs, search, fits);
  } else {
    assert(count == 1);
    search_affine_batch<1>(inputs, search, fits);
  }
}

void search_symmetric(const float (&x_rows)[kSymmetricLength][kSymmetricLanes], int nmax,
                      SymmetricFit& fit) {
  // Two groups of 8 lanes, interleaved in every loop so that their chains of sums overlap.
  using F = Float8;
  constexpr int L = kSymmetricLength;
  constexpr int W = sizeof(F) / sizeof(float);
  constexpr int G = kSymmetricLanes / W;
  F x[L][G];
  for (int i = 0; i < L; ++i) std::memcpy(x[i], x_rows[i], sizeof x[i]);

  F amax[G] = {}, max[G] = {};  // max: the element of largest magnitude, the first on ties
  for (int i = 0; i < L; ++i) {
    for (int g = 0; g < G; ++g) {
      const F magnitude = abs_lanes(x[i][g]);
      const Mask<F> larger = magnitude > amax[g];
      amax[g] = larger ? magnitude : amax[g];
      max[g] = larger ? x[i][g] : max[g];
    }
  }

  // Weighted sums of one trial scale; weights x^2 favour the large values.
  F sum_lx[G], sum_l2[G];
  const auto accumulate = [&](const F(&iscale)[G]) {
    for (int g = 0; g < G; ++g) sum_lx[g] = sum_l2[g] = F{};
    for (int i = 0; i < L; ++i) {
      for (int g = 0; g < G; ++g) {
        const F level = round_to_level(iscale[g] * x[i][g], -nmax, nmax - 1);
        const F weight = x[i][g] * x[i][g];
        sum_lx[g] += weight * x[i][g] * level;
        sum_l2[g] += weight * level * level;
      }
    }
  };

  const F zero{};
  F best_iscale[G], scale[G], best[G];
  for (int g = 0; g < G; ++g) best_iscale[g] = static_cast<float>(-nmax) / max[g];
  accumulate(best_iscale);
  for (int g = 0; g < G; ++g) {
    scale[g] = sum_l2[g] != 0 ? sum_lx[g] / sum_l2[g] : zero;
    best[g] = scale[g] * sum_lx[g];
  }
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    const float span = static_cast<float>(nmax) + 0.1f * static_cast<float>(step);
    F iscale[G];
    for (int g = 0; g < G; ++g) iscale[g] = -span / max[g];
    accumulate(iscale);
    for (int g = 0; g < G; ++g) {
      // sum_lx^2 / sum_l2 is the error reduction of the least-squares scale: more is better.
      const Mask<F> better = (sum_l2[g] > 0) & (sum_lx[g] * sum_lx[g] > best[g] * sum_l2[g]);
      const F fitted = sum_lx[g] / sum_l2[g];
      scale[g] = better ? fitted : scale[g];
      best[g] = better ? fitted * sum_lx[g] : best[g];
      best_iscale[g] = better ? iscale[g] : best_iscale[g];
    }
  }

  for (int g = 0; g < G; ++g) {
    const Mask<F> all_zero = amax[g] < kZeroGroup;
    const F fit_scale = all_zero ? zero : scale[g];
    std::memcpy(fit.scale + W * g, &fit_scale, sizeof fit_scale);
    for (int i = 0; i < L; ++i) {
      const F level =
          round_to_level(best_iscale[g] * x[i][g], -nmax, nmax - 1) + static_cast<float>(nmax);
      const F kept = all_zero ? zero : level;
      for (int k = 0; k < W; ++k) fit.levels[L * (W * g + k) + i] = static_cast<uint8_t>(kept[k]);
    }
  }
}

}  // namespace quant::detail
