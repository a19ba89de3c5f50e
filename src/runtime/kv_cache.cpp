#include "runtime/kv_cache.h"

#include <algorithm>

#include "common/error.h"

namespace quant {

uint32_t resolve_context_length(uint32_t requested, uint32_t trained_context) {
  if (requested > kMaxContextLength)
    fail("context length {} is larger than the supported maximum {}", requested, kMaxContextLength);
  if (requested > 0) return requested;
  return std::clamp(trained_context, 1u, kDefaultContextCap);
}

uint64_t session_state_bytes(const plan::Plan& plan, uint32_t context_length,
                             uint32_t kv_bytes_per_value) {
  uint64_t total = 0;
  for (const plan::KvCacheDecl& cache : plan.kv_caches)
    total += 2 * uint64_t{cache.n_kv_heads} * cache.head_dim * context_length * kv_bytes_per_value;
  for (const plan::StateDecl& state : plan.states) total += state.n_floats * sizeof(float);
  return total;
}

}  // namespace quant
