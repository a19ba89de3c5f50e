#pragma once
// The plan: the per-token forward pass of one model as an ordered list of ops over named buffers.
// It is the only thing that architecture builders (src/model/arch_*.cpp) and backends
// (src/backend/*) both know.
//
// Contract
// - A builder emits the plan once per model. Backends never ask which architecture they run:
//   everything an op needs (sizes, eps, RoPE style, attention scale, ...) is a field of the op.
// - Activation buffers are F32 and declared with their size in floats. Backends allocate each one
//   once; nothing is allocated per token. A buffer may be written by several ops (in place where
//   an op allows it, e.g. Rope) and read by any later op.
// - Weights are views into the model's file mapping (type, ggml-order dims, bytes), used as
//   stored: never re-quantized. The plan must not outlive the Model that owns the mapping.
// - Per-token inputs are not in the plan: a backend's forward(token, pos) supplies the token id
//   (read by Embed) and the position (read by Rope, KvStore, Attention). So a backend may compile
//   the plan once and only update the position for each token.
// - State that persists across tokens is declared in the plan and allocated by the backend:
//   kv_caches (sized for the context length the backend was created with) and recurrent `states`
//   (a fixed number of floats each, zero at the start of a sequence). reset() clears both.
// - Ops run in order; each op finishes before the next reads its output. Backends add barriers
//   or fuse as they like, as long as an observer that asks still sees every op's output.
// - Every op carries a name and a layer index (-1 outside the layers) so an observer can dump any
//   intermediate ("attn_norm", layer 7): CPU-vs-GPU and vs-reference diffs are one call.
// - Adding an op kind means adding a struct to `OpKind`; backends visit
//   the variant exhaustively, so the compiler points at every backend that must learn it.
//
// Matrix convention (ggml's): a weight with dims {cols, rows} stores `rows` rows of `cols`
// elements each; MatVec computes out[r] = sum_c W[r][c] * in[c], so `in` has dims[0] floats and
// `out` has dims[1].

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "formats/tensor_type.h"

namespace quant::plan {

// Index of an activation buffer in Plan::buffers.
struct BufferId {
  uint32_t index = 0;
  friend bool operator==(BufferId, BufferId) = default;
};
// Index of a weight in Plan::weights.
struct WeightId {
  uint32_t index = 0;
  friend bool operator==(WeightId, WeightId) = default;
};
// Index of a KV cache in Plan::kv_caches (one per attention layer).
struct KvCacheId {
  uint32_t index = 0;
  friend bool operator==(KvCacheId, KvCacheId) = default;
};

// Index of a recurrent state in Plan::states.
struct StateId {
  uint32_t index = 0;
  friend bool operator==(StateId, StateId) = default;
};

// An F32 activation buffer of `n_floats` values.
struct BufferDecl {
  std::string name;
  uint64_t n_floats = 0;
};

// A weight tensor as stored in the model file.
struct WeightRef {
  std::string name;  // the GGUF tensor name, e.g. "blk.0.attn_q.weight"
  TensorType type = TensorType::F32;
  std::vector<uint64_t> dims;     // ggml order: dims[0] is the row length
  std::span<const uint8_t> data;  // the tensor's bytes in the mapping

  uint64_t row_length() const { return dims.empty() ? 0 : dims[0]; }
  uint64_t n_rows() const;  // product of dims[1..]
  uint64_t n_elements() const;
};

// Keys and values of one attention layer: for each position 0..context-1, n_kv_heads x head_dim
// floats of K and the same of V (the backend picks the storage type; the CPU backend keeps F32).
struct KvCacheDecl {
  int32_t layer = -1;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;
};

// Per-sequence F32 state that a recurrent op carries from one token to the next (qwen35's
// convolution window and DeltaNet matrices): n_floats values, all zero at the start of a sequence.
// Unlike a KV cache its size does not depend on the context length. Backends allocate it once (the
// Vulkan backend in device memory) and zero it when created and on reset(). Only the ops that name
// it read or write it; its layout is the op's (see CausalConv1dSilu, GatedDeltaNet).
struct StateDecl {
  std::string name;  // "conv_state", "delta_state"
  int32_t layer = -1;
  uint64_t n_floats = 0;
};

// ---- Ops
// -------------------------------------------------------------------------------------------------

// out = row `token` of `table` (dims {n_embd, n_vocab}), dequantized. The token comes from
// forward().
struct Embed {
  WeightId table;
  BufferId out;
};

// RMS normalization of `in` as n_groups consecutive groups of group_size values, each scaled by the
// same `weight` (group_size values): out = in / sqrt(mean(in^2) + eps) * weight. n_groups = 1 is
// the ordinary norm over the hidden state; n_groups = n_heads is the per-head form (qwen3's q/k
// norms). in == out is allowed.
struct RmsNorm {
  BufferId in;
  WeightId weight;
  BufferId out;
  uint32_t n_groups = 1;
  uint32_t group_size = 0;
  float eps = 1e-5f;
};

// out = W · in for a weight of any supported type (see the matrix convention above). in != out.
struct MatVec {
  WeightId weight;
  BufferId in;
  BufferId out;
};

// out = a + b elementwise (all three the same size). out may be a or b.
struct Add {
  BufferId a;
  BufferId b;
  BufferId out;
};

// Which elements RoPE rotates together.
enum class RopeStyle : uint8_t {
  AdjacentPairs,  // (x[2i], x[2i+1]): llama ("normal" RoPE in ggml)
  Neox,           // (x[i], x[i + n_rot/2]): qwen3, qwen35, GPT-NeoX
};

// In place: rotates the first n_rot values of each of n_heads heads (head_dim apart) by the angles
// pos * theta^(-2i/n_rot), i = 0..n_rot/2-1. Values n_rot..head_dim-1 of each head are left alone.
struct Rope {
  BufferId buf;
  uint32_t n_heads = 0;
  uint32_t head_dim = 0;
  uint32_t n_rot = 0;
  float theta = 10000.0f;
  RopeStyle style = RopeStyle::AdjacentPairs;
};

// Stores k and v (each n_kv_heads x head_dim of the cache) at the current position of `cache`.
struct KvStore {
  BufferId k;
  BufferId v;
  KvCacheId cache;
};

// Causal attention of one query token over positions 0..pos of `cache` (pos included, so KvStore
// for this position comes first). Query head h uses KV head h / (n_heads / n_kv_heads)
// (grouped-query attention). Per head: softmax(scale * q·k) in F32, then the weighted sum of v; out
// is n_heads x head_dim.
struct Attention {
  BufferId q;
  KvCacheId cache;
  BufferId out;
  uint32_t n_heads = 0;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;
  float scale = 1.0f;
};

// out = silu(gate) * up elementwise, silu(x) = x / (1 + exp(-x)). out may be gate or up.
struct SwiGLU {
  BufferId gate;
  BufferId up;
  BufferId out;
};

// out[h * size + i] = in[h * in_head_stride + in_offset + i] for h < n_heads, i < size: the same
// slice of every head. qwen35's attn_q output has heads laid out [query_h | gate_h] (in_head_stride
// = 2 * head_dim): in_offset 0 takes the queries, in_offset head_dim the gates. in != out.
struct SliceHeads {
  BufferId in;
  BufferId out;
  uint32_t n_heads = 0;
  uint32_t in_head_stride = 0;
  uint32_t in_offset = 0;
  uint32_t size = 0;
};

// out = in * sigmoid(gate) elementwise, sigmoid(x) = 1 / (1 + exp(-x)) (qwen35's gated attention
// output). All three the same size; out may be in or gate.
struct SigmoidGate {
  BufferId in;
  BufferId gate;
  BufferId out;
};

// Causal depthwise convolution over the last `kernel` tokens, then SiLU (qwen35's ssm_conv1d). With
// u_t the `in` of the token at time t (n_channels values) and w = `weight` (F32, dims {kernel,
// n_channels}: row c holds channel c's taps, oldest first):
//   out[c] = silu(sum_{j < kernel} w[c][j] * u_{t - kernel + 1 + j}[c])
// with silu(x) = x / (1 + exp(-x)), so w[c][kernel - 1] weights the current token; inputs before
// the start of the sequence are 0.
// `state` ((kernel - 1) * n_channels floats) holds the previous kernel - 1 inputs, oldest first:
// state[j * n_channels + c] = u_{t - kernel + 1 + j}[c]. The op reads it, then shifts this token's
// input in (dropping the oldest). in != out.
struct CausalConv1dSilu {
  BufferId in;
  WeightId weight;
  StateId state;
  BufferId out;
  uint32_t n_channels = 0;
  uint32_t kernel = 0;
};

// One token of the gated delta rule (qwen35's Gated DeltaNet "linear attention"), for each of
// n_v_heads value heads. `qkv` holds [q | k | v]: q and k n_k_heads x head_k_dim each, v n_v_heads
// x head_v_dim (heads of consecutive values). For V head h, with Q/K head kh = h mod n_k_heads
// (n_v_heads is a multiple of n_k_heads):
//   q = q_kh / max(|q_kh|, eps) / sqrt(head_k_dim),  k = k_kh / max(|k_kh|, eps)  (|.|: L2 norm)
//   beta = sigmoid(beta_in[h]),  g = a[h] * softplus(alpha_in[h] + dt_bias[h])
//     (softplus(x) = log(1 + exp(x)), taken as x itself for x > 20)
//   S <- exp(g) S;  d = beta (v_h - S^T k);  S <- S + k d^T;  out_h = S^T q
// S is head h's head_k_dim x head_v_dim matrix (rows: key index, columns: value index), kept in
// `state` (n_v_heads * head_k_dim * head_v_dim floats) as state[(h * head_k_dim + i) * head_v_dim +
// j] = S[i][j]. alpha_in and beta_in are buffers of n_v_heads values; a and dt_bias F32 weights of
// n_v_heads values. out (n_v_heads x head_v_dim) differs from every input.
struct GatedDeltaNet {
  BufferId qkv;
  BufferId alpha_in;
  BufferId beta_in;
  WeightId a;
  WeightId dt_bias;
  StateId state;
  BufferId out;
  uint32_t n_k_heads = 0;
  uint32_t n_v_heads = 0;
  uint32_t head_k_dim = 0;
  uint32_t head_v_dim = 0;
  float eps = 1e-6f;
};

using OpKind = std::variant<Embed, RmsNorm, MatVec, Add, Rope, KvStore, Attention, SwiGLU,
                            SliceHeads, SigmoidGate, CausalConv1dSilu, GatedDeltaNet>;

struct Op {
  OpKind kind;
  std::string name;  // what the value is, without the layer: "attn_norm", "q", "ffn_out", "logits"
  int32_t layer = -1;  // the layer index, or -1 for ops outside the layers (embedding, output)
};

// The buffer an op writes (its value for an observer), or nullopt for ops that only write state
// (KvStore). CausalConv1dSilu and GatedDeltaNet write their state as well as their out buffer.
std::optional<BufferId> output_of(const Op& op);
// The buffers an op reads (not its weights, caches or states), in declaration order; an op that
// updates a buffer in place (Rope) reads it too.
std::vector<BufferId> inputs_of(const Op& op);
// The op kind as a word: "MatVec", "RmsNorm", ...
const char* kind_name(const OpKind& kind);

struct Plan {
  std::vector<BufferDecl> buffers;
  std::vector<WeightRef> weights;
  std::vector<KvCacheDecl> kv_caches;
  std::vector<StateDecl> states;
  std::vector<Op> ops;
  BufferId logits;  // n_vocab floats, written by the last op
  uint32_t n_vocab = 0;

  const BufferDecl& buffer(BufferId id) const { return buffers.at(id.index); }
  const WeightRef& weight(WeightId id) const { return weights.at(id.index); }
  const KvCacheDecl& kv_cache(KvCacheId id) const { return kv_caches.at(id.index); }
  const StateDecl& state(StateId id) const { return states.at(id.index); }

  // Helpers for builders: append a declaration and return its id.
  BufferId add_buffer(std::string name, uint64_t n_floats);
  WeightId add_weight(WeightRef weight);
  KvCacheId add_kv_cache(KvCacheDecl cache);
  StateId add_state(StateDecl state);
  void add_op(OpKind kind, std::string name, int32_t layer);
};

// Checks that every id is in range and every op's sizes agree with its buffers and weights (e.g.
// MatVec: in has dims[0] floats, out has dims[1]; RmsNorm: n_groups * group_size floats). Throws
// quant::Error naming the op ("blk 3 MatVec 'q': ...") on the first inconsistency. Builders call it
// once; backends may rely on a checked plan.
void check_plan(const Plan& plan);

// "layer 3 MatVec 'q'" / "MatVec 'logits'": how errors and dumps name an op.
std::string describe(const Op& op);

}  // namespace quant::plan
