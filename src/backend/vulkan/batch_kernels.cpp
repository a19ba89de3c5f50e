#include "backend/vulkan/batch_kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string_view>

#include "backend/vulkan/binding_split.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

// Push-constant blocks, member for member as the shaders declare them.
struct MatmulPush {
  uint32_t cols, rows, row_bytes, weight_offset, out_offset, out_stride, n_tokens, flags, halves;
};
constexpr uint32_t kMatmulAccumulate = 1;  // MatmulPush::flags: ACCUMULATE in matmul.comp
struct EmbedBatchPush {
  uint32_t cols, first_row, rows, row_bytes, weight_offset;
};
struct RopeBatchPush {
  uint32_t n_heads, head_dim, n_rot, neox, n_tokens;
};
struct KvStoreBatchPush {
  uint32_t kv_dim, capacity, n_tokens;
};
struct AttentionBatchPush {
  uint32_t n_heads, n_kv_heads, head_dim, capacity, n_tokens;
  float scale;
};

// shaders/matmul.comp's tiling: TILE_TOKENS tokens per workgroup, BLOCK_TOKENS per invocation,
// STEP_K columns staged at a time; the rows per invocation (BLOCK_ROWS) are the kernel's
// rows_per_workgroup (pipelines.cpp), a multiple of 4.
constexpr uint32_t kMatmulTileTokens = 64;
constexpr uint32_t kMatmulTokenLanes = kMatmulTileTokens / 8;
constexpr uint32_t kMatmulStepK = 16;
constexpr uint32_t kMatmulBuffers = 2;  // the tiles being multiplied and the next step's
// Matrices of at least this many rows take the "matmul_wide_" kernel of their type where there is
// one (8 rows per invocation, ~20 % more multiply-adds per SM and second on the H200). Below, the
// narrow tiles' workgroups are what keeps every SM busy: on the H200's 132 SMs a 2048-row matrix
// gets 128 narrow tiles or 64 wide ones (1.5-1.7x slower), a 2560-row one 160 narrow tiles (a
// second round for 28 SMs) or 80 wide ones (faster; docs/perf/README.md, v6).
constexpr uint64_t kMatmulWideRows = 2560;
// shaders/attention_batch.comp's tiling: a workgroup takes rows (query heads of tokens) in pairs,
// each pair by kAttentionMembers invocations, and stages kAttentionKeyTile cache positions at a
// time.
constexpr uint32_t kAttentionMembers = 8;
constexpr uint32_t kAttentionKeyTile = 32;
constexpr uint32_t kAttentionWeightStride = kAttentionKeyTile + 4;  // softmax numerators per pair

constexpr uint64_t kVec4Bytes = 16;

void expect_floats(const BufferRange& range, uint64_t n, const char* op, const char* what) {
  if (range.buffer == nullptr || range.size < n * sizeof(float))
    fail("Vulkan {}: {} holds {} bytes, needs {} floats", op, what, range.buffer ? range.size : 0,
         n);
}

void expect_inputs(const BufferRange& inputs, uint32_t n_tokens, const char* op) {
  if (n_tokens == 0) fail("Vulkan {}: a batch needs at least one token", op);
  if (inputs.buffer == nullptr || inputs.size < batch_inputs_bytes(n_tokens))
    fail("Vulkan {}: the batch inputs hold {} bytes, {} tokens need {}", op,
         inputs.buffer ? inputs.size : 0, n_tokens, batch_inputs_bytes(n_tokens));
}

// Rows of one workgroup's tile of mat-mul kernel `name` on this device.
uint32_t matmul_tile_rows(const Pipelines& pipelines, std::string_view name) {
  return find_pipeline_record(name)->rows_per_workgroup *
         (pipelines.workgroup_size(name) / kMatmulTokenLanes);
}

uint64_t matmul_shared_bytes(const Pipelines& pipelines, std::string_view name) {
  return kMatmulBuffers * kMatmulStepK * kVec4Bytes *
         ((matmul_tile_rows(pipelines, name) / 4 + 1) + (kMatmulTileTokens / 4 + 1));
}

// The wide kernel of `type`, where it has one and its tile fits the device's shared memory (with
// 32 KB and subgroups of 32 it does not: the narrow kernels then serve every matrix).
std::optional<std::string> wide_matmul_kernel(const Pipelines& pipelines, TensorType type) {
  std::string wide = kernel_name("matmul_wide_", type);
  if (find_pipeline_record(wide) == nullptr ||
      matmul_shared_bytes(pipelines, wide) >
          pipelines.context().info().max_compute_shared_memory_bytes)
    return std::nullopt;
  return wide;
}

// Whether encode_matmul cuts the columns of `weights` in two halves (given scratch): the matrices
// below kMatmulWideRows that have a wide kernel, in halves of whole blocks, with every row in one
// binding. The two halves' wide tiles are as many workgroups as the narrow tiles, each doing more
// per SM: on the H200 SmolLM2's 2048 x 8192 down projection of 512 tokens went 761 -> 634 µs with
// the add, its 2048 x 2048 output projection stayed at ~168 (docs/perf/README.md, v6).
bool matmul_splits_columns(const Pipelines& pipelines, const WeightMatrix& weights) {
  return weights.rows < kMatmulWideRows && wide_matmul_kernel(pipelines, weights.type) &&
         weights.cols % (2 * static_cast<uint64_t>(type_traits(weights.type).block_elements)) ==
             0 &&
         split_into_bindings(pipelines, weights, checked_device_row_bytes(weights, "mat-mul"),
                             "mat-mul")
                 .size() == 1;
}

// Rows of one workgroup's tile of batch attention kernel `name` on this device.
uint32_t attention_query_tile(const Pipelines& pipelines, std::string_view name) {
  return 2 * (pipelines.workgroup_size(name) / kAttentionMembers);
}

// The staged queries and the staged keys or values (heads padded by one vec4), then float pairs
// per row pair: the softmax numerators and each member's tile maxima.
uint64_t attention_shared_bytes(const Pipelines& pipelines, std::string_view name) {
  const uint64_t head = kVec4Bytes * (kBatchAttentionMaxHeadDim / 4 + 1);
  const uint64_t rows = attention_query_tile(pipelines, name);
  return head * (rows + kAttentionKeyTile) +
         2 * sizeof(float) * (rows / 2) * (kAttentionWeightStride + kAttentionMembers);
}

// The batch attention's kernel on this device: "attention_batch", or with less shared memory than
// its tile needs (32 KB and subgroups of 32) "attention_batch_narrow", half as wide.
std::string_view attention_kernel(const Pipelines& pipelines) {
  const uint64_t shared_limit = pipelines.context().info().max_compute_shared_memory_bytes;
  return attention_shared_bytes(pipelines, "attention_batch") <= shared_limit
             ? "attention_batch"
             : "attention_batch_narrow";
}

}  // namespace

uint64_t batch_inputs_bytes(uint32_t capacity) {
  return sizeof(BatchInputs) + sizeof(uint32_t) * uint64_t{capacity};
}

std::string batch_kernels_unavailable(const Pipelines& pipelines) {
  const uint64_t shared_limit = pipelines.context().info().max_compute_shared_memory_bytes;
  const std::string_view attention = attention_kernel(pipelines);
  if (pipelines.workgroup_size(attention) % kAttentionMembers != 0)
    return fmt::format("the batch attention needs workgroups of a multiple of {} invocations",
                       kAttentionMembers);
  if (attention_shared_bytes(pipelines, attention) > shared_limit)
    return fmt::format("the batch attention needs {} bytes of shared memory; the device has {}",
                       attention_shared_bytes(pipelines, attention), shared_limit);
  for (const PipelineRecord& record : pipeline_records()) {
    // The wide kernels are taken only where they fit (wide_matmul_kernel).
    if (!record.name.starts_with("matmul_") || record.name.starts_with("matmul_wide_")) continue;
    if (record.rows_per_workgroup % 4 != 0 || record.rows_per_workgroup == 0)
      return fmt::format("'{}' takes rows per invocation in multiples of 4, not {}", record.name,
                         record.rows_per_workgroup);
    if (pipelines.workgroup_size(record.name) % kMatmulTokenLanes != 0)
      return fmt::format("'{}' needs workgroups of a multiple of {} invocations", record.name,
                         kMatmulTokenLanes);
    if (matmul_shared_bytes(pipelines, record.name) > shared_limit)
      return fmt::format("'{}' needs {} bytes of shared memory; the device has {}", record.name,
                         matmul_shared_bytes(pipelines, record.name), shared_limit);
  }
  return "";
}

std::string matmul_kernel(const Pipelines& pipelines, const WeightMatrix& weights) {
  if (weights.rows >= kMatmulWideRows)
    if (std::optional<std::string> wide = wide_matmul_kernel(pipelines, weights.type)) return *wide;
  return kernel_name("matmul_", weights.type);
}

uint64_t matmul_scratch_floats(const Pipelines& pipelines, const WeightMatrix& weights,
                               uint32_t n_tokens) {
  return matmul_splits_columns(pipelines, weights) ? uint64_t{n_tokens} * weights.rows : 0;
}

void encode_matmul(CommandSequence& sequence, const WeightMatrix& weights, const BufferRange& x,
                   const BufferRange& y, uint32_t n_tokens, bool accumulate,
                   const std::optional<BufferRange>& scratch) {
  if (n_tokens == 0) fail("Vulkan mat-mul: a batch needs at least one token");
  const uint64_t bytes_per_row = checked_device_row_bytes(weights, "mat-mul");
  expect_floats(x, n_tokens * weights.cols, "mat-mul", "x");
  expect_floats(y, n_tokens * weights.rows, "mat-mul", "y");
  const bool halves = scratch && matmul_splits_columns(sequence.pipelines(), weights);
  if (halves) expect_floats(*scratch, n_tokens * weights.rows, "mat-mul", "scratch");
  const std::string name = halves ? *wide_matmul_kernel(sequence.pipelines(), weights.type)
                                  : matmul_kernel(sequence.pipelines(), weights);
  const uint32_t tile_rows = matmul_tile_rows(sequence.pipelines(), name);
  for (const RowRun& run :
       split_into_bindings(sequence.pipelines(), weights, bytes_per_row, "mat-mul")) {
    const MatmulPush push{static_cast<uint32_t>(weights.cols),
                          static_cast<uint32_t>(run.rows),
                          static_cast<uint32_t>(bytes_per_row),
                          run.offset_in_binding,
                          static_cast<uint32_t>(run.first_row),
                          static_cast<uint32_t>(weights.rows),
                          n_tokens,
                          accumulate ? kMatmulAccumulate : 0u,
                          halves ? 2u : 1u};
    // Without halves the partials binding is y again, never written.
    sequence.dispatch(name, {run.binding, x, y, halves ? *scratch : y}, push,
                      GroupCount{group_count(run.rows, tile_rows),
                                 group_count(n_tokens, kMatmulTileTokens), halves ? 2u : 1u});
  }
  if (halves) {
    const uint32_t n = static_cast<uint32_t>(n_tokens * weights.rows);
    encode_add(sequence, y, *scratch, y, n);
  }
}

void encode_embed_batch(CommandSequence& sequence, const WeightMatrix& table,
                        const BufferRange& inputs, const BufferRange& out, uint32_t n_tokens) {
  expect_inputs(inputs, n_tokens, "batch embedding");
  const uint64_t bytes_per_row = checked_device_row_bytes(table, "batch embedding");
  expect_floats(out, n_tokens * table.cols, "batch embedding", "out");
  const std::string name = kernel_name("embed_batch_", table.type);
  const uint32_t width = sequence.pipelines().workgroup_size(name);
  const uint64_t units = table.cols / (type_traits(table.type).quantized ? 16 : 1);
  for (const RowRun& run :
       split_into_bindings(sequence.pipelines(), table, bytes_per_row, "batch embedding")) {
    const EmbedBatchPush push{static_cast<uint32_t>(table.cols),
                              static_cast<uint32_t>(run.first_row), static_cast<uint32_t>(run.rows),
                              static_cast<uint32_t>(bytes_per_row), run.offset_in_binding};
    sequence.dispatch(name, {run.binding, inputs, out}, push,
                      GroupCount{group_count(units, width), n_tokens, 1});
  }
}

void encode_rope_batch(CommandSequence& sequence, const BufferRange& x, const BufferRange& inputs,
                       const BufferRange& inverse_frequencies, const RopeShape& shape,
                       uint32_t n_tokens) {
  expect_inputs(inputs, n_tokens, "batch RoPE");
  if (shape.n_rot % 2 != 0 || shape.n_rot > shape.head_dim || shape.n_rot == 0)
    fail("Vulkan batch RoPE: n_rot {} must be even and in 2..head_dim ({})", shape.n_rot,
         shape.head_dim);
  expect_floats(x, uint64_t{n_tokens} * shape.n_heads * shape.head_dim, "batch RoPE", "x");
  expect_floats(inverse_frequencies, shape.n_rot / 2, "batch RoPE", "inverse frequencies");
  const RopeBatchPush push{shape.n_heads, shape.head_dim, shape.n_rot, shape.neox ? 1u : 0u,
                           n_tokens};
  sequence.dispatch("rope_batch", {x, inputs, inverse_frequencies}, push,
                    sequence.linear_groups(uint64_t{n_tokens} * shape.n_heads));
}

void encode_kv_store_batch(CommandSequence& sequence, const BufferRange& k, const BufferRange& v,
                           const KvCacheRanges& cache, const BufferRange& inputs,
                           uint32_t n_tokens) {
  expect_inputs(inputs, n_tokens, "batch KV store");
  const uint64_t n = uint64_t{n_tokens} * cache.kv_dim;
  expect_floats(k, n, "batch KV store", "k");
  expect_floats(v, n, "batch KV store", "v");
  expect_floats(cache.keys, uint64_t{cache.capacity} * cache.kv_dim, "batch KV store", "key cache");
  expect_floats(cache.values, uint64_t{cache.capacity} * cache.kv_dim, "batch KV store",
                "value cache");
  const KvStoreBatchPush push{cache.kv_dim, cache.capacity, n_tokens};
  const uint32_t width = sequence.pipelines().workgroup_size("kv_store_batch");
  sequence.dispatch("kv_store_batch", {k, v, cache.keys, cache.values, inputs}, push,
                    sequence.linear_groups(group_count(n, width)));
}

void encode_attention_batch(CommandSequence& sequence, const BufferRange& q,
                            const KvCacheRanges& cache, const BufferRange& inputs,
                            const BufferRange& out, const AttentionShape& shape,
                            uint32_t n_tokens) {
  expect_inputs(inputs, n_tokens, "batch attention");
  if (shape.n_kv_heads == 0 || shape.n_heads % shape.n_kv_heads != 0)
    fail("Vulkan batch attention: {} heads cannot share {} KV heads", shape.n_heads,
         shape.n_kv_heads);
  if (cache.kv_dim != shape.n_kv_heads * shape.head_dim)
    fail("Vulkan batch attention: cache rows of {} floats, expected {} KV heads x {}", cache.kv_dim,
         shape.n_kv_heads, shape.head_dim);
  if (shape.head_dim % 4 != 0 || shape.head_dim > kBatchAttentionMaxHeadDim)
    fail("Vulkan batch attention: heads of {} values; the kernel takes multiples of 4 up to {}",
         shape.head_dim, kBatchAttentionMaxHeadDim);
  const uint64_t n = uint64_t{n_tokens} * shape.n_heads * shape.head_dim;
  expect_floats(q, n, "batch attention", "q");
  expect_floats(out, n, "batch attention", "out");
  expect_floats(cache.keys, uint64_t{cache.capacity} * cache.kv_dim, "batch attention",
                "key cache");
  expect_floats(cache.values, uint64_t{cache.capacity} * cache.kv_dim, "batch attention",
                "value cache");
  const AttentionBatchPush push{shape.n_heads,  shape.n_kv_heads, shape.head_dim,
                                cache.capacity, n_tokens,         shape.scale};
  // Workgroup (h, y) takes a tile of the rows of KV head h: its query heads of each token.
  const uint64_t rows = uint64_t{n_tokens} * (shape.n_heads / shape.n_kv_heads);
  const std::string_view name = attention_kernel(sequence.pipelines());
  sequence.dispatch(
      name, {q, cache.keys, cache.values, inputs, out}, push,
      GroupCount{shape.n_kv_heads,
                 group_count(rows, attention_query_tile(sequence.pipelines(), name)), 1});
}

}  // namespace quant::vulkan
