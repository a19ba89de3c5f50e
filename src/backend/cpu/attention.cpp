#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "backend/cpu/vector_exp.h"

namespace quant::cpu {
namespace {

constexpr uint32_t kLanes = 8;

// Eight floats, with the one operation the kernels need: acc + s * v, fused. The portable version
// rounds exactly as the AVX2 one.
#if defined(__AVX2__) && defined(__FMA__)
struct Vec8 {
  __m256 v = _mm256_setzero_ps();

  static Vec8 load(const float* p) { return {_mm256_loadu_ps(p)}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void fma(float s, const Vec8& x) { v = _mm256_fmadd_ps(_mm256_set1_ps(s), x.v, v); }
  void scale(float s) { v = _mm256_mul_ps(v, _mm256_set1_ps(s)); }
};
#else
struct Vec8 {
  float v[kLanes] = {};

  static Vec8 load(const float* p) {
    Vec8 r;
    for (uint32_t i = 0; i < kLanes; ++i) r.v[i] = p[i];
    return r;
  }
  void store(float* p) const {
    for (uint32_t i = 0; i < kLanes; ++i) p[i] = v[i];
  }
  void fma(float s, const Vec8& x) {
    for (uint32_t i = 0; i < kLanes; ++i) v[i] = std::fma(s, x.v[i], v[i]);
  }
  void scale(float s) {
    for (uint32_t i = 0; i < kLanes; ++i) v[i] *= s;
  }
};
#endif

static_assert(kKeyBlock == 2 * kLanes);

size_t round_up(size_t n, size_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

// Scores of G queries against B consecutive key blocks from block `first`: scores[g][(first + b) *
// kKeyBlock + i] = scale * (q_g · key i of block first + b), the products summed over the
// dimensions in order.
template <int G, int B>
void score_tile(const float* const* q, const float* keys, uint32_t first, uint32_t head_dim,
                float scale, float* const* scores) {
  const size_t block_floats = size_t{head_dim} * kKeyBlock;
  const float* blocks = keys + first * block_floats;
  Vec8 acc[G][B][2];
  for (uint32_t d = 0; d < head_dim; ++d)
    for (int b = 0; b < B; ++b) {
      const float* k = blocks + b * block_floats + d * kKeyBlock;
      const Vec8 low = Vec8::load(k), high = Vec8::load(k + kLanes);
      for (int g = 0; g < G; ++g) {
        acc[g][b][0].fma(q[g][d], low);
        acc[g][b][1].fma(q[g][d], high);
      }
    }
  for (int g = 0; g < G; ++g)
    for (int b = 0; b < B; ++b)
      for (int half = 0; half < 2; ++half) {
        acc[g][b][half].scale(scale);
        acc[g][b][half].store(scores[g] + (first + b) * kKeyBlock + half * kLanes);
      }
}

// Scores of G queries against key blocks [0, n_blocks).
template <int G>
void score_blocks(const float* const* q, const float* keys, uint32_t n_blocks, uint32_t head_dim,
                  float scale, float* const* scores) {
  // Blocks per tile: enough independent accumulators to hide the multiply-add latency.
  constexpr int kBlocks = G == 1 ? 4 : G == 2 ? 2 : 1;
  uint32_t b = 0;
  for (; b + kBlocks <= n_blocks; b += kBlocks)
    score_tile<G, kBlocks>(q, keys, b, head_dim, scale, scores);
  for (; b < n_blocks; ++b) score_tile<G, 1>(q, keys, b, head_dim, scale, scores);
}

// Turns the first n scores into softmax weights in place.
void softmax(float* scores, uint32_t n) {
  float max_score = -INFINITY;
  for (uint32_t p = 0; p < n; ++p) max_score = std::max(max_score, scores[p]);
  const auto inverse_sum = static_cast<float>(1.0 / exp_shifted(scores, max_score, scores, n));
  for (uint32_t p = 0; p < n; ++p) scores[p] *= inverse_sum;
}

// Dimensions [d, d + 8W) of out_g = sum_p weights[g][p] v_p for G queries, query g over the first
// n + g positions.
template <int G, int W>
void weighted_values_tile(const float* const* weights, uint32_t n, const KvHead& cache, uint32_t d,
                          float* const* out) {
  Vec8 acc[G][W];
  const auto add_position = [&](uint32_t p, int first_query) {
    const float* v = cache.values + p * cache.value_stride + d;
    for (int w = 0; w < W; ++w) {
      const Vec8 x = Vec8::load(v + w * kLanes);
      for (int g = first_query; g < G; ++g) acc[g][w].fma(weights[g][p], x);
    }
  };
  for (uint32_t p = 0; p < n; ++p) add_position(p, 0);
  for (int g = 1; g < G; ++g) add_position(n + g - 1, g);  // positions the later queries add
  for (int g = 0; g < G; ++g)
    for (int w = 0; w < W; ++w) acc[g][w].store(out[g] + d + w * kLanes);
}

// The same for dimension d alone (head sizes that are no multiple of 8).
template <int G>
void weighted_values_dim(const float* const* weights, uint32_t n, const KvHead& cache, uint32_t d,
                         float* const* out) {
  float acc[G] = {};
  for (uint32_t p = 0; p < n + G - 1; ++p) {
    const float v = cache.values[p * cache.value_stride + d];
    for (int g = 0; g < G; ++g)
      if (p < n + g) acc[g] = std::fma(weights[g][p], v, acc[g]);
  }
  for (int g = 0; g < G; ++g) out[g][d] = acc[g];
}

template <int G>
void weighted_values(const float* const* weights, uint32_t n, const KvHead& cache,
                     uint32_t head_dim, float* const* out) {
  // Vectors per query: eight accumulators in all.
  constexpr int kWidth = std::max(1, 8 / G);
  uint32_t d = 0;
  for (; d + kWidth * kLanes <= head_dim; d += kWidth * kLanes)
    weighted_values_tile<G, kWidth>(weights, n, cache, d, out);
  for (; d + kLanes <= head_dim; d += kLanes) weighted_values_tile<G, 1>(weights, n, cache, d, out);
  for (; d < head_dim; ++d) weighted_values_dim<G>(weights, n, cache, d, out);
}

// Queries [0, G) of a group, query g at position first_position + g.
template <int G>
void attend_group(const float* q, size_t q_stride, uint32_t first_position, const KvHead& cache,
                  uint32_t head_dim, float scale, float* scores, size_t scores_stride, float* out,
                  size_t out_stride) {
  const float* queries[G];
  float* rows[G];
  float* outs[G];
  for (int g = 0; g < G; ++g) {
    queries[g] = q + g * q_stride;
    rows[g] = scores + g * scores_stride;
    outs[g] = out + g * out_stride;
  }
  const uint32_t n_first = first_position + 1;  // positions the first query sees
  const auto n_blocks = static_cast<uint32_t>(round_up(n_first + G - 1, kKeyBlock) / kKeyBlock);
  score_blocks<G>(queries, cache.keys, n_blocks, head_dim, scale, rows);
  for (int g = 0; g < G; ++g) softmax(rows[g], n_first + g);
  weighted_values<G>(rows, n_first, cache, head_dim, outs);
}

}  // namespace

size_t key_block_floats(uint32_t positions, uint32_t head_dim) {
  return round_up(positions, kKeyBlock) * head_dim;
}

void store_key(const float* key, uint32_t head_dim, uint32_t pos, float* head_keys) {
  float* block = head_keys + size_t{pos / kKeyBlock} * head_dim * kKeyBlock + pos % kKeyBlock;
  for (uint32_t d = 0; d < head_dim; ++d) block[d * kKeyBlock] = key[d];
}

void causal_attention(const float* q, size_t q_stride, uint32_t n_queries, uint32_t first_position,
                      const KvHead& cache, uint32_t head_dim, float scale, float* scores,
                      float* out, size_t out_stride) {
  const size_t scores_stride = key_block_floats(first_position + n_queries, 1);
  for (uint32_t i = 0; i < n_queries; i += kQueryGroup) {
    const float* group_q = q + i * q_stride;
    float* group_out = out + i * out_stride;
    const uint32_t pos = first_position + i;
    switch (std::min(kQueryGroup, n_queries - i)) {
      case 1:
        attend_group<1>(group_q, q_stride, pos, cache, head_dim, scale, scores, scores_stride,
                        group_out, out_stride);
        break;
      case 2:
        attend_group<2>(group_q, q_stride, pos, cache, head_dim, scale, scores, scores_stride,
                        group_out, out_stride);
        break;
      case 3:
        attend_group<3>(group_q, q_stride, pos, cache, head_dim, scale, scores, scores_stride,
                        group_out, out_stride);
        break;
      default:
        attend_group<4>(group_q, q_stride, pos, cache, head_dim, scale, scores, scores_stride,
                        group_out, out_stride);
        break;
    }
  }
}

}  // namespace quant::cpu
