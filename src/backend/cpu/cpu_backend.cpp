#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <type_traits>

#include "backend/cpu/attention.h"
#include "backend/cpu/cpu_topology.h"
#include "backend/cpu/kernels_deltanet.h"
#include "backend/cpu/kernels_gated_attention.h"
#include "backend/cpu/quantize_activations.h"
#include "backend/cpu/vector_exp.h"
#include "common/error.h"

namespace quant::cpu {

namespace {

// Rows of every activation buffer start on a 64-byte boundary relative to the arena.
constexpr size_t kRowAlignFloats = 16;

// Below this many multiply-adds an op runs on the calling thread alone: waking the workers would
// cost more than it saves (stories260K's matrices are 64 wide).
constexpr uint64_t kMinParallelWork = 1u << 16;

size_t round_up(size_t n, size_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

uint32_t resolve_threads(uint32_t requested) {
  return requested > 0 ? requested : physical_core_count();
}

// Rows of the MatVec chunks the threads take: a tile of the fast kernels (64 bytes of output).
constexpr uint64_t kRowGranule = 16;

// At most this many consecutive MatVecs of one input run as one parallel step (q, k and v; gate
// and up).
constexpr size_t kMaxFusedMatvecs = 4;

WeightMatrix make_matrix(const plan::WeightRef& w) {
  const TypeTraits& traits = type_traits(w.type);
  return WeightMatrix{
      .data = w.data.data(),
      .type = w.type,
      .dequantize_row = traits.dequantize_row,
      .cols = w.row_length(),
      .rows = w.n_rows(),
      .row_bytes = *row_bytes(w.type, w.row_length()),
  };
}

}  // namespace

CpuBackend::CpuBackend(const plan::Plan& plan, const CpuBackendOptions& options)
    : plan_(plan),
      context_length_(options.context_length),
      max_batch_(std::max(1u, options.max_batch)),
      pool_(resolve_threads(options.threads)) {
  if (context_length_ == 0) fail("cpu backend: context length must be positive");

  size_t max_cols = 0;
  weights_.reserve(plan.weights.size());
  for (const plan::WeightRef& w : plan.weights) {
    weights_.push_back(make_matrix(w));
    max_cols = std::max<size_t>(max_cols, w.row_length());
  }
  isa_ = best_isa();
  size_t max_quantized_row = 0, max_tiles = 0;
  for (const WeightMatrix& w : weights_) {
    FastMatvec& fast = fast_matvecs_.emplace_back();
    const std::optional<ActivationFormat> format = activation_format(w.type);
    if (options.exact_activations || !format) continue;
    fast.kernel = matmul_kernel(isa_, w.type);
    fast.layout = activation_layout(*format, w.cols);
    if (*format != ActivationFormat::F32)
      max_quantized_row = std::max(max_quantized_row, fast.layout.row_bytes);
    if (uses_activation_tiles(isa_, *format, max_batch_))
      max_tiles = std::max(max_tiles, activation_tile_bytes(w.cols, max_batch_));
  }
  quantized_.resize(max_quantized_row * max_batch_ / sizeof(CacheLine));
  tiles_.resize((max_tiles + sizeof(CacheLine) - 1) / sizeof(CacheLine));

  // Vector weights (norm scales) are read as F32; the rare file that stores one in another type
  // gets a dequantized copy here rather than a second code path in the kernels.
  vector_weights_.resize(plan.weights.size());
  for (size_t i = 0; i < plan.weights.size(); ++i) {
    const WeightMatrix& w = weights_[i];
    if (w.rows != 1 || w.type == TensorType::F32) continue;
    vector_weights_[i].resize(w.cols);
    w.dequantize_row(w.data, vector_weights_[i].data(), static_cast<int64_t>(w.cols));
  }

  size_t arena_size = 0;
  for (const plan::BufferDecl& b : plan.buffers) {
    buffer_offsets_.push_back(arena_size);
    buffer_strides_.push_back(round_up(b.n_floats, kRowAlignFloats));
    arena_size += buffer_strides_.back() * max_batch_;
  }
  arena_.assign(arena_size, 0.0f);

  for (const plan::KvCacheDecl& c : plan.kv_caches) {
    const size_t head_keys = key_block_floats(context_length_, c.head_dim);
    const size_t head_values = size_t{context_length_} * c.head_dim;
    kv_caches_.push_back(KvCache{.keys = std::vector<float>(head_keys * c.n_kv_heads),
                                 .values = std::vector<float>(head_values * c.n_kv_heads),
                                 .head_keys = head_keys,
                                 .head_values = head_values,
                                 .n_kv_heads = c.n_kv_heads,
                                 .head_dim = c.head_dim});
  }
  for (const plan::StateDecl& s : plan.states) states_.emplace_back(s.n_floats, 0.0f);
  size_t delta_net_scratch = 0;  // GatedDeltaNet needs head_v_dim floats
  for (const plan::Op& op : plan.ops)
    if (const auto* delta_net = std::get_if<plan::GatedDeltaNet>(&op.kind))
      delta_net_scratch = std::max<size_t>(delta_net_scratch, delta_net->head_v_dim);
  const size_t attention_scratch = kQueryGroup * key_block_floats(context_length_, 1);
  scratch_.assign(
      pool_.size(),
      std::vector<float>(std::max<size_t>({max_cols, attention_scratch, delta_net_scratch})));
}

void CpuBackend::reset() {
  for (std::vector<float>& state : states_) std::fill(state.begin(), state.end(), 0.0f);
}

template <typename Rows>
void CpuBackend::run_rows(uint64_t n_rows, uint64_t work, const Rows& rows) {
  if (work < kMinParallelWork || pool_.size() == 1) {
    rows(uint64_t{0}, n_rows);
    return;
  }
  pool_.run_chunks(n_rows, kRowGranule,
                   [&](uint32_t, uint64_t begin, uint64_t end) { rows(begin, end); });
}

template <typename Fn>
void CpuBackend::run_elementwise(uint64_t n_tokens, uint64_t n, uint64_t cost, const Fn& fn) {
  if (n_tokens > 1) {
    run_split(n_tokens, n_tokens * n * cost, [&](uint32_t, ThreadPool::Range batch) {
      for (uint64_t b = batch.begin; b < batch.end; ++b) fn(b, uint64_t{0}, n);
    });
    return;
  }
  run_split(n, n * cost, [&](uint32_t, ThreadPool::Range elements) {
    fn(uint64_t{0}, elements.begin, elements.end);
  });
}

template <typename Task>
void CpuBackend::run_split(uint64_t n_items, uint64_t work, const Task& task) {
  if (work < kMinParallelWork || pool_.size() == 1) {
    task(0, ThreadPool::Range{0, n_items});
    return;
  }
  pool_.run(
      [&](uint32_t thread) { task(thread, ThreadPool::split(n_items, thread, pool_.size())); });
}

const float* CpuBackend::vector_weight(plan::WeightId id) const {
  if (!vector_weights_[id.index].empty()) return vector_weights_[id.index].data();
  return reinterpret_cast<const float*>(weights_[id.index].data);
}

std::span<const float> CpuBackend::forward(int32_t token, uint32_t pos) {
  run_plan({&token, 1}, pos, nullptr, 0);
  return {buffer(plan_.logits), plan_.n_vocab};
}

std::span<const float> CpuBackend::forward_observed(int32_t token, uint32_t pos,
                                                    const PlanObserver& observer) {
  run_plan({&token, 1}, pos, &observer, 0);
  return {buffer(plan_.logits), plan_.n_vocab};
}

void CpuBackend::forward_batch(std::span<const int32_t> tokens, uint32_t pos,
                               std::span<float> logits_out) {
  assert(logits_out.size() == tokens.size() * plan_.n_vocab);
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min<size_t>(max_batch_, tokens.size() - done);
    run_plan(tokens.subspan(done, n), pos + static_cast<uint32_t>(done), nullptr, 0);
    for (size_t b = 0; b < n; ++b)
      std::memcpy(logits_out.data() + (done + b) * plan_.n_vocab,
                  buffer(plan_.logits) + b * stride(plan_.logits), plan_.n_vocab * sizeof(float));
    done += n;
  }
}

std::span<const float> CpuBackend::prefill(std::span<const int32_t> tokens, uint32_t pos) {
  assert(!tokens.empty());
  size_t last_row = 0;
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min<size_t>(max_batch_, tokens.size() - done);
    last_row = done + n == tokens.size() ? n - 1 : n;
    run_plan(tokens.subspan(done, n), pos + static_cast<uint32_t>(done), nullptr, last_row);
    done += n;
  }
  return {buffer(plan_.logits) + last_row * stride(plan_.logits), plan_.n_vocab};
}

size_t CpuBackend::fusable_matvecs(size_t first_op) const {
  const auto* first = std::get_if<plan::MatVec>(&plan_.ops[first_op].kind);
  const FastMatvec& fast = fast_matvecs_[first->weight.index];
  if (fast.kernel == nullptr || first->out == plan_.logits) return 1;
  size_t n = 1;
  for (; n < kMaxFusedMatvecs && first_op + n < plan_.ops.size(); ++n) {
    const auto* next = std::get_if<plan::MatVec>(&plan_.ops[first_op + n].kind);
    if (next == nullptr || next->in != first->in || next->out == plan_.logits) break;
    const FastMatvec& next_fast = fast_matvecs_[next->weight.index];
    if (next_fast.kernel == nullptr || next_fast.layout.format != fast.layout.format ||
        next_fast.layout.cols != fast.layout.cols)
      break;
    // Each output must be none of the inputs and outputs before it.
    bool clashes = next->out == first->in;
    for (size_t k = 0; k < n; ++k)
      clashes |= std::get<plan::MatVec>(plan_.ops[first_op + k].kind).out == next->out;
    if (clashes) break;
  }
  return n;
}

void CpuBackend::run_plan(std::span<const int32_t> tokens, uint32_t pos,
                          const PlanObserver* observer, size_t first_logits_row) {
  assert(!tokens.empty() && tokens.size() <= max_batch_);
  assert(pos + tokens.size() <= context_length_);
  const auto n_tokens = static_cast<uint32_t>(tokens.size());
  quantized_input_.valid = false;
  for (size_t i = 0; i < plan_.ops.size();) {
    const plan::Op& op = plan_.ops[i];
    size_t n_ops = 1;
    const auto* matvec = std::get_if<plan::MatVec>(&op.kind);
    if (matvec == nullptr) {
      // Only MatVecs leave a quantized input valid (they never write the buffer they read).
      quantized_input_.valid = false;
      std::visit(
          [&](const auto& o) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(o)>, plan::MatVec>)
              run(o, tokens, pos);
          },
          op.kind);
    } else if (matvec->out == plan_.logits && first_logits_row > 0) {
      // The vocabulary projection, for the rows whose logits are wanted (prefill: the last).
      if (first_logits_row < tokens.size())
        run_matvecs({&matvec, 1}, static_cast<uint32_t>(first_logits_row),
                    n_tokens - static_cast<uint32_t>(first_logits_row));
    } else {
      n_ops = fusable_matvecs(i);
      std::array<const plan::MatVec*, kMaxFusedMatvecs> group{};
      for (size_t k = 0; k < n_ops; ++k) group[k] = &std::get<plan::MatVec>(plan_.ops[i + k].kind);
      run_matvecs({group.data(), n_ops}, 0, n_tokens);
    }
    if (observer != nullptr)
      for (size_t k = i; k < i + n_ops; ++k)
        if (const std::optional<plan::BufferId> out = plan::output_of(plan_.ops[k]))
          (*observer)(plan_.ops[k], {buffer(*out), plan_.buffer(*out).n_floats});
    i += n_ops;
  }
}

void CpuBackend::run(const plan::Embed& op, std::span<const int32_t> tokens, uint32_t) {
  for (size_t b = 0; b < tokens.size(); ++b)
    embed(weights_[op.table.index], tokens[b], buffer(op.out) + b * stride(op.out));
}

void CpuBackend::run(const plan::RmsNorm& op, std::span<const int32_t> tokens, uint32_t) {
  const uint64_t n = uint64_t{op.n_groups} * op.group_size;
  run_split(tokens.size(), tokens.size() * n * 2, [&](uint32_t, ThreadPool::Range batch) {
    for (uint64_t b = batch.begin; b < batch.end; ++b)
      rms_norm(buffer(op.in) + b * stride(op.in), vector_weight(op.weight),
               buffer(op.out) + b * stride(op.out), op.n_groups, op.group_size, op.eps);
  });
}

CpuBackend::MatvecInput CpuBackend::matvec_input(plan::BufferId in, const ActivationLayout& layout,
                                                 uint32_t first_row, uint32_t n_batch) {
  const float* x = buffer(in) + first_row * stride(in);
  if (layout.format == ActivationFormat::F32) return {reinterpret_cast<const uint8_t*>(x), nullptr};
  uint8_t* quantized = quantized_.front().bytes;
  uint8_t* tiles =
      uses_activation_tiles(isa_, layout.format, n_batch) ? tiles_.front().bytes : nullptr;
  if (quantized_input_.valid && quantized_input_.buffer == in &&
      quantized_input_.format == layout.format && quantized_input_.first_row == first_row)
    return {quantized, tiles};
  run_split(n_batch, uint64_t{n_batch} * layout.cols, [&](uint32_t, ThreadPool::Range rows) {
    for (uint64_t t = rows.begin; t < rows.end; ++t)
      quantize_activation_row(x + t * stride(in), layout, quantized + t * layout.row_bytes);
    if (tiles != nullptr)
      tile_activations(quantized, layout.row_bytes, layout, n_batch,
                       static_cast<uint32_t>(rows.begin), static_cast<uint32_t>(rows.end), tiles);
  });
  quantized_input_ = {.buffer = in, .format = layout.format, .first_row = first_row, .valid = true};
  return {quantized, tiles};
}

void CpuBackend::run_matvecs(std::span<const plan::MatVec* const> ops, uint32_t first_row,
                             uint32_t n_batch) {
  const plan::MatVec& first = *ops.front();
  const FastMatvec& fast = fast_matvecs_[first.weight.index];
  if (fast.kernel == nullptr) {
    assert(ops.size() == 1);
    const WeightMatrix& w = weights_[first.weight.index];
    const float* in = buffer(first.in) + first_row * stride(first.in);
    float* out = buffer(first.out) + first_row * stride(first.out);
    run_split(w.rows, w.rows * w.cols * n_batch, [&](uint32_t thread, ThreadPool::Range rows) {
      matvec_rows(w, in, stride(first.in), out, stride(first.out), n_batch, rows.begin, rows.end,
                  scratch_[thread].data());
    });
    return;
  }
  // The products share the quantized input; their rows are split among the threads as one range.
  const bool quantized = fast.layout.format != ActivationFormat::F32;
  const MatvecInput input = matvec_input(first.in, fast.layout, first_row, n_batch);
  struct Part {
    MatmulRowsFn kernel;
    MatmulArgs args;
    uint64_t first;  // of the joint row range
    uint64_t rows;
  };
  std::array<Part, kMaxFusedMatvecs> parts;
  uint64_t n_rows = 0;
  for (size_t k = 0; k < ops.size(); ++k) {
    const WeightMatrix& w = weights_[ops[k]->weight.index];
    parts[k] = Part{.kernel = fast_matvecs_[ops[k]->weight.index].kernel,
                    .args = {.weights = w.data,
                             .weight_row_bytes = w.row_bytes,
                             .cols = w.cols,
                             .activations = input.rows,
                             .activation_stride = quantized ? fast.layout.row_bytes
                                                            : stride(first.in) * sizeof(float),
                             .layout = fast.layout,
                             .n_tokens = n_batch,
                             .out = buffer(ops[k]->out) + first_row * stride(ops[k]->out),
                             .out_stride = stride(ops[k]->out),
                             .activation_tiles = input.tiles},
                    .first = n_rows,
                    .rows = w.rows};
    n_rows += w.rows;
  }
  run_rows(n_rows, n_rows * fast.layout.cols * n_batch, [&](uint64_t begin, uint64_t end) {
    for (size_t k = 0; k < ops.size(); ++k) {
      const Part& part = parts[k];
      const uint64_t from = std::max(begin, part.first), to = std::min(end, part.first + part.rows);
      if (from < to) part.kernel(part.args, from - part.first, to - part.first);
    }
  });
  for (const plan::MatVec* op : ops)
    if (quantized_input_.buffer == op->out) quantized_input_.valid = false;
}

void CpuBackend::run(const plan::Add& op, std::span<const int32_t> tokens, uint32_t) {
  run_elementwise(tokens.size(), plan_.buffer(op.out).n_floats, 1,
                  [&](uint64_t b, uint64_t begin, uint64_t end) {
                    add(buffer(op.a) + b * stride(op.a) + begin,
                        buffer(op.b) + b * stride(op.b) + begin,
                        buffer(op.out) + b * stride(op.out) + begin, end - begin);
                  });
}

void CpuBackend::run(const plan::Rope& op, std::span<const int32_t> tokens, uint32_t pos) {
  const uint64_t work = tokens.size() * uint64_t{op.n_heads} * op.head_dim * 4;
  run_split(tokens.size(), work, [&](uint32_t, ThreadPool::Range batch) {
    for (uint64_t b = batch.begin; b < batch.end; ++b)
      rope(buffer(op.buf) + b * stride(op.buf), op.n_heads, op.head_dim, op.n_rot, op.theta,
           op.style, pos + static_cast<uint32_t>(b));
  });
}

void CpuBackend::run(const plan::KvStore& op, std::span<const int32_t> tokens, uint32_t pos) {
  KvCache& cache = kv_caches_[op.cache.index];
  const size_t row = size_t{cache.n_kv_heads} * cache.head_dim;
  run_split(tokens.size(), tokens.size() * row * 2, [&](uint32_t, ThreadPool::Range batch) {
    for (uint64_t b = batch.begin; b < batch.end; ++b) {
      const auto at = static_cast<uint32_t>(pos + b);
      const float* k = buffer(op.k) + b * stride(op.k);
      const float* v = buffer(op.v) + b * stride(op.v);
      for (uint32_t h = 0; h < cache.n_kv_heads; ++h) {
        const size_t head = size_t{h} * cache.head_dim;
        store_key(k + head, cache.head_dim, at, cache.keys.data() + h * cache.head_keys);
        std::memcpy(cache.values.data() + h * cache.head_values + size_t{at} * cache.head_dim,
                    v + head, cache.head_dim * sizeof(float));
      }
    }
  });
}

// A task is one head's queries of a group of kQueryGroup tokens: the head's keys and values are
// read once per group. Tasks go to the threads head by head, so a thread's groups share them.
void CpuBackend::run(const plan::Attention& op, std::span<const int32_t> tokens, uint32_t pos) {
  const KvCache& cache = kv_caches_[op.cache.index];
  const uint32_t group = op.n_heads / op.n_kv_heads;
  const auto n_tokens = static_cast<uint32_t>(tokens.size());
  const uint32_t n_groups = (n_tokens + kQueryGroup - 1) / kQueryGroup;
  const uint64_t n_tasks = uint64_t{op.n_heads} * n_groups;
  const uint64_t work = uint64_t{op.n_heads} * n_tokens * (pos + n_tokens) * op.head_dim * 2;
  run_split(n_tasks, work, [&](uint32_t thread, ThreadPool::Range tasks) {
    for (uint64_t task = tasks.begin; task < tasks.end; ++task) {
      const auto head = static_cast<uint32_t>(task / n_groups);
      const auto first = static_cast<uint32_t>(task % n_groups) * kQueryGroup;
      const uint32_t kv_head = head / group;
      const KvHead kv{.keys = cache.keys.data() + kv_head * cache.head_keys,
                      .values = cache.values.data() + kv_head * cache.head_values,
                      .value_stride = op.head_dim};
      const size_t head_offset = size_t{head} * op.head_dim;
      causal_attention(buffer(op.q) + first * stride(op.q) + head_offset, stride(op.q),
                       std::min(kQueryGroup, n_tokens - first), pos + first, kv, op.head_dim,
                       op.scale, scratch_[thread].data(),
                       buffer(op.out) + first * stride(op.out) + head_offset, stride(op.out));
    }
  });
}

void CpuBackend::run(const plan::SwiGLU& op, std::span<const int32_t> tokens, uint32_t) {
  // An exp per element: worth sharing even for one token of a large FFN.
  constexpr uint64_t kCost = 16;
  run_elementwise(tokens.size(), plan_.buffer(op.out).n_floats, kCost,
                  [&](uint64_t b, uint64_t begin, uint64_t end) {
                    silu_mul(buffer(op.gate) + b * stride(op.gate) + begin,
                             buffer(op.up) + b * stride(op.up) + begin,
                             buffer(op.out) + b * stride(op.out) + begin, end - begin);
                  });
}

void CpuBackend::run(const plan::SliceHeads& op, std::span<const int32_t> tokens, uint32_t) {
  for (size_t b = 0; b < tokens.size(); ++b)
    slice_heads(buffer(op.in) + b * stride(op.in), buffer(op.out) + b * stride(op.out), op.n_heads,
                op.in_head_stride, op.in_offset, op.size);
}

void CpuBackend::run(const plan::SigmoidGate& op, std::span<const int32_t> tokens, uint32_t) {
  const size_t n = plan_.buffer(op.out).n_floats;
  for (size_t b = 0; b < tokens.size(); ++b)
    sigmoid_gate(buffer(op.in) + b * stride(op.in), buffer(op.gate) + b * stride(op.gate),
                 buffer(op.out) + b * stride(op.out), n);
}

// Tokens are taken in order within each channel (each depends on the previous ones through the
// state); channels are independent and split over the threads.
void CpuBackend::run(const plan::CausalConv1dSilu& op, std::span<const int32_t> tokens, uint32_t) {
  const auto n_tokens = static_cast<uint32_t>(tokens.size());
  const float* weight = vector_weight(op.weight);
  float* state = states_[op.state.index].data();
  run_split(op.n_channels, uint64_t{op.n_channels} * op.kernel * n_tokens,
            [&](uint32_t, ThreadPool::Range channels) {
              causal_conv1d_silu(buffer(op.in), stride(op.in), weight, state, buffer(op.out),
                                 stride(op.out), n_tokens, op.n_channels, op.kernel,
                                 static_cast<uint32_t>(channels.begin),
                                 static_cast<uint32_t>(channels.end));
            });
}

// Each V head is independent: the heads are split over the threads, and each thread takes its
// heads' tokens in order.
void CpuBackend::run(const plan::GatedDeltaNet& op, std::span<const int32_t> tokens, uint32_t) {
  const float* a = vector_weight(op.a);
  const float* dt_bias = vector_weight(op.dt_bias);
  float* state = states_[op.state.index].data();
  const size_t k_size = size_t{op.n_k_heads} * op.head_k_dim;
  const size_t head_state = size_t{op.head_k_dim} * op.head_v_dim;
  const uint64_t work = uint64_t{op.n_v_heads} * head_state * 4 * tokens.size();
  run_split(op.n_v_heads, work, [&](uint32_t thread, ThreadPool::Range heads) {
    for (uint64_t h = heads.begin; h < heads.end; ++h) {
      const size_t kh = h % op.n_k_heads;
      for (size_t b = 0; b < tokens.size(); ++b) {
        const float* qkv = buffer(op.qkv) + b * stride(op.qkv);
        const float* q = qkv + kh * op.head_k_dim;
        const float* k = qkv + k_size + kh * op.head_k_dim;
        const float* v = qkv + 2 * k_size + h * op.head_v_dim;
        const float g =
            delta_net_decay(a[h], buffer(op.alpha_in)[b * stride(op.alpha_in) + h], dt_bias[h]);
        const float beta = sigmoid(buffer(op.beta_in)[b * stride(op.beta_in) + h]);
        gated_delta_net_head(q, k, v, g, beta, op.eps, op.head_k_dim, op.head_v_dim,
                             state + h * head_state, scratch_[thread].data(),
                             buffer(op.out) + b * stride(op.out) + h * op.head_v_dim);
      }
    }
  });
}

}  // namespace quant::cpu
