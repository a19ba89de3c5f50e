#pragma once
// The scale searches of the K-quant quantizers, run on all sub-blocks of a super-block side by
// side.
//
// ggml's reference quantizer fits one sub-block at a time, through long chains of dependent float
// sums, which is slow. Here sub-block k is lane k of every array: each lane does exactly the float
// operations of a one-sub-block-at-a-time fit, in the same order, so the results are bit-identical
// to it, while the loops over lanes vectorize. Inputs are transposed: x[i][k] is element i of
// sub-block k.

#include <cstdint>

namespace quant::detail {

// Q4_K and Q5_K: 8 sub-blocks of 32, value = scale * level - min, level in [0, nmax].
inline constexpr int kAffineLanes = 8;
inline constexpr int kAffineLength = 32;

// After a first fit spanning the sub-block's range with nmax levels, trial spans of
// nmax + rmin + rdelta * s levels (s = 0..steps) are each refined by weighted least squares; the
// fit with the least weighted squared error wins.
struct AffineSearch {
  int nmax;
  float rmin;
  float rdelta;
  int steps;
};

// One super-block, transposed: x[i][k] is element i of sub-block k; weights: its importance.
struct AffineInput {
  float x[kAffineLength][kAffineLanes];
  float weights[kAffineLength][kAffineLanes];
};

struct AffineFit {
  float scale[kAffineLanes];
  float min[kAffineLanes];                       // >= 0 except on degenerate input
  uint8_t levels[kAffineLanes * kAffineLength];  // sub-block k at [kAffineLength * k]
};

// Fits `count` super-blocks (1 to kMaxAffineBatch) at once. They are independent; running them
// together lets their chains of sums overlap.
inline constexpr int kMaxAffineBatch = 2;
void search_affine(const AffineInput* inputs, int count, const AffineSearch& search,
                   AffineFit* fits);

// Q6_K: 16 sub-blocks of 16, value = scale * level, level in [-nmax, nmax - 1]. Trial scales around
// the one that maps the largest magnitude to -nmax, weighted by x^2; the best least-squares fit
// wins.
inline constexpr int kSymmetricLanes = 16;
inline constexpr int kSymmetricLength = 16;

struct SymmetricFit {
  float scale[kSymmetricLanes];                        // 0 for an all-zero sub-block
  uint8_t levels[kSymmetricLanes * kSymmetricLength];  // level + nmax (0 for an all-zero sub-block)
};

void search_symmetric(const float (&x)[kSymmetricLength][kSymmetricLanes], int nmax,
                      SymmetricFit& fit);

}  // namespace quant::detail
