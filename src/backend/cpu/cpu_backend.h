#pragma once
// The CPU backend: interprets a plan op by op with F32 activations and an F32 KV cache. MatVec
// quantizes its input to int8 for quantized weights, as llama.cpp does (matmul.h), unless
// exact_activations asks for F32 throughout. Everything is allocated when it is created
// (activations for max_batch tokens, KV caches for context_length positions, per-thread scratch);
// forward() allocates nothing.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/thread_pool.h"
#include "plan/backend.h"
#include "plan/plan.h"

namespace quant::cpu {

struct CpuBackendOptions {
  uint32_t threads = 0;         // 0: the physical cores (cpu_topology.h)
  uint32_t context_length = 0;  // positions the KV caches hold (> 0)
  uint32_t max_batch = 128;  // tokens one batched step processes; forward_batch splits longer ones
  // MatVec with F32 activations and dequantized weight rows (the reference arithmetic) instead of
  // the fast kernels, which quantize the activations to int8 as llama.cpp does (matmul.h).
  bool exact_activations = false;
};

class CpuBackend final : public Backend {
 public:
  // `plan` must be checked (plan::check_plan) and outlive the backend.
  CpuBackend(const plan::Plan& plan, const CpuBackendOptions& options);

  std::string_view name() const override { return "cpu"; }
  std::span<const float> forward(int32_t token, uint32_t pos) override;
  std::span<const float> forward_observed(int32_t token, uint32_t pos,
                                          const PlanObserver& observer) override;
  // Runs up to max_batch tokens per step through the plan: each weight row is dequantized once per
  // step.
  void forward_batch(std::span<const int32_t> tokens, uint32_t pos,
                     std::span<float> logits_out) override;
  // The same steps, with the output projection run for the last token only.
  std::span<const float> prefill(std::span<const int32_t> tokens, uint32_t pos) override;
  // Zeroes the recurrent states; KV cache positions past the current one are never read.
  void reset() override;

  uint32_t threads() const { return pool_.size(); }
  // The instruction set of the fast MatVec kernels (unused with exact_activations).
  Isa isa() const { return isa_; }

 private:
  // Per KV head: its key blocks (attention.h) and its values, [context_length][head_dim].
  struct KvCache {
    std::vector<float> keys;
    std::vector<float> values;
    size_t head_keys = 0;    // floats of one KV head's key blocks
    size_t head_values = 0;  // context_length * head_dim
    uint32_t n_kv_heads = 0;
    uint32_t head_dim = 0;
  };

  // An F32 vector weight (norm scale): the mapping itself, or the copy made at creation.
  const float* vector_weight(plan::WeightId id) const;
  // Calls task(thread, items) for a split of n_items over the threads, or task(0, all) on this
  // thread when `work` (multiply-adds) is too small to share.
  template <typename Task>
  void run_split(uint64_t n_items, uint64_t work, const Task& task);
  // Calls rows(begin, end) over chunks of n_rows rows taken by the threads in turn, or once for
  // all rows on this thread when `work` is too small to share.
  template <typename Rows>
  void run_rows(uint64_t n_rows, uint64_t work, const Rows& rows);
  // For elementwise ops: calls fn(b, begin, end) for each token b of the batch and its elements
  // [begin, end) of n, sharing the tokens (or one token's elements) among the threads when `cost`
  // (work per element) makes it worth it. Each element comes out the same whatever the split.
  template <typename Fn>
  void run_elementwise(uint64_t n_tokens, uint64_t n, uint64_t cost, const Fn& fn);
  // Token rows of `in` as the fast MatVec kernel of `layout` reads them: the buffer itself for F32,
  // else its int8 quantization (made once for consecutive MatVecs that read the same buffer), and
  // the AMX kernels' tiles of it where they want them (else null). The n_batch batch rows from
  // first_row on.
  struct MatvecInput {
    const uint8_t* rows;
    const uint8_t* tiles;
  };
  MatvecInput matvec_input(plan::BufferId in, const ActivationLayout& layout, uint32_t first_row,
                           uint32_t n_batch);
  // Runs every op for tokens (at most max_batch) at positions pos, pos + 1, ...
  // The logits are computed for batch rows first_logits_row.. only (tokens.size(): none).
  void run_plan(std::span<const int32_t> tokens, uint32_t pos, const PlanObserver* observer,
                size_t first_logits_row);

  float* buffer(plan::BufferId id) { return arena_.data() + buffer_offsets_[id.index]; }
  size_t stride(plan::BufferId id) const { return buffer_strides_[id.index]; }

  void run(const plan::Embed& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::RmsNorm& op, std::span<const int32_t> tokens, uint32_t pos);
  // How many MatVecs from ops[first_op] (a MatVec) on can run as one step: consecutive ones of
  // the same input, fast kernels and activation layout, none writing what another reads or writes.
  size_t fusable_matvecs(size_t first_op) const;
  // MatVecs of one input (several only where fusable_matvecs allows) for the n_batch batch rows
  // from first_row on.
  void run_matvecs(std::span<const plan::MatVec* const> ops, uint32_t first_row, uint32_t n_batch);
  void run(const plan::Add& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::Rope& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::KvStore& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::Attention& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::SwiGLU& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::SliceHeads& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::SigmoidGate& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::CausalConv1dSilu& op, std::span<const int32_t> tokens, uint32_t pos);
  void run(const plan::GatedDeltaNet& op, std::span<const int32_t> tokens, uint32_t pos);

  const plan::Plan& plan_;
  uint32_t context_length_;
  uint32_t max_batch_;
  ThreadPool pool_;
  std::vector<WeightMatrix> weights_;               // one per plan weight
  std::vector<std::vector<float>> vector_weights_;  // dequantized copies of non-F32 1-D weights
  std::vector<float> arena_;                        // every activation buffer, max_batch rows each
  std::vector<size_t> buffer_offsets_;              // into arena_, per buffer
  std::vector<size_t> buffer_strides_;              // floats between the rows of a buffer
  std::vector<KvCache> kv_caches_;
  std::vector<std::vector<float>> states_;  // one per plan state, zero at a sequence's start
  // Per thread: a dequantized row, attention scores or a DeltaNet head's values.
  std::vector<std::vector<float>> scratch_;

  // The fast MatVec path: per plan weight its kernel (null: the exact path) and input layout.
  struct FastMatvec {
    MatmulRowsFn kernel = nullptr;
    ActivationLayout layout;
  };
  struct alignas(64) CacheLine {
    uint8_t bytes[64];
  };
  // The input that quantized_ holds; valid only while nothing has written the buffer since.
  struct QuantizedInput {
    plan::BufferId buffer;
    ActivationFormat format = ActivationFormat::F32;
    uint32_t first_row = 0;  // the batch row quantized_ starts with
    bool valid = false;
  };
  Isa isa_ = Isa::Scalar;
  std::vector<FastMatvec> fast_matvecs_;
  std::vector<CacheLine> quantized_;  // max_batch quantized activation rows
  std::vector<CacheLine> tiles_;      // the same rows in AMX tiles, where the kernels use them
  QuantizedInput quantized_input_;
};

}  // namespace quant::cpu
