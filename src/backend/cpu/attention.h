#pragma once
// Causal attention of the CPU backend over its F32 KV cache, for a batch of consecutive query
// tokens of one head at once: a head's keys and values are read once per four queries rather
// than once per query, and a query's scores against 16 positions are one run of vector
// multiply-adds rather than 16 dot products.
//
// The keys of a KV head lie in blocks of kKeyBlock positions, dimension-major within a block:
// float d * kKeyBlock + i of block b is dimension d of position b * kKeyBlock + i. The values lie
// by position. Every score and every output element is a chain of fused multiply-adds in a fixed
// order (dimensions, then positions, from the first), so a query's result does not depend on
// which other queries share its batch.

#include <cstddef>
#include <cstdint>

namespace quant::cpu {

// Positions per key block.
constexpr uint32_t kKeyBlock = 16;
// Queries whose scores and weighted sums are computed together.
constexpr uint32_t kQueryGroup = 4;

// The floats one KV head's keys take for `positions` positions (rounded up to whole blocks).
size_t key_block_floats(uint32_t positions, uint32_t head_dim);

// Writes the key of position `pos` (head_dim floats) into a head's key blocks.
void store_key(const float* key, uint32_t head_dim, uint32_t pos, float* head_keys);

// One KV head of the cache.
struct KvHead {
  const float* keys;    // the head's key blocks
  const float* values;  // the head's values at position 0
  size_t value_stride;  // floats from one position's values to the next
};

// For query i < n_queries (head_dim floats at q + i * q_stride) at position first_position + i:
// out + i * out_stride gets sum_p softmax_p(scale * q·k_p) v_p over positions p <= that position.
// `scores` holds kQueryGroup * key_block_floats(first_position + n_queries, 1) floats.
void causal_attention(const float* q, size_t q_stride, uint32_t n_queries, uint32_t first_position,
                      const KvHead& cache, uint32_t head_dim, float scale, float* scores,
                      float* out, size_t out_stride);

}  // namespace quant::cpu
