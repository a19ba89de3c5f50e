#include "backend/vulkan/kernels.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "backend/vulkan/binding_split.h"
#include "backend/vulkan/weight_layout.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

// Push-constant blocks, member for member as the shaders declare them.
struct MatVecPush {
  uint32_t cols, rows, row_bytes, weight_offset, out_offset, flags, pair_offset;
  float eps;
};
// The last member of both mat-vec kernels' push constants (shaders/matvec_epilogue.glsl).
struct MatVecEpiloguePush {
  uint32_t head_dim, n_rot, kv_dim, capacity;
};
// MatVecPush::flags, as shaders/matvec.comp, matvec_epilogue.glsl and matvec_int8.comp name them.
constexpr uint32_t kNormInput = 1, kAccumulate = 2, kSwigluPair = 4, kRope = 8, kStore = 16,
                   kQuantizeOutput = 32, kQuantizeNormed = 64;
// Values per scale of a quantized handoff (QUANTIZED_GROUP in shaders/quantized_activations.glsl).
constexpr uint64_t kQuantizedGroup = 16;
// shaders/matvec.comp.
struct MatVecFloatPush {
  MatVecPush matvec;
  MatVecEpiloguePush epilogue;
};
// shaders/matvec_int8.comp: the row passes per workgroup come before the epilogue.
struct MatVecInt8Push {
  MatVecPush matvec;
  uint32_t passes;
  MatVecEpiloguePush epilogue;
};
// The rows matvec_int8.comp stages in shared memory at most (its MAX_COLS), and the workgroup
// count it aims at: each workgroup quantizes x once, so tall matrices give each workgroup several
// passes of rows rather than more workgroups (512: a few per SM on a large GPU, enough to hide the
// loads' latency).
constexpr uint64_t kInt8MaxCols = 16384;
constexpr uint64_t kInt8TargetWorkgroups = 512;
// The K-quants' "_one_row" records (pipelines.cpp) serve matrices of fewer rows than this, Q8_0's
// every matrix: on the H200 they sped up every matrix of 1024 to 2560 rows, and Q8_0's taller ones
// (Qwen3-4B's output projection 128 -> 111 us), but slowed down the K-quants' of 4096 rows or more
// (Qwen3-4B's Q6_K output projection 104 -> 117 us; docs/perf/README.md, v8).
constexpr uint64_t kKQuantOneRowRowsBelow = 4096;
// The "_unpaired" records (pipelines.cpp) serve the prequantized mat-vecs that run side by side
// (MatVecFusions::side_by_side_rows) or back to back as one (part_rows), neither take a SwiGLU pair
// nor quantize their output, and have, like each of the others, at most this many rows: a llama or
// qwen3 layer's q, k and v. Not qwen35's (its q, or its linear layers' qkv, of 8192 rows, beside
// shorter ones: Qwen3.5-4B Q8_0 lost 2.8 % with the shorter ones alone so), nor the vocabulary
// projection (alone, reading at full bandwidth: -0.6 %).
constexpr uint64_t kUnpairedRowsAtMost = 4096;
struct EmbedPush {
  uint32_t cols, first_row, rows, row_bytes, weight_offset, flags;
};
// EmbedPush::flags, as shaders/embed.comp names them.
constexpr uint32_t kEmbedQuantizeOutput = 1, kEmbedQuantizeNormed = 2;
struct RmsNormPush {
  uint32_t group_size, n_groups;
  float eps;
};
struct RopePush {
  uint32_t n_heads, head_dim, n_rot, neox, flags;
  float eps;
  uint32_t capacity;
};
// RopePush::flags, as shaders/rope.comp names them; and the longest head it takes.
constexpr uint32_t kRopeNorm = 1, kRopeStore = 2;
constexpr uint32_t kRopeMaxHeadDim = 512;
struct KvStorePush {
  uint32_t kv_dim, capacity;
};
struct AttentionPartialPush {
  uint32_t n_heads, n_kv_heads, head_dim, n_chunks, capacity;
  float scale;
  uint32_t chunk_len, final;
};
// shaders/attention_partial.comp with QK_NORM_ROPE_STORE.
struct AttentionPartialPreparingPush {
  AttentionPartialPush partial;
  uint32_t n_rot, neox;
  float q_norm_eps, k_norm_eps;
};
// AttentionPartialPush::final, as shaders/attention_partial.comp names its bits.
constexpr uint32_t kAttentionFinal = 1, kAttentionQuantizeResult = 2;
struct AttentionCombinePush {
  uint32_t n_heads, head_dim, n_chunks, chunk_len, capacity, quantize;
};
struct CountPush {
  uint32_t n;
};
struct SliceHeadsPush {
  uint32_t n_heads, in_head_stride, in_offset, size;
};
struct ConvPush {
  uint32_t n_channels, kernel;
};
struct DeltaNetPush {
  uint32_t n_k_heads, n_v_heads, head_k_dim, head_v_dim;
  float eps;
};

void expect_floats(const BufferRange& range, uint64_t n, const char* op, const char* what) {
  if (range.buffer == nullptr || range.size < n * sizeof(float))
    fail("Vulkan {}: {} holds {} bytes, needs {} floats", op, what, range.buffer ? range.size : 0,
         n);
}

// Elements one invocation dequantizes at a time: UNIT in shaders/dequant.glsl.
uint32_t dequant_unit_elements(TensorType type) {
  return type_traits(type).quantized ? 16 : 1;
}

// Rows one workgroup of mat-vec kernel `name` computes: shaders/matvec.comp gives each subgroup
// (with subgroup arithmetic) or the whole workgroup (without) the record's rows_per_workgroup rows.
uint32_t matvec_rows_per_workgroup(Pipelines& pipelines, const std::string& name) {
  const Pipeline& pipeline = pipelines.get(name);
  const uint32_t rows = pipeline.record->rows_per_workgroup;
  if (!pipelines.uses_subgroup_arithmetic()) return rows;
  const uint32_t subgroup = std::max(pipelines.context().info().subgroup_size, 1u);
  return rows * std::max(pipeline.workgroup_size / subgroup, 1u);
}

// The mat-vec kernel for `weights`: the int8 one (matvec_int8.comp) where the device and the shape
// allow it, the float one (matvec.comp) otherwise.
struct MatVecKernel {
  std::string name;
  bool int8 = false;
};
MatVecKernel matvec_kernel(const Pipelines& pipelines, const WeightMatrix& weights) {
  // The quantized types the int8 kernels read: those the CPU multiplies with int8 activations.
  const bool quantized = type_traits(weights.type).quantized;
  if (!weight_type_supported(weights.type) || !quantized ||
      !pipelines.uses_integer_dot_products() || weights.cols % 64 != 0 ||
      weights.cols > kInt8MaxCols)
    return {kernel_name("matvec_", weights.type), false};
  return {kernel_name("matvec_int8_", weights.type), true};
}

// The variant of int8 kernel `name` with `suffix` ("_prequantized", "_pair"), where the record
// table (pipelines.cpp, which names the types each variant is built for) has one.
std::optional<std::string> int8_variant(const MatVecKernel& kernel, std::string_view suffix) {
  if (!kernel.int8) return std::nullopt;
  std::string name = kernel.name + std::string(suffix);
  if (find_pipeline_record(name) == nullptr) return std::nullopt;
  return name;
}

// Row passes per workgroup of the int8 kernel for `rows` rows (each workgroup stages x once, so
// tall matrices give a workgroup several passes rather than more workgroups).
uint64_t int8_passes(uint64_t rows, uint64_t rows_per_pass) {
  return std::max<uint64_t>(1, rows / (rows_per_pass * kInt8TargetWorkgroups));
}

// Rows one pass of an int8 kernel's workgroup computes, from its record (no pipeline created).
uint64_t int8_rows_per_pass(const Pipelines& pipelines, const std::string& name) {
  const uint32_t subgroup = std::max(pipelines.context().info().subgroup_size, 1u);
  return uint64_t{find_pipeline_record(name)->rows_per_workgroup} *
         std::max(pipelines.workgroup_size(name) / subgroup, 1u);
}

// The int8 kernel that reads x already quantized for `weights` with `fusions`: one row per
// subgroup for short matrices where no RoPE pairs rows and no two-row "_pair" variant takes a
// SwiGLU pair (pipelines.cpp; encode_matvec then picks the pair's), if the workgroup still
// quantizes whole groups; the RoPE epilogue's at one row per subgroup where the type has it (the
// pair's rows in neighbouring subgroups: an even number of rows per pass); then, for Q8_0's q, k
// and v (kUnpairedRowsAtMost), the "_unpaired" record of either.
MatVecKernel prequantized_kernel(const Pipelines& pipelines, const WeightMatrix& weights,
                                 const MatVecFusions& fusions) {
  MatVecKernel kernel = matvec_kernel(pipelines, weights);
  kernel.name = *int8_variant(kernel, "_prequantized");
  const bool pair_variant = fusions.swiglu_up != nullptr && int8_variant(kernel, "_pair");
  if (const std::optional<std::string> one_row = int8_variant(kernel, "_one_row");
      one_row && (weights.type == TensorType::Q8_0 || weights.rows < kKQuantOneRowRowsBelow) &&
      fusions.rope == nullptr && !pair_variant &&
      (fusions.quantize_output == nullptr ||
       int8_rows_per_pass(pipelines, *one_row) % kQuantizedGroup == 0))
    kernel.name = *one_row;
  if (const std::optional<std::string> rope_row = int8_variant(kernel, "_one_row_rope");
      rope_row && fusions.rope != nullptr && int8_rows_per_pass(pipelines, *rope_row) % 2 == 0)
    kernel.name = *rope_row;
  const uint64_t rows = fusions.part_rows != 0 ? fusions.part_rows : weights.rows;
  if (const std::optional<std::string> unpaired = int8_variant(kernel, "_unpaired");
      unpaired && (fusions.side_by_side_rows != 0 || fusions.part_rows != 0) &&
      fusions.swiglu_up == nullptr && fusions.quantize_output == nullptr &&
      std::max(rows, fusions.side_by_side_rows) <= kUnpairedRowsAtMost)
    kernel.name = *unpaired;
  return kernel;
}

// The epilogue of a mat-vec (MatVecFusions::step, rope, cache) as its flags, push constants and
// bindings, checked against the matrix. Unused bindings are bound to x (read-only) and y (written
// anyway).
struct MatVecEpilogue {
  uint32_t flags = 0;
  MatVecEpiloguePush push{};
  BufferRange step, rope_frequencies, cache;
};
MatVecEpilogue matvec_epilogue(const Pipelines& pipelines, const WeightMatrix& weights,
                               const BufferRange& x, const BufferRange& y,
                               const MatVecFusions& fusions) {
  MatVecEpilogue epilogue{0, {}, x, x, y};
  if (fusions.rope == nullptr && fusions.cache == nullptr) return epilogue;
  if (fusions.step == nullptr || fusions.accumulate || fusions.swiglu_up != nullptr)
    fail(
        "Vulkan mat-vec: a RoPE or KV store epilogue needs the step inputs and takes neither a "
        "residual add nor a SwiGLU pair");
  if (!matvec_epilogue_fits(pipelines, weights))
    fail("Vulkan mat-vec: '{}' ({} rows) is split at an odd row; no RoPE or KV store can follow it",
         weights.buffer->name(), weights.rows);
  if (fusions.step->buffer == nullptr || fusions.step->size < sizeof(StepInputs))
    fail("Vulkan mat-vec: the step inputs hold fewer than {} bytes", sizeof(StepInputs));
  epilogue.step = *fusions.step;
  if (const RopeShape* rope = fusions.rope) {
    if (rope->neox || rope->head_dim % 2 != 0 || rope->n_rot % 2 != 0 || rope->n_rot == 0 ||
        rope->n_rot > rope->head_dim || uint64_t{rope->n_heads} * rope->head_dim != weights.rows)
      fail(
          "Vulkan mat-vec: a RoPE epilogue takes adjacent pairs of {} rows in heads of an even "
          "size and an even n_rot up to it, not {} heads of {} with n_rot {}",
          weights.rows, rope->n_heads, rope->head_dim, rope->n_rot);
    if (fusions.rope_frequencies == nullptr) fail("Vulkan mat-vec: a RoPE without frequencies");
    expect_floats(*fusions.rope_frequencies, rope->n_rot / 2, "mat-vec", "inverse frequencies");
    epilogue.rope_frequencies = *fusions.rope_frequencies;
    epilogue.flags |= kRope;
    epilogue.push.head_dim = rope->head_dim;
    epilogue.push.n_rot = rope->n_rot;
  }
  if (fusions.cache != nullptr) {
    expect_floats(*fusions.cache, uint64_t{fusions.cache_capacity} * weights.rows, "mat-vec",
                  "KV cache");
    epilogue.cache = *fusions.cache;
    epilogue.flags |= kStore;
    epilogue.push.kv_dim = static_cast<uint32_t>(weights.rows);
    epilogue.push.capacity = fusions.cache_capacity;
  }
  return epilogue;
}

// The bindings of a mat-vec dispatch in the shaders' order: weights, x, y, norm weight, the
// epilogue's step, RoPE frequencies and cache, then (int8 kernels only) the quantized output and
// the next norm's weights.
constexpr size_t kFloatMatVecBindings = 7, kInt8MatVecBindings = 9;
using MatVecBindings = std::array<BufferRange, kInt8MatVecBindings>;

// Records one mat-vec dispatch of push.rows rows with `kernel`.
void dispatch_matvec(CommandSequence& sequence, const MatVecKernel& kernel, const MatVecPush& push,
                     const MatVecEpiloguePush& epilogue, const MatVecBindings& bindings) {
  Pipelines& pipelines = sequence.pipelines();
  const uint32_t rows_per_pass = matvec_rows_per_workgroup(pipelines, kernel.name);
  if (!kernel.int8) {
    const MatVecFloatPush float_push{push, epilogue};
    sequence.dispatch_bytes(kernel.name, std::span(bindings).first(kFloatMatVecBindings),
                            &float_push, sizeof(float_push),
                            sequence.linear_groups(group_count(push.rows, rows_per_pass)));
    return;
  }
  const uint64_t passes = int8_passes(push.rows, rows_per_pass);
  const MatVecInt8Push int8_push{push, static_cast<uint32_t>(passes), epilogue};
  sequence.dispatch_bytes(kernel.name, bindings, &int8_push, sizeof(int8_push),
                          sequence.linear_groups(group_count(push.rows, rows_per_pass * passes)));
}

}  // namespace

bool weight_type_supported(TensorType type) {
  switch (type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return true;
    default:
      return false;
  }
}

bool swiglu_pair_fits(const Pipelines& pipelines, const WeightMatrix& gate,
                      const WeightMatrix& up) {
  if (gate.buffer == nullptr || gate.buffer != up.buffer || gate.type != up.type ||
      gate.rows != up.rows || gate.cols != up.cols || up.offset <= gate.offset ||
      !weight_type_supported(gate.type) || !row_bytes(gate.type, gate.cols))
    return false;
  const uint64_t alignment = pipelines.context().info().min_storage_buffer_offset_alignment;
  const uint64_t span = up.offset + up.rows * device_row_bytes(up.type, up.cols) -
                        gate.offset / alignment * alignment;
  return span <= pipelines.max_binding_bytes() && up.offset - gate.offset <= UINT32_MAX;
}

uint64_t quantized_activation_bytes(uint64_t n) {
  return sizeof(uint32_t) * (n / 4 + 2 * (n / kQuantizedGroup));
}

bool matvec_reads_quantized_x(const Pipelines& pipelines, const WeightMatrix& weights) {
  return int8_variant(matvec_kernel(pipelines, weights), "_prequantized").has_value();
}

bool matvec_quantizes_output(const Pipelines& pipelines, const WeightMatrix& weights) {
  const MatVecKernel kernel = matvec_kernel(pipelines, weights);
  // Each workgroup pass quantizes its own groups of rows.
  if (!kernel.int8 || weights.rows % kQuantizedGroup != 0 ||
      int8_rows_per_pass(pipelines, kernel.name) % kQuantizedGroup != 0)
    return false;
  const uint64_t bytes_per_row = checked_device_row_bytes(weights, "mat-vec");
  return split_into_bindings(pipelines, weights, bytes_per_row, "mat-vec").size() == 1;
}

bool matvec_epilogue_fits(const Pipelines& pipelines, const WeightMatrix& weights) {
  const uint64_t bytes_per_row = checked_device_row_bytes(weights, "mat-vec");
  const PipelineRecord* record = find_pipeline_record(matvec_kernel(pipelines, weights).name);
  if (record == nullptr || record->rows_per_workgroup % 2 != 0) return false;
  for (const RowRun& run : split_into_bindings(pipelines, weights, bytes_per_row, "mat-vec"))
    if (run.first_row % 2 != 0) return false;
  return true;
}

void encode_matvec(CommandSequence& sequence, const WeightMatrix& weights, const BufferRange& x,
                   const BufferRange& y, const MatVecFusions& fusions) {
  const Pipelines& pipelines = sequence.pipelines();
  const uint64_t bytes_per_row = checked_device_row_bytes(weights, "mat-vec");
  expect_floats(y, weights.rows, "mat-vec", "y");
  MatVecKernel kernel = matvec_kernel(pipelines, weights);
  BufferRange input = x;
  if (fusions.quantized_x != nullptr) {
    if (!matvec_reads_quantized_x(pipelines, weights))
      fail("Vulkan mat-vec: '{}' cannot read a quantized x", weights.buffer->name());
    if (fusions.quantized_x->size < quantized_activation_bytes(weights.cols))
      fail("Vulkan mat-vec: the quantized x holds {} bytes, needs {}", fusions.quantized_x->size,
           quantized_activation_bytes(weights.cols));
    input = *fusions.quantized_x;
    kernel = prequantized_kernel(pipelines, weights, fusions);
  } else {
    expect_floats(x, weights.cols, "mat-vec", "x");
  }
  const MatVecEpilogue epilogue = matvec_epilogue(pipelines, weights, x, y, fusions);
  uint32_t flags = epilogue.flags;
  BufferRange norm_weight = x;  // bound but unread without a norm
  if (fusions.norm_weight != nullptr) {
    expect_floats(*fusions.norm_weight, weights.cols, "mat-vec", "norm weight");
    norm_weight = *fusions.norm_weight;
    flags |= kNormInput;
  }
  if (fusions.accumulate) flags |= kAccumulate;
  // Unused, the quantized output is bound to y (written anyway) and the next norm's weights to x.
  BufferRange quantized_output = y, next_norm_weight = x;
  if (fusions.quantize_output != nullptr) {
    if (!matvec_quantizes_output(pipelines, weights) || epilogue.flags != 0)
      fail("Vulkan mat-vec: '{}' cannot quantize its output", weights.buffer->name());
    if (fusions.quantize_output->size < quantized_activation_bytes(weights.rows))
      fail("Vulkan mat-vec: the quantized output holds {} bytes, needs {}",
           fusions.quantize_output->size, quantized_activation_bytes(weights.rows));
    quantized_output = *fusions.quantize_output;
    flags |= kQuantizeOutput;
    if (fusions.quantize_norm_weight != nullptr) {
      expect_floats(*fusions.quantize_norm_weight, weights.rows, "mat-vec", "next norm weight");
      next_norm_weight = *fusions.quantize_norm_weight;
      flags |= kQuantizeNormed;
    }
  }

  if (fusions.swiglu_up != nullptr) {
    const WeightMatrix& up = *fusions.swiglu_up;
    if (fusions.accumulate || !swiglu_pair_fits(pipelines, weights, up))
      fail("Vulkan mat-vec: '{}' and '{}' cannot be paired for SwiGLU", weights.buffer->name(),
           up.buffer ? up.buffer->name() : "none");
    // The K-quants' int8 kernels and Q8_0's one-row one take the pair in variants of their own
    // ("_pair" and "_one_row_pair": matvec_int8.comp, pipelines.cpp).
    if (const std::optional<std::string> pair = int8_variant(kernel, "_pair")) kernel.name = *pair;
    const uint64_t alignment = sequence.context().info().min_storage_buffer_offset_alignment;
    const uint64_t binding_offset = weights.offset / alignment * alignment;
    const BufferRange binding{weights.buffer, binding_offset,
                              up.offset + up.rows * bytes_per_row - binding_offset};
    const MatVecPush push{static_cast<uint32_t>(weights.cols),
                          static_cast<uint32_t>(weights.rows),
                          static_cast<uint32_t>(bytes_per_row),
                          static_cast<uint32_t>(weights.offset - binding_offset),
                          0,
                          flags | kSwigluPair,
                          static_cast<uint32_t>(up.offset - weights.offset),
                          fusions.norm_eps};
    dispatch_matvec(sequence, kernel, push, epilogue.push,
                    {binding, input, y, norm_weight, epilogue.step, epilogue.rope_frequencies,
                     epilogue.cache, quantized_output, next_norm_weight});
    return;
  }
  for (const RowRun& chunk : split_into_bindings(pipelines, weights, bytes_per_row, "mat-vec")) {
    const MatVecPush push{static_cast<uint32_t>(weights.cols),
                          static_cast<uint32_t>(chunk.rows),
                          static_cast<uint32_t>(bytes_per_row),
                          chunk.offset_in_binding,
                          static_cast<uint32_t>(chunk.first_row),
                          flags,
                          0,
                          fusions.norm_eps};
    dispatch_matvec(sequence, kernel, push, epilogue.push,
                    {chunk.binding, input, y, norm_weight, epilogue.step, epilogue.rope_frequencies,
                     epilogue.cache, quantized_output, next_norm_weight});
  }
}

bool embed_quantizes_output(const WeightMatrix& table) {
  return dequant_unit_elements(table.type) == kQuantizedGroup;
}

void encode_embed(CommandSequence& sequence, const WeightMatrix& table, const BufferRange& step,
                  const BufferRange& out, const BufferRange* quantized_out,
                  const BufferRange* next_norm_weight) {
  const uint64_t bytes_per_row = checked_device_row_bytes(table, "embedding");
  expect_floats(out, table.cols, "embedding", "out");
  // Unused, the quantized output and the norm weights are bound to out (written anyway).
  BufferRange quantized = out, norm_weight = out;
  uint32_t flags = 0;
  if (quantized_out != nullptr) {
    if (!embed_quantizes_output(table))
      fail("Vulkan embedding: '{}' cannot quantize its rows", table.buffer->name());
    if (quantized_out->size < quantized_activation_bytes(table.cols))
      fail("Vulkan embedding: the quantized output holds {} bytes, needs {}", quantized_out->size,
           quantized_activation_bytes(table.cols));
    quantized = *quantized_out;
    flags |= kEmbedQuantizeOutput;
    if (next_norm_weight != nullptr) {
      expect_floats(*next_norm_weight, table.cols, "embedding", "next norm weight");
      norm_weight = *next_norm_weight;
      flags |= kEmbedQuantizeNormed;
    }
  }
  const std::string name = kernel_name("embed_", table.type);
  const uint32_t width = sequence.pipelines().workgroup_size(name);
  const uint64_t units = table.cols / dequant_unit_elements(table.type);
  for (const RowRun& chunk :
       split_into_bindings(sequence.pipelines(), table, bytes_per_row, "embedding")) {
    EmbedPush push{static_cast<uint32_t>(table.cols), static_cast<uint32_t>(chunk.first_row),
                   static_cast<uint32_t>(chunk.rows), static_cast<uint32_t>(bytes_per_row),
                   chunk.offset_in_binding,           flags};
    sequence.dispatch(name, {chunk.binding, step, out, quantized, norm_weight}, push,
                      sequence.linear_groups(group_count(units, width)));
  }
}

void encode_rms_norm(CommandSequence& sequence, const BufferRange& x, const BufferRange& weight,
                     const BufferRange& y, uint32_t n_groups, uint32_t group_size, float eps) {
  expect_floats(x, uint64_t{n_groups} * group_size, "RMS norm", "x");
  expect_floats(y, uint64_t{n_groups} * group_size, "RMS norm", "y");
  expect_floats(weight, group_size, "RMS norm", "weight");
  RmsNormPush push{group_size, n_groups, eps};
  sequence.dispatch("rms_norm", {x, weight, y}, push, sequence.linear_groups(n_groups));
}

std::vector<float> rope_inverse_frequencies(uint32_t n_rot, float theta) {
  std::vector<float> frequencies(n_rot / 2);
  for (uint32_t i = 0; i < n_rot / 2; ++i)
    frequencies[i] = static_cast<float>(std::pow(static_cast<double>(theta), -2.0 * i / n_rot));
  return frequencies;
}

void encode_rope(CommandSequence& sequence, const BufferRange& x, const BufferRange& step,
                 const BufferRange& inverse_frequencies, const RopeShape& shape,
                 const RopeFusions& fusions) {
  if (shape.n_rot % 2 != 0 || shape.n_rot > shape.head_dim || shape.n_rot == 0)
    fail("Vulkan RoPE: n_rot {} must be even and in 2..head_dim ({})", shape.n_rot, shape.head_dim);
  if (shape.head_dim > kRopeMaxHeadDim)
    fail("Vulkan RoPE: heads of {} values; the kernel takes at most {}", shape.head_dim,
         kRopeMaxHeadDim);
  const uint64_t n = uint64_t{shape.n_heads} * shape.head_dim;
  expect_floats(x, n, "RoPE", "x");
  expect_floats(inverse_frequencies, shape.n_rot / 2, "RoPE", "inverse frequencies");
  RopePush push{shape.n_heads, shape.head_dim, shape.n_rot, shape.neox ? 1u : 0u, 0, 0.0f, 0};
  // Unused bindings are bound to x, read-only in the shader's eyes.
  BufferRange norm_weight = inverse_frequencies, values = inverse_frequencies;
  BufferRange key_cache = x, value_cache = x;
  if (fusions.norm_weight != nullptr) {
    expect_floats(*fusions.norm_weight, shape.head_dim, "RoPE", "norm weight");
    norm_weight = *fusions.norm_weight;
    push.flags |= kRopeNorm;
    push.eps = fusions.norm_eps;
  }
  if (fusions.cache != nullptr) {
    const KvCacheRanges& cache = *fusions.cache;
    if (fusions.values == nullptr || cache.kv_dim != n)
      fail("Vulkan RoPE: a fused KV store needs the values and a cache of {} floats per row", n);
    expect_floats(*fusions.values, n, "RoPE", "values");
    expect_floats(cache.keys, uint64_t{cache.capacity} * n, "RoPE", "key cache");
    expect_floats(cache.values, uint64_t{cache.capacity} * n, "RoPE", "value cache");
    values = *fusions.values;
    key_cache = cache.keys;
    value_cache = cache.values;
    push.flags |= kRopeStore;
    push.capacity = cache.capacity;
  }
  sequence.dispatch("rope",
                    {x, step, inverse_frequencies, norm_weight, values, key_cache, value_cache},
                    push, sequence.linear_groups(shape.n_heads));
}

void encode_kv_store(CommandSequence& sequence, const BufferRange& k, const BufferRange& v,
                     const KvCacheRanges& cache, const BufferRange& step) {
  expect_floats(k, cache.kv_dim, "KV store", "k");
  expect_floats(v, cache.kv_dim, "KV store", "v");
  expect_floats(cache.keys, uint64_t{cache.capacity} * cache.kv_dim, "KV store", "key cache");
  expect_floats(cache.values, uint64_t{cache.capacity} * cache.kv_dim, "KV store", "value cache");
  KvStorePush push{cache.kv_dim, cache.capacity};
  const uint32_t width = sequence.pipelines().workgroup_size("kv_store");
  sequence.dispatch("kv_store", {k, v, cache.keys, cache.values, step}, push,
                    sequence.linear_groups(group_count(cache.kv_dim, width)));
}

namespace {

// Positions one attention workgroup takes, by attention_partial's width (the prepared variant is
// wider; its passes differ: shaders/attention_partial.comp). A cache of at most two widths is one
// chunk and needs no combine step; a longer one is cut into chunks of one width, so that long
// caches spread over many workgroups (one workgroup per head running many passes is slower on a
// large GPU than the combine step it saves: pp512 on the H200, docs/perf).
uint32_t attention_chunk_len(const Pipelines& pipelines, uint32_t capacity) {
  const uint32_t single = attention_single_dispatch_positions(pipelines);
  return capacity <= single ? single : single / 2;
}

// The inputs of AttentionPreparation, against the attention's shape.
void check_preparation(const AttentionPreparation& preparation, const AttentionShape& shape) {
  if (preparation.n_rot % 2 != 0 || preparation.n_rot == 0 || preparation.n_rot > shape.head_dim)
    fail("Vulkan attention: n_rot {} must be even and in 2..head_dim ({})", preparation.n_rot,
         shape.head_dim);
  const uint64_t kv_dim = uint64_t{shape.n_kv_heads} * shape.head_dim;
  expect_floats(preparation.keys, kv_dim, "attention", "keys");
  expect_floats(preparation.values, kv_dim, "attention", "values");
  expect_floats(preparation.constants, 2 * shape.head_dim + preparation.n_rot / 2, "attention",
                "norm weights and inverse frequencies");
}

}  // namespace

std::vector<float> attention_preparation_constants(std::span<const float> q_norm_weight,
                                                   std::span<const float> k_norm_weight,
                                                   std::span<const float> inverse_frequencies) {
  if (q_norm_weight.size() != k_norm_weight.size())
    fail("Vulkan attention: q and k norm weights of {} and {} values", q_norm_weight.size(),
         k_norm_weight.size());
  std::vector<float> constants(q_norm_weight.begin(), q_norm_weight.end());
  constants.insert(constants.end(), k_norm_weight.begin(), k_norm_weight.end());
  constants.insert(constants.end(), inverse_frequencies.begin(), inverse_frequencies.end());
  return constants;
}

uint32_t attention_single_dispatch_positions(const Pipelines& pipelines) {
  return 2 * pipelines.workgroup_size("attention_partial");
}

uint64_t attention_scratch_floats(Pipelines& pipelines, const AttentionShape& shape,
                                  uint32_t capacity) {
  const uint32_t chunk_len = attention_chunk_len(pipelines, capacity);
  return uint64_t{shape.n_heads} * group_count(capacity, chunk_len) * (shape.head_dim + 2);
}

bool attention_quantizes_output(const AttentionShape& shape) {
  return shape.head_dim % kQuantizedGroup == 0;
}

void encode_attention(CommandSequence& sequence, const BufferRange& q, const KvCacheRanges& cache,
                      const BufferRange& step, const BufferRange& scratch, const BufferRange& out,
                      const AttentionShape& shape, const AttentionPreparation* preparation,
                      const BufferRange* quantized_out) {
  if (shape.n_kv_heads == 0 || shape.n_heads % shape.n_kv_heads != 0)
    fail("Vulkan attention: {} heads cannot share {} KV heads", shape.n_heads, shape.n_kv_heads);
  if (cache.kv_dim != shape.n_kv_heads * shape.head_dim)
    fail("Vulkan attention: cache rows of {} floats, expected {} KV heads x {}", cache.kv_dim,
         shape.n_kv_heads, shape.head_dim);
  const uint32_t width = sequence.pipelines().workgroup_size(
      preparation == nullptr ? "attention_partial" : "attention_partial_rope_store");
  if (shape.head_dim % 4 != 0 || shape.head_dim > 4 * width)
    fail("Vulkan attention: heads of {} values; the kernel takes multiples of 4 up to {}",
         shape.head_dim, 4 * width);
  expect_floats(q, uint64_t{shape.n_heads} * shape.head_dim, "attention", "q");
  expect_floats(out, uint64_t{shape.n_heads} * shape.head_dim, "attention", "out");
  expect_floats(cache.keys, uint64_t{cache.capacity} * cache.kv_dim, "attention", "key cache");
  expect_floats(cache.values, uint64_t{cache.capacity} * cache.kv_dim, "attention", "value cache");
  Pipelines& pipelines = sequence.pipelines();
  expect_floats(scratch, attention_scratch_floats(pipelines, shape, cache.capacity), "attention",
                "scratch");
  const uint32_t chunk_len = attention_chunk_len(pipelines, cache.capacity);
  const uint32_t n_chunks = group_count(cache.capacity, chunk_len);
  const bool single_chunk = n_chunks == 1;
  const uint64_t n = uint64_t{shape.n_heads} * shape.head_dim;
  if (quantized_out != nullptr &&
      (!attention_quantizes_output(shape) || quantized_out->size < quantized_activation_bytes(n)))
    fail("Vulkan attention: cannot quantize heads of {} values into {} bytes", shape.head_dim,
         quantized_out->size);
  // One chunk writes the output itself; several write partial sums for the combine step. Whichever
  // writes the output quantizes it; unused, the quantized output is bound to what it writes anyway.
  const BufferRange& result = single_chunk ? out : scratch;
  const BufferRange& partial_quantized =
      single_chunk && quantized_out != nullptr ? *quantized_out : result;
  const uint32_t final =
      single_chunk ? kAttentionFinal | (quantized_out != nullptr ? kAttentionQuantizeResult : 0u)
                   : 0u;
  AttentionPartialPush partial{shape.n_heads,  shape.n_kv_heads, shape.head_dim, n_chunks,
                               cache.capacity, shape.scale,      chunk_len,      final};
  const GroupCount groups{n_chunks, shape.n_heads, 1};
  if (preparation == nullptr) {
    sequence.dispatch("attention_partial",
                      {q, cache.keys, cache.values, step, result, partial_quantized}, partial,
                      groups);
  } else {
    check_preparation(*preparation, shape);
    const AttentionPartialPreparingPush push{partial, preparation->n_rot,
                                             preparation->neox ? 1u : 0u, preparation->q_norm_eps,
                                             preparation->k_norm_eps};
    sequence.dispatch("attention_partial_rope_store",
                      {q, cache.keys, cache.values, step, result, preparation->keys,
                       preparation->values, preparation->constants, partial_quantized},
                      push, groups);
  }
  if (single_chunk) return;
  AttentionCombinePush combine{shape.n_heads, shape.head_dim, n_chunks,
                               chunk_len,     cache.capacity, quantized_out != nullptr ? 1u : 0u};
  sequence.dispatch("attention_combine",
                    {scratch, step, out, quantized_out != nullptr ? *quantized_out : out}, combine,
                    sequence.linear_groups(shape.n_heads));
}

void encode_swiglu(CommandSequence& sequence, const BufferRange& gate, const BufferRange& up,
                   const BufferRange& out, uint32_t n) {
  expect_floats(gate, n, "SwiGLU", "gate");
  expect_floats(up, n, "SwiGLU", "up");
  expect_floats(out, n, "SwiGLU", "out");
  const uint32_t width = sequence.pipelines().workgroup_size("swiglu");
  sequence.dispatch("swiglu", {gate, up, out}, CountPush{n},
                    sequence.linear_groups(group_count(n, width)));
}

void encode_add(CommandSequence& sequence, const BufferRange& a, const BufferRange& b,
                const BufferRange& out, uint32_t n) {
  expect_floats(a, n, "add", "a");
  expect_floats(b, n, "add", "b");
  expect_floats(out, n, "add", "out");
  const uint32_t width = sequence.pipelines().workgroup_size("add");
  sequence.dispatch("add", {a, b, out}, CountPush{n},
                    sequence.linear_groups(group_count(n, width)));
}

void encode_slice_heads(CommandSequence& sequence, const BufferRange& in, const BufferRange& out,
                        const SliceShape& shape) {
  if (shape.in_offset + shape.size > shape.in_head_stride)
    fail("Vulkan head slice: {} values at {} do not fit heads of {}", shape.size, shape.in_offset,
         shape.in_head_stride);
  expect_floats(in, uint64_t{shape.n_heads} * shape.in_head_stride, "head slice", "in");
  const uint64_t n = uint64_t{shape.n_heads} * shape.size;
  expect_floats(out, n, "head slice", "out");
  SliceHeadsPush push{shape.n_heads, shape.in_head_stride, shape.in_offset, shape.size};
  const uint32_t width = sequence.pipelines().workgroup_size("slice_heads");
  sequence.dispatch("slice_heads", {in, out}, push, sequence.linear_groups(group_count(n, width)));
}

void encode_sigmoid_gate(CommandSequence& sequence, const BufferRange& in, const BufferRange& gate,
                         const BufferRange& out, uint32_t n) {
  expect_floats(in, n, "sigmoid gate", "in");
  expect_floats(gate, n, "sigmoid gate", "gate");
  expect_floats(out, n, "sigmoid gate", "out");
  const uint32_t width = sequence.pipelines().workgroup_size("sigmoid_gate");
  sequence.dispatch("sigmoid_gate", {in, gate, out}, CountPush{n},
                    sequence.linear_groups(group_count(n, width)));
}

void encode_causal_conv1d_silu(CommandSequence& sequence, const BufferRange& in,
                               const BufferRange& weight, const BufferRange& state,
                               const BufferRange& out, uint32_t n_channels, uint32_t kernel) {
  if (kernel < 2) fail("Vulkan convolution: kernel {} must be at least 2", kernel);
  expect_floats(in, n_channels, "convolution", "in");
  expect_floats(weight, uint64_t{n_channels} * kernel, "convolution", "weight");
  expect_floats(state, uint64_t{n_channels} * (kernel - 1), "convolution", "state");
  expect_floats(out, n_channels, "convolution", "out");
  const uint32_t width = sequence.pipelines().workgroup_size("causal_conv1d_silu");
  sequence.dispatch("causal_conv1d_silu", {in, weight, state, out}, ConvPush{n_channels, kernel},
                    sequence.linear_groups(group_count(n_channels, width)));
}

void encode_gated_delta_net(CommandSequence& sequence, const BufferRange& qkv,
                            const DeltaNetGates& gates, const BufferRange& state,
                            const BufferRange& out, const DeltaNetShape& shape) {
  if (shape.n_k_heads == 0 || shape.n_v_heads % shape.n_k_heads != 0)
    fail("Vulkan delta rule: {} V heads cannot share {} K heads", shape.n_v_heads, shape.n_k_heads);
  const uint64_t dk = shape.head_k_dim;
  const uint64_t dv = shape.head_v_dim;
  expect_floats(qkv, 2 * shape.n_k_heads * dk + shape.n_v_heads * dv, "delta rule", "qkv");
  expect_floats(gates.alpha, shape.n_v_heads, "delta rule", "alpha");
  expect_floats(gates.beta, shape.n_v_heads, "delta rule", "beta");
  expect_floats(gates.a, shape.n_v_heads, "delta rule", "a");
  expect_floats(gates.dt_bias, shape.n_v_heads, "delta rule", "dt_bias");
  expect_floats(state, shape.n_v_heads * dk * dv, "delta rule", "state");
  expect_floats(out, shape.n_v_heads * dv, "delta rule", "out");
  DeltaNetPush push{shape.n_k_heads, shape.n_v_heads, shape.head_k_dim, shape.head_v_dim,
                    shape.eps};
  sequence.dispatch("gated_delta_net",
                    {qkv, gates.alpha, gates.beta, gates.a, gates.dt_bias, state, out}, push,
                    sequence.linear_groups(shape.n_v_heads));
}

}  // namespace quant::vulkan
