#pragma once
// Which plan ops the Vulkan backend folds into a neighbouring mat-vec, RoPE or attention, so that
// one dispatch (and one barrier) does the work of several ops:
//   - an RMS norm over the whole vector, into every mat-vec that reads its output;
//   - gate and up mat-vecs and the SwiGLU that combines them, into one dispatch;
//   - a residual add, into the mat-vec whose output it adds;
//   - a RoPE on adjacent pairs, into the mat-vec whose output it rotates (llama's q and k), and
//     the KV store, into the mat-vecs of the keys and values it stores (each writes its cache row);
//   - a per-head RMS norm, into the RoPE of those heads (qwen3's q/k norms);
//   - the KV store, into the RoPE of the keys it stores, where the mat-vecs do not take it;
//   - the RoPEs of q and of the stored keys, each with its per-head norm, and that KV store, into
//     the attention that reads them (qwen3, and qwen35's full-attention layers);
//   - then the q, k and v mat-vecs of such an attention into one mat-vec of their matrices back
//     to back (one dispatch where three were), whose rows the attention reads (plan_compiler.h
//     records it where they share their input on the device).
// A fold happens only when it cannot change what any op reads: the folded op's output is read by
// nothing else before it is overwritten, and no op in between touches the buffers involved. The
// observed recording (forward_observed) does not fold, so every op's output stays visible.

#include <array>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "plan/plan.h"

namespace quant::vulkan {

// What the op at some index (a MatVec, a Rope or an Attention) computes besides its own work.
struct OpFolds {
  std::optional<size_t> norm;          // the RmsNorm op it applies to its input itself
  std::optional<size_t> swiglu_up;     // MatVec, the gate: the up MatVec op it pairs with...
  std::optional<size_t> swiglu;        // ...and the SwiGLU op whose output it writes
  std::optional<size_t> residual_add;  // MatVec: the Add op it accumulates into instead of `out`
  std::optional<size_t> rope;          // MatVec: the Rope op that rotates its output
  // Rope: the KvStore op of the keys it rotates. MatVec: the KvStore op of the keys or values it
  // writes (its `out` is the store's k or v). Attention: the KvStore op of the keys k_rope rotates.
  std::optional<size_t> kv_store;
  // Attention: the Rope ops of its query and of the keys it stores, each with a per-head RmsNorm
  // folded into it (their `norm`).
  std::optional<size_t> q_rope;
  std::optional<size_t> k_rope;
  // Attention with q_rope: the q, k and v MatVec ops (in that order) whose outputs it prepares,
  // which may run as one mat-vec at the first of them: same input, norm, weight type and row
  // length, no op between them and the attention but theirs and the preparation's, and nothing
  // else reading their outputs.
  std::optional<std::array<size_t, 3>> qkv_matvecs;
};

struct FusionPlan {
  std::vector<bool> folded;    // per op: computed inside another op's dispatch
  std::vector<OpFolds> folds;  // per op (only MatVec, Rope and Attention ops have folds)
  // (gate, up) weights that must lie back to back in one device buffer.
  std::vector<std::pair<plan::WeightId, plan::WeightId>> swiglu_pairs;
  // (q, k, v) weights of OpFolds::qkv_matvecs that must lie back to back in one device buffer.
  std::vector<std::array<plan::WeightId, 3>> qkv_triples;
};

FusionPlan plan_fusions(const plan::Plan& plan);

}  // namespace quant::vulkan
