#pragma once
// Encoders of the batch kernels: plan ops over the n_tokens tokens of a batch of prompt tokens at
// once. A batch's activations lie token after token (row i of a buffer is token i's value), and
// every kernel that needs the tokens or positions reads them from a batch-inputs buffer
// (BatchInputs below; shaders/batch.glsl), so that one recording serves every batch of its size.
// Ops that need no position (RMS norms, adds, SwiGLU) run over a batch with the single-token
// encoders of kernels.h, n_tokens times the size.

#include <cstdint>
#include <optional>
#include <string>

#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/kernels.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"

namespace quant::vulkan {

// The head of the batch-inputs buffer: the position of the batch's first token; the batch's
// token ids (uint32 each) follow it. Token i is at position pos + i.
struct BatchInputs {
  uint32_t pos = 0;
};
// Bytes of a batch-inputs buffer for batches of up to `capacity` tokens.
uint64_t batch_inputs_bytes(uint32_t capacity);

// The largest head the batched attention takes (shaders/attention_batch.comp: MAX_HEAD_DIM).
constexpr uint32_t kBatchAttentionMaxHeadDim = 128;

// Why this device cannot run the batch kernels (the mat-mul and the attention need workgroups of a
// multiple of 8 invocations, and they need more shared memory than some devices give), or empty
// when it can.
std::string batch_kernels_unavailable(const Pipelines& pipelines);

// Y = W X for the n_tokens rows of x (weights.cols floats each, token after token) into the
// n_tokens rows of y (weights.rows floats each); with `accumulate`, Y += W X (a residual add).
// A matrix larger than one binding may cover is split over several dispatches by rows. Given
// `scratch` (matmul_scratch_floats floats), a matrix too short to fill a large GPU with its tiles
// may be multiplied in two halves of its columns at once, the second half's sums put in scratch
// and then added to y (an add dispatch after a barrier: use it for a product that runs alone).
void encode_matmul(CommandSequence& sequence, const WeightMatrix& weights, const BufferRange& x,
                   const BufferRange& y, uint32_t n_tokens, bool accumulate = false,
                   const std::optional<BufferRange>& scratch = std::nullopt);
// The mat-mul kernel encode_matmul records for `weights` on this device when it does not cut the
// columns: "matmul_<type>", or for tall matrices "matmul_wide_<type>" where there is one and its
// tile fits the device's shared memory.
std::string matmul_kernel(const Pipelines& pipelines, const WeightMatrix& weights);
// The floats of scratch encode_matmul uses for `weights` over n_tokens tokens (0: none).
uint64_t matmul_scratch_floats(const Pipelines& pipelines, const WeightMatrix& weights,
                               uint32_t n_tokens);

// Row i of out (table.cols floats) = row tokens[i] of `table`, dequantized, for i < n_tokens.
void encode_embed_batch(CommandSequence& sequence, const WeightMatrix& table,
                        const BufferRange& inputs, const BufferRange& out, uint32_t n_tokens);

// In place, for each of the n_tokens rows of x (n_heads x head_dim floats): the rotation of
// encode_rope at the row's position.
void encode_rope_batch(CommandSequence& sequence, const BufferRange& x, const BufferRange& inputs,
                       const BufferRange& inverse_frequencies, const RopeShape& shape,
                       uint32_t n_tokens);

// Stores the n_tokens rows of k and v (kv_dim floats each) at positions pos .. pos + n_tokens - 1
// of the caches.
void encode_kv_store_batch(CommandSequence& sequence, const BufferRange& k, const BufferRange& v,
                           const KvCacheRanges& cache, const BufferRange& inputs,
                           uint32_t n_tokens);

// Causal attention of the n_tokens rows of q (n_heads x head_dim each): row i, at position
// pos + i, attends over cache positions 0 .. pos + i (the batch's keys and values are stored
// first). out has n_tokens rows of n_heads x head_dim. head_dim is a multiple of 4, at most
// kBatchAttentionMaxHeadDim.
void encode_attention_batch(CommandSequence& sequence, const BufferRange& q,
                            const KvCacheRanges& cache, const BufferRange& inputs,
                            const BufferRange& out, const AttentionShape& shape, uint32_t n_tokens);

}  // namespace quant::vulkan
