#pragma once
// Op encoders: each records one op's dispatches into a CommandSequence. They know the shaders' push
// constants and grids; the plan compiler knows only these functions. Shapes are checked against the
// ranges given (internal errors: the plan was checked when it was built).

#include <cstdint>
#include <span>
#include <vector>

#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/memory.h"
#include "formats/tensor_type.h"

namespace quant::vulkan {

// The per-token inputs every recorded command buffer reads (shaders: DECLARE_STEP_INPUTS). The host
// writes them before each submission, so one recording serves every token.
struct StepInputs {
  uint32_t token = 0;
  uint32_t pos = 0;
};

// `rows` rows of `cols` elements of `type`, stored row after row from byte `offset` (a multiple of
// 16) of `buffer` in the device layout (weight_layout.h: device_row_bytes() apart).
struct WeightMatrix {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  TensorType type = TensorType::F32;
  uint64_t rows = 0;
  uint64_t cols = 0;
};

// Whether the mat-vec and embedding kernels read weights of this type.
bool weight_type_supported(TensorType type);

struct RopeShape {
  uint32_t n_heads = 0;
  uint32_t head_dim = 0;
  uint32_t n_rot = 0;  // even, <= head_dim
  bool neox = false;  // false: adjacent pairs (x[2i], x[2i+1]); true: halves (x[i], x[i + n_rot/2])
};

// What a mat-vec dispatch computes besides W x: ops of the plan folded into it (fusion.h).
struct MatVecFusions {
  // x is used as x / sqrt(mean(x^2) + norm_eps) * norm_weight (an RMS norm of the whole vector).
  const BufferRange* norm_weight = nullptr;
  float norm_eps = 0.0f;
  // y += W x (a residual add).
  bool accumulate = false;
  // y = silu(W x) * (V x) for this V, of W's type and shape, later in W's buffer (SwiGLU).
  const WeightMatrix* swiglu_up = nullptr;
  // The epilogue of a llama layer's q/k/v (neither with accumulate nor with swiglu_up), at the
  // position step.pos of `step`:
  //   y is rotated as encode_rope rotates it: `rope` with adjacent pairs, n_heads x head_dim = W's
  //   rows, by the inverse frequencies `rope_frequencies`;
  //   y is also written at position step.pos of `cache` (cache_capacity positions of W's rows
  //   floats: a KvCacheRanges' keys or values), as encode_kv_store writes it.
  const BufferRange* step = nullptr;
  const RopeShape* rope = nullptr;
  const BufferRange* rope_frequencies = nullptr;
  const BufferRange* cache = nullptr;
  uint32_t cache_capacity = 0;
  // x as the mat-vec that produced it quantized it (its quantize_output), read instead of x (which
  // is then not read; matvec_reads_quantized_x must hold). With norm_weight, that producer applied
  // the norm weights, and this mat-vec applies the RMS scale (norm_eps) of the values it quantized.
  const BufferRange* quantized_x = nullptr;
  // With quantized_x: the rows of the widest other mat-vec that reads the same quantized x (0:
  // none), which runs beside this one with no barrier between (a layer's q, k and v). Kernels
  // that fit fewer workgroups on the GPU at once may then take a variant with fewer registers.
  uint64_t side_by_side_rows = 0;
  // W is matrices that would otherwise run side by side, back to back as one (a layer's q, k and
  // v: one dispatch where three were): the rows of the widest of them (0: W is one matrix). Kernels
  // choose as for those matrices, side by side.
  uint64_t part_rows = 0;
  // y is also quantized into quantize_output (quantized_activation_bytes(W's rows) bytes) for the
  // mat-vecs that read it next (their quantized_x), as y times quantize_norm_weight where that is
  // set (the next RMS norm's weights). matvec_quantizes_output must hold.
  const BufferRange* quantize_output = nullptr;
  const BufferRange* quantize_norm_weight = nullptr;
};

// Bytes of a vector of n floats quantized for the next mat-vecs (MatVecFusions::quantize_output;
// shaders/quantized_activations.glsl).
uint64_t quantized_activation_bytes(uint64_t n);

// Whether encode_matvec can read x for `weights` quantized by its producer (MatVecFusions::
// quantized_x) on this device: the int8 kernel of Q8_0 or a K-quant.
bool matvec_reads_quantized_x(const Pipelines& pipelines, const WeightMatrix& weights);

// Whether encode_matvec can quantize its output for the next mat-vecs (MatVecFusions::
// quantize_output) on this device: the int8 kernel, rows and each workgroup's pass of rows
// multiples of 16, one dispatch.
bool matvec_quantizes_output(const Pipelines& pipelines, const WeightMatrix& weights);

// y[r] = sum_c W[r][c] * x[c], with `fusions`. A matrix larger than one binding may cover is split
// over several dispatches by rows (not with swiglu_up: see swiglu_pair_fits; with the epilogue
// only where matvec_epilogue_fits).
void encode_matvec(CommandSequence& sequence, const WeightMatrix& weights, const BufferRange& x,
                   const BufferRange& y, const MatVecFusions& fusions = {});

// Whether encode_matvec can apply the epilogue (MatVecFusions::rope, ::cache) to `weights` on this
// device: every dispatch of it starts at an even row and the kernel gives each group of invocations
// an even number of rows, so that both rows of every rotated pair come out of one group.
bool matvec_epilogue_fits(const Pipelines& pipelines, const WeightMatrix& weights);

// Whether encode_matvec can pair `gate` with `up` (MatVecFusions::swiglu_up) on this device: the
// same type and shape, `up` after `gate` in one buffer, both within one binding.
bool swiglu_pair_fits(const Pipelines& pipelines, const WeightMatrix& gate, const WeightMatrix& up);

// Whether encode_embed can quantize the row it writes (its quantized_out): a quantized table, whose
// kernel dequantizes groups of 16 values.
bool embed_quantizes_output(const WeightMatrix& table);

// out = row step.token of `table`, dequantized (cols floats); with quantized_out, also quantized
// for the int8 mat-vecs that read it next (as MatVecFusions::quantize_output, times
// *next_norm_weight where given).
void encode_embed(CommandSequence& sequence, const WeightMatrix& table, const BufferRange& step,
                  const BufferRange& out, const BufferRange* quantized_out = nullptr,
                  const BufferRange* next_norm_weight = nullptr);

// n_groups groups of group_size values: y = x / sqrt(mean(x^2) + eps) * weight. x and y may be one
// range.
void encode_rms_norm(CommandSequence& sequence, const BufferRange& x, const BufferRange& weight,
                     const BufferRange& y, uint32_t n_groups, uint32_t group_size, float eps);

// theta^(-2i/n_rot) for i < n_rot / 2, computed in double precision: the buffer encode_rope reads.
std::vector<float> rope_inverse_frequencies(uint32_t n_rot, float theta);

// Caches of `capacity` positions of kv_dim floats each.
struct KvCacheRanges {
  BufferRange keys;
  BufferRange values;
  uint32_t kv_dim = 0;
  uint32_t capacity = 0;
};

// What a RoPE dispatch computes besides the rotation: ops of the plan folded into it (fusion.h).
struct RopeFusions {
  // Each head is first RMS-normalized and scaled by norm_weight (head_dim floats).
  const BufferRange* norm_weight = nullptr;
  float norm_eps = 0.0f;
  // The rotated heads are the keys of this token: they and `values` are stored at step.pos of
  // `cache` (kv_dim = n_heads x head_dim).
  const KvCacheRanges* cache = nullptr;
  const BufferRange* values = nullptr;
};

// In place: rotates the first n_rot values of each head by the angles step.pos *
// inverse_frequencies[i], with `fusions`. head_dim is at most 512.
void encode_rope(CommandSequence& sequence, const BufferRange& x, const BufferRange& step,
                 const BufferRange& inverse_frequencies, const RopeShape& shape,
                 const RopeFusions& fusions = {});

// Stores k and v (kv_dim floats each) at position step.pos of the caches.
void encode_kv_store(CommandSequence& sequence, const BufferRange& k, const BufferRange& v,
                     const KvCacheRanges& cache, const BufferRange& step);

struct AttentionShape {
  uint32_t n_heads = 0;
  uint32_t n_kv_heads = 0;  // divides n_heads
  uint32_t head_dim = 0;
  float scale = 1.0f;
};

// The most cache positions encode_attention covers in one dispatch on this device.
uint32_t attention_single_dispatch_positions(const Pipelines& pipelines);

// Floats of scratch encode_attention needs for this shape and cache capacity on this device.
uint64_t attention_scratch_floats(Pipelines& pipelines, const AttentionShape& shape,
                                  uint32_t capacity);

// What an attention dispatch does to its inputs first (fusion.h): qwen3's per-head q/k RMS norms,
// the RoPE and the KV store, as encode_rope with RopeFusions would do them before it. q is then the
// raw query; `keys` and `values` are this token's raw keys and values (n_kv_heads x head_dim each).
// The query heads and keys are RMS-normalized, scaled by their norm weights, and rotated (`n_rot`,
// `neox` as RopeShape says) by the angles step.pos * inverse frequency i; the keys and values are
// stored at step.pos of the cache, and the attention covers them too. `constants` holds what
// attention_preparation_constants() returns.
struct AttentionPreparation {
  BufferRange keys;
  BufferRange values;
  BufferRange constants;
  float q_norm_eps = 0.0f;
  float k_norm_eps = 0.0f;
  uint32_t n_rot = 0;
  bool neox = false;
};

// The q and k norm weights (head_dim floats each) and the RoPE's inverse frequencies
// (rope_inverse_frequencies(n_rot, theta)), one after the other: one binding for the three.
std::vector<float> attention_preparation_constants(std::span<const float> q_norm_weight,
                                                   std::span<const float> k_norm_weight,
                                                   std::span<const float> inverse_frequencies);

// Whether encode_attention can quantize its output for the next mat-vec (`quantized_out`): heads
// of a multiple of 16 values.
bool attention_quantizes_output(const AttentionShape& shape);

// Causal attention of the query q (n_heads x head_dim) over positions 0..step.pos of the cache; out
// is n_heads x head_dim. `scratch` holds attention_scratch_floats() floats. One dispatch for caches
// of up to 2 workgroup widths of positions, two (partial sums, then their combination) above. With
// `preparation`, the first dispatch also prepares q and stores this token's keys and values. With
// `quantized_out` (quantized_activation_bytes(n_heads x head_dim) bytes), the output is also
// quantized there for the mat-vec that reads it (MatVecFusions::quantized_x, without a norm).
void encode_attention(CommandSequence& sequence, const BufferRange& q, const KvCacheRanges& cache,
                      const BufferRange& step, const BufferRange& scratch, const BufferRange& out,
                      const AttentionShape& shape,
                      const AttentionPreparation* preparation = nullptr,
                      const BufferRange* quantized_out = nullptr);

// out = silu(gate) * up over n values; out may be gate or up.
void encode_swiglu(CommandSequence& sequence, const BufferRange& gate, const BufferRange& up,
                   const BufferRange& out, uint32_t n);

// out = a + b over n values; out may be a or b.
void encode_add(CommandSequence& sequence, const BufferRange& a, const BufferRange& b,
                const BufferRange& out, uint32_t n);

// out[h * size + i] = in[h * in_head_stride + in_offset + i] for h < n_heads, i < size.
struct SliceShape {
  uint32_t n_heads = 0;
  uint32_t in_head_stride = 0;
  uint32_t in_offset = 0;
  uint32_t size = 0;
};
void encode_slice_heads(CommandSequence& sequence, const BufferRange& in, const BufferRange& out,
                        const SliceShape& shape);

// out = in * sigmoid(gate) over n values; out may be in or gate.
void encode_sigmoid_gate(CommandSequence& sequence, const BufferRange& in, const BufferRange& gate,
                         const BufferRange& out, uint32_t n);

// One token of a causal depthwise convolution + SiLU over n_channels channels
// (plan::CausalConv1dSilu): weight is F32 n_channels x kernel, state (kernel - 1) x n_channels
// floats, read and updated.
void encode_causal_conv1d_silu(CommandSequence& sequence, const BufferRange& in,
                               const BufferRange& weight, const BufferRange& state,
                               const BufferRange& out, uint32_t n_channels, uint32_t kernel);

struct DeltaNetShape {
  uint32_t n_k_heads = 0;
  uint32_t n_v_heads = 0;  // a multiple of n_k_heads
  uint32_t head_k_dim = 0;
  uint32_t head_v_dim = 0;
  float eps = 1e-6f;
};

// Vector inputs of one gated delta rule step: alpha and beta (activations) and a, dt_bias (F32
// weights), n_v_heads floats each.
struct DeltaNetGates {
  BufferRange alpha;
  BufferRange beta;
  BufferRange a;
  BufferRange dt_bias;
};

// One token of the gated delta rule (plan::GatedDeltaNet): qkv holds [q | k | v], state
// n_v_heads x head_k_dim x head_v_dim floats (read and updated), out n_v_heads x head_v_dim.
void encode_gated_delta_net(CommandSequence& sequence, const BufferRange& qkv,
                            const DeltaNetGates& gates, const BufferRange& state,
                            const BufferRange& out, const DeltaNetShape& shape);

}  // namespace quant::vulkan
