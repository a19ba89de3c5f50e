#pragma once
// How many positions a session's KV caches hold, and what they and the recurrent states cost. Both
// belong to the backend (host memory for the CPU, device memory for Vulkan); the session owns the
// position and uses this to refuse tokens past the end.

#include <cstdint>

#include "plan/plan.h"

namespace quant {

// The default context when none is asked for: the model's trained context, but no more than this,
// so a 128k-context model does not reserve gigabytes of KV cache for a short prompt.
inline constexpr uint32_t kDefaultContextCap = 4096;
// The largest context one may ask for (keeps every cache size far from overflow).
inline constexpr uint32_t kMaxContextLength = 1u << 20;

// `requested` positions (may exceed the trained context, as with stories260K whose metadata says
// 128 but which was trained on 512), or for 0 min(trained, kDefaultContextCap). Throws quant::Error
// for more than kMaxContextLength.
uint32_t resolve_context_length(uint32_t requested, uint32_t trained_context);

// Bytes of the state a session keeps for one sequence: K and V over all of the plan's caches for
// `context_length` positions at `kv_bytes_per_value`, plus the plan's recurrent states (F32, their
// size independent of the context).
uint64_t session_state_bytes(const plan::Plan& plan, uint32_t context_length,
                             uint32_t kv_bytes_per_value);

}  // namespace quant
