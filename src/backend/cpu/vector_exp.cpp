#include "backend/cpu/vector_exp.h"

#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace quant::cpu {
namespace {

#if defined(__AVX2__) && defined(__FMA__)

constexpr size_t kLanes = 8;

// exp(x): x = n ln 2 + r with |r| <= ln 2 / 2, exp(r) by Cephes' expf polynomial, times 2^n. x is
// clamped to where 2^n is a normal float.
__m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.336544f)), _mm256_set1_ps(88.376266f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln 2 in two parts, so that n * the first is exact.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i exponent =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
}

// Calls fn(first, count) for the full vectors of [0, n) and then, through copies padded to a full
// vector, for the rest, so that every element goes through the vector code.
template <typename Fn>
void for_each_vector(size_t n, const Fn& fn) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) fn(i, kLanes);
  if (i < n) fn(i, n - i);
}

__m256 load_part(const float* p, size_t count) {
  if (count == kLanes) return _mm256_loadu_ps(p);
  float padded[kLanes] = {};
  std::memcpy(padded, p, count * sizeof(float));
  return _mm256_loadu_ps(padded);
}

void store_part(float* p, __m256 v, size_t count) {
  if (count == kLanes) return _mm256_storeu_ps(p, v);
  float padded[kLanes];
  _mm256_storeu_ps(padded, v);
  std::memcpy(p, padded, count * sizeof(float));
}

#endif

}  // namespace

double exp_shifted(const float* in, float shift, float* out, size_t n) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256d sum_low = _mm256_setzero_pd(), sum_high = _mm256_setzero_pd();
  for_each_vector(n, [&](size_t i, size_t count) {
    __m256 e = exp8(_mm256_sub_ps(load_part(in + i, count), _mm256_set1_ps(shift)));
    store_part(out + i, e, count);
    if (count < kLanes)  // the padding lanes add nothing
      e = _mm256_and_ps(
          e, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                                                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))));
    sum_low = _mm256_add_pd(sum_low, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum_high = _mm256_add_pd(sum_high, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  });
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(sum_low, sum_high));
  return (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
#else
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    out[i] = std::exp(in[i] - shift);
    sum += out[i];
  }
  return sum;
#endif
}

void silu_mul(const float* gate, const float* up, float* out, size_t n) {
#if defined(__AVX2__) && defined(__FMA__)
  for_each_vector(n, [&](size_t i, size_t count) {
    const __m256 g = load_part(gate + i, count);
    const __m256 silu = _mm256_div_ps(
        g, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
    store_part(out + i, _mm256_mul_ps(silu, load_part(up + i, count)), count);
  });
#else
  for (size_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
#endif
}

}  // namespace quant::cpu
