#include "plan/plan.h"

#include <fmt/format.h>

#include <type_traits>
#include <utility>

#include "common/error.h"

namespace quant::plan {

namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

// Checks for one op; `what` names it in messages.
class OpChecker {
 public:
  OpChecker(const Plan& plan, const Op& op) : plan_(plan), what_(describe(op)) {}

  uint64_t buffer(BufferId id) const {
    if (id.index >= plan_.buffers.size())
      fail("{}: buffer id {} out of range ({} buffers)", what_, id.index, plan_.buffers.size());
    return plan_.buffers[id.index].n_floats;
  }
  const WeightRef& weight(WeightId id) const {
    if (id.index >= plan_.weights.size())
      fail("{}: weight id {} out of range ({} weights)", what_, id.index, plan_.weights.size());
    return plan_.weights[id.index];
  }
  const KvCacheDecl& cache(KvCacheId id) const {
    if (id.index >= plan_.kv_caches.size())
      fail("{}: kv cache id {} out of range ({} caches)", what_, id.index, plan_.kv_caches.size());
    return plan_.kv_caches[id.index];
  }
  const StateDecl& state(StateId id) const {
    if (id.index >= plan_.states.size())
      fail("{}: state id {} out of range ({} states)", what_, id.index, plan_.states.size());
    return plan_.states[id.index];
  }
  // A weight the op reads element by element as F32 (conv taps, per-head constants).
  void expect_f32_weight(WeightId id, uint64_t n_elements, std::string_view role) const {
    const WeightRef& w = weight(id);
    if (w.type != TensorType::F32 || w.n_elements() != n_elements)
      fail("{}: {} weight '{}' must be F32 with {} elements", what_, role, w.name, n_elements);
  }
  void expect(bool ok, std::string_view detail) const {
    if (!ok) fail("{}: {}", what_, detail);
  }
  void expect_size(BufferId id, uint64_t n_floats, std::string_view role) const {
    const uint64_t actual = buffer(id);
    if (actual != n_floats)
      fail("{}: {} buffer '{}' has {} floats, expected {}", what_, role,
           plan_.buffers[id.index].name, actual, n_floats);
  }

  void check(const Embed& op) const {
    const WeightRef& table = weight(op.table);
    expect(table.dims.size() == 2, "embedding table must be 2-D");
    expect(table.dims[1] == plan_.n_vocab, "embedding table rows must equal n_vocab");
    expect_size(op.out, table.dims[0], "out");
  }
  void check(const RmsNorm& op) const {
    expect(op.group_size > 0 && op.n_groups > 0, "empty norm");
    expect(weight(op.weight).n_elements() == op.group_size,
           "norm weight size must equal group_size");
    const uint64_t n = uint64_t{op.n_groups} * op.group_size;
    expect_size(op.in, n, "in");
    expect_size(op.out, n, "out");
  }
  void check(const MatVec& op) const {
    const WeightRef& w = weight(op.weight);
    expect(w.dims.size() == 2, "matrix weight must be 2-D");
    expect(!(op.in == op.out), "in and out must differ");
    expect_size(op.in, w.dims[0], "in");
    expect_size(op.out, w.dims[1], "out");
  }
  void check(const Add& op) const {
    const uint64_t n = buffer(op.a);
    expect_size(op.b, n, "b");
    expect_size(op.out, n, "out");
  }
  void check(const Rope& op) const {
    expect(op.n_rot > 0 && op.n_rot % 2 == 0 && op.n_rot <= op.head_dim,
           "n_rot must be even, positive and at most head_dim");
    expect(op.theta > 0.0f, "theta must be positive");
    expect_size(op.buf, uint64_t{op.n_heads} * op.head_dim, "buf");
  }
  void check(const KvStore& op) const {
    const KvCacheDecl& c = cache(op.cache);
    const uint64_t n = uint64_t{c.n_kv_heads} * c.head_dim;
    expect_size(op.k, n, "k");
    expect_size(op.v, n, "v");
  }
  void check(const Attention& op) const {
    const KvCacheDecl& c = cache(op.cache);
    expect(op.n_kv_heads > 0 && op.n_heads % op.n_kv_heads == 0,
           "n_heads must be a multiple of n_kv_heads");
    expect(c.n_kv_heads == op.n_kv_heads && c.head_dim == op.head_dim,
           "kv cache geometry differs from the attention's");
    expect_size(op.q, uint64_t{op.n_heads} * op.head_dim, "q");
    expect_size(op.out, uint64_t{op.n_heads} * op.head_dim, "out");
    expect(!(op.q == op.out), "q and out must differ");
  }
  void check(const SwiGLU& op) const {
    const uint64_t n = buffer(op.gate);
    expect_size(op.up, n, "up");
    expect_size(op.out, n, "out");
  }
  void check(const SliceHeads& op) const {
    expect(op.size > 0 && uint64_t{op.in_offset} + op.size <= op.in_head_stride,
           "the slice must be non-empty and lie within each head");
    expect(!(op.in == op.out), "in and out must differ");
    expect_size(op.in, uint64_t{op.n_heads} * op.in_head_stride, "in");
    expect_size(op.out, uint64_t{op.n_heads} * op.size, "out");
  }
  void check(const SigmoidGate& op) const {
    const uint64_t n = buffer(op.in);
    expect_size(op.gate, n, "gate");
    expect_size(op.out, n, "out");
  }
  void check(const CausalConv1dSilu& op) const {
    expect(op.kernel > 0 && op.n_channels > 0, "empty convolution");
    expect(!(op.in == op.out), "in and out must differ");
    expect_f32_weight(op.weight, uint64_t{op.kernel} * op.n_channels, "convolution");
    expect(weight(op.weight).row_length() == op.kernel,
           "convolution weight rows must be kernel long");
    expect(state(op.state).n_floats == uint64_t{op.kernel - 1} * op.n_channels,
           "state must hold (kernel - 1) * n_channels floats");
    expect_size(op.in, op.n_channels, "in");
    expect_size(op.out, op.n_channels, "out");
  }
  void check(const GatedDeltaNet& op) const {
    expect(op.n_k_heads > 0 && op.n_v_heads % op.n_k_heads == 0,
           "n_v_heads must be a positive multiple of n_k_heads");
    expect(op.head_k_dim > 0 && op.head_v_dim > 0, "empty heads");
    const uint64_t k_size = uint64_t{op.n_k_heads} * op.head_k_dim;
    const uint64_t v_size = uint64_t{op.n_v_heads} * op.head_v_dim;
    expect_size(op.qkv, 2 * k_size + v_size, "qkv");
    expect_size(op.alpha_in, op.n_v_heads, "alpha_in");
    expect_size(op.beta_in, op.n_v_heads, "beta_in");
    expect_size(op.out, v_size, "out");
    expect_f32_weight(op.a, op.n_v_heads, "a");
    expect_f32_weight(op.dt_bias, op.n_v_heads, "dt_bias");
    expect(state(op.state).n_floats == uint64_t{op.n_v_heads} * op.head_k_dim * op.head_v_dim,
           "state must hold n_v_heads * head_k_dim * head_v_dim floats");
    expect(!(op.out == op.qkv) && !(op.out == op.alpha_in) && !(op.out == op.beta_in),
           "out must differ from the inputs");
  }

 private:
  const Plan& plan_;
  std::string what_;
};

}  // namespace

uint64_t WeightRef::n_rows() const {
  uint64_t rows = 1;
  for (size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
  return rows;
}

uint64_t WeightRef::n_elements() const {
  return dims.empty() ? 0 : dims[0] * n_rows();
}

std::optional<BufferId> output_of(const Op& op) {
  return std::visit(Overloaded{
                        [](const Embed& o) -> std::optional<BufferId> { return o.out; },
                        [](const RmsNorm& o) -> std::optional<BufferId> { return o.out; },
                        [](const MatVec& o) -> std::optional<BufferId> { return o.out; },
                        [](const Add& o) -> std::optional<BufferId> { return o.out; },
                        [](const Rope& o) -> std::optional<BufferId> { return o.buf; },
                        [](const KvStore&) -> std::optional<BufferId> { return std::nullopt; },
                        [](const Attention& o) -> std::optional<BufferId> { return o.out; },
                        [](const SwiGLU& o) -> std::optional<BufferId> { return o.out; },
                        [](const SliceHeads& o) -> std::optional<BufferId> { return o.out; },
                        [](const SigmoidGate& o) -> std::optional<BufferId> { return o.out; },
                        [](const CausalConv1dSilu& o) -> std::optional<BufferId> { return o.out; },
                        [](const GatedDeltaNet& o) -> std::optional<BufferId> { return o.out; },
                    },
                    op.kind);
}

std::vector<BufferId> inputs_of(const Op& op) {
  return std::visit(Overloaded{
                        [](const Embed&) { return std::vector<BufferId>{}; },
                        [](const RmsNorm& o) { return std::vector<BufferId>{o.in}; },
                        [](const MatVec& o) { return std::vector<BufferId>{o.in}; },
                        [](const Add& o) {
                          return std::vector<BufferId>{o.a, o.b};
                        },
                        [](const Rope& o) { return std::vector<BufferId>{o.buf}; },
                        [](const KvStore& o) {
                          return std::vector<BufferId>{o.k, o.v};
                        },
                        [](const Attention& o) { return std::vector<BufferId>{o.q}; },
                        [](const SwiGLU& o) {
                          return std::vector<BufferId>{o.gate, o.up};
                        },
                        [](const SliceHeads& o) { return std::vector<BufferId>{o.in}; },
                        [](const SigmoidGate& o) {
                          return std::vector<BufferId>{o.in, o.gate};
                        },
                        [](const CausalConv1dSilu& o) { return std::vector<BufferId>{o.in}; },
                        [](const GatedDeltaNet& o) {
                          return std::vector<BufferId>{o.qkv, o.alpha_in, o.beta_in};
                        },
                    },
                    op.kind);
}

const char* kind_name(const OpKind& kind) {
  return std::visit(Overloaded{
                        [](const Embed&) { return "Embed"; },
                        [](const RmsNorm&) { return "RmsNorm"; },
                        [](const MatVec&) { return "MatVec"; },
                        [](const Add&) { return "Add"; },
                        [](const Rope&) { return "Rope"; },
                        [](const KvStore&) { return "KvStore"; },
                        [](const Attention&) { return "Attention"; },
                        [](const SwiGLU&) { return "SwiGLU"; },
                        [](const SliceHeads&) { return "SliceHeads"; },
                        [](const SigmoidGate&) { return "SigmoidGate"; },
                        [](const CausalConv1dSilu&) { return "CausalConv1dSilu"; },
                        [](const GatedDeltaNet&) { return "GatedDeltaNet"; },
                    },
                    kind);
}

std::string describe(const Op& op) {
  if (op.layer < 0) return fmt::format("{} '{}'", kind_name(op.kind), op.name);
  return fmt::format("layer {} {} '{}'", op.layer, kind_name(op.kind), op.name);
}

BufferId Plan::add_buffer(std::string name, uint64_t n_floats) {
  buffers.push_back({std::move(name), n_floats});
  return BufferId{static_cast<uint32_t>(buffers.size() - 1)};
}

WeightId Plan::add_weight(WeightRef weight) {
  weights.push_back(std::move(weight));
  return WeightId{static_cast<uint32_t>(weights.size() - 1)};
}

KvCacheId Plan::add_kv_cache(KvCacheDecl cache) {
  kv_caches.push_back(cache);
  return KvCacheId{static_cast<uint32_t>(kv_caches.size() - 1)};
}

StateId Plan::add_state(StateDecl state) {
  states.push_back(std::move(state));
  return StateId{static_cast<uint32_t>(states.size() - 1)};
}

void Plan::add_op(OpKind kind, std::string name, int32_t layer) {
  ops.push_back({std::move(kind), std::move(name), layer});
}

void check_plan(const Plan& plan) {
  if (plan.ops.empty()) fail("plan has no ops");
  if (plan.n_vocab == 0) fail("plan has n_vocab 0");
  for (const Op& op : plan.ops) {
    const OpChecker checker(plan, op);
    std::visit([&](const auto& o) { checker.check(o); }, op.kind);
  }
  if (plan.logits.index >= plan.buffers.size() || plan.buffer(plan.logits).n_floats != plan.n_vocab)
    fail("plan's logits buffer must hold n_vocab ({}) floats", plan.n_vocab);
  if (output_of(plan.ops.back()) != std::optional<BufferId>(plan.logits))
    fail("the plan's last op must write the logits buffer");
}

}  // namespace quant::plan
