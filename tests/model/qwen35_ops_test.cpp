// The ops qwen35 added to the plan (SliceHeads, SigmoidGate, CausalConv1dSilu, GatedDeltaNet), run
// by the CPU backend on small hand-built plans with odd sizes, against plain float64
// implementations written here from the equations in plan.h: one token at a time (with the
// intermediate values seen by an observer), in batches whose boundaries cut the convolution window,
// and after reset().

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "plan/plan.h"

namespace quant {
namespace {

using plan::BufferId;
using plan::WeightId;

// F32 weights owned by the test, viewed by the plan.
class WeightStore {
 public:
  WeightId add(plan::Plan& plan, const std::string& name, std::vector<float> values,
               std::vector<uint64_t> dims) {
    storage_.push_back(std::move(values));
    const std::vector<float>& v = storage_.back();
    return plan.add_weight(plan::WeightRef{
        .name = name,
        .type = TensorType::F32,
        .dims = std::move(dims),
        .data = {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)},
    });
  }

 private:
  std::vector<std::vector<float>> storage_;  // a vector of vectors: elements never move
};

std::vector<float> random_values(std::mt19937& rng, size_t n, float mean, float stddev) {
  std::normal_distribution<float> normal(mean, stddev);
  std::vector<float> values(n);
  for (float& v : values) v = normal(rng);
  return values;
}

std::vector<float> uniform_values(std::mt19937& rng, size_t n, float low, float high) {
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(n);
  for (float& v : values) v = uniform(rng);
  return values;
}

// Row `row` (of `cols` values) of a row-major table, in double.
std::vector<double> table_row(const std::vector<float>& table, size_t cols, size_t row) {
  return {table.begin() + static_cast<ptrdiff_t>(row * cols),
          table.begin() + static_cast<ptrdiff_t>((row + 1) * cols)};
}

double silu(double x) {
  return x / (1.0 + std::exp(-x));
}
double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// max |a - b| / max |b|.
double relative_error(std::span<const float> a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double max_b = 0.0;
  double max_diff = 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    max_b = std::max(max_b, std::abs(b[i]));
    max_diff = std::max(max_diff, std::abs(a[i] - b[i]));
  }
  return max_diff / max_b;
}

constexpr double kTolerance = 2e-5;  // F32 arithmetic against float64

// ---- Gated DeltaNet: Embed x, alpha, beta -> CausalConv1dSilu -> GatedDeltaNet (the logits).

struct DeltaNetShape {
  uint32_t n_k_heads = 3;
  uint32_t n_v_heads = 6;  // V head h uses K head h mod 3
  uint32_t head_k_dim = 5;
  uint32_t head_v_dim = 7;
  uint32_t kernel = 3;
  float eps = 1e-6f;

  uint32_t k_size() const { return n_k_heads * head_k_dim; }
  uint32_t channels() const { return 2 * k_size() + n_v_heads * head_v_dim; }
  uint32_t n_vocab() const { return n_v_heads * head_v_dim; }
};

struct DeltaNetModel {
  DeltaNetShape shape;
  std::vector<float> x_table;      // [n_vocab][channels]: the convolution's input per token
  std::vector<float> alpha_table;  // [n_vocab][n_v_heads]
  std::vector<float> beta_table;   // [n_vocab][n_v_heads]
  std::vector<float> conv;         // [channels][kernel]
  std::vector<float> a;            // [n_v_heads], negative
  std::vector<float> dt_bias;      // [n_v_heads]
};

DeltaNetModel random_delta_net(const DeltaNetShape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  DeltaNetModel m;
  m.shape = s;
  m.x_table = random_values(rng, size_t{s.n_vocab()} * s.channels(), 0.0f, 1.0f);
  // Wide enough that some alpha + dt_bias exceed 20, where softplus(x) is taken as x.
  m.alpha_table = random_values(rng, size_t{s.n_vocab()} * s.n_v_heads, 0.0f, 8.0f);
  m.beta_table = random_values(rng, size_t{s.n_vocab()} * s.n_v_heads, 0.0f, 2.0f);
  m.conv = random_values(rng, size_t{s.channels()} * s.kernel, 0.0f, 0.5f);
  m.a = uniform_values(rng, s.n_v_heads, -1.0f, 1.0f);
  for (float& v : m.a) v = -std::exp(v);
  m.dt_bias = uniform_values(rng, s.n_v_heads, -1.0f, 0.0f);
  return m;
}

plan::Plan delta_net_plan(const DeltaNetModel& m, WeightStore& store) {
  const DeltaNetShape& s = m.shape;
  plan::Plan p;
  p.n_vocab = s.n_vocab();
  const BufferId x = p.add_buffer("x", s.channels());
  const BufferId alpha = p.add_buffer("alpha", s.n_v_heads);
  const BufferId beta = p.add_buffer("beta", s.n_v_heads);
  const BufferId conv_out = p.add_buffer("conv_out", s.channels());
  p.logits = p.add_buffer("logits", s.n_vocab());
  const auto table = [&](const char* name, const std::vector<float>& values, uint64_t cols) {
    return store.add(p, name, values, {cols, s.n_vocab()});
  };
  p.add_op(plan::Embed{.table = table("x_table", m.x_table, s.channels()), .out = x}, "x", -1);
  p.add_op(plan::Embed{.table = table("alpha_table", m.alpha_table, s.n_v_heads), .out = alpha},
           "alpha", -1);
  p.add_op(plan::Embed{.table = table("beta_table", m.beta_table, s.n_v_heads), .out = beta},
           "beta", -1);
  const plan::StateId conv_state = p.add_state(
      {.name = "conv_state", .layer = 0, .n_floats = uint64_t{s.kernel - 1} * s.channels()});
  p.add_op(plan::CausalConv1dSilu{.in = x,
                                  .weight = store.add(p, "conv", m.conv, {s.kernel, s.channels()}),
                                  .state = conv_state,
                                  .out = conv_out,
                                  .n_channels = s.channels(),
                                  .kernel = s.kernel},
           "conv", 0);
  const plan::StateId delta_state =
      p.add_state({.name = "delta_state",
                   .layer = 0,
                   .n_floats = uint64_t{s.n_v_heads} * s.head_k_dim * s.head_v_dim});
  p.add_op(plan::GatedDeltaNet{.qkv = conv_out,
                               .alpha_in = alpha,
                               .beta_in = beta,
                               .a = store.add(p, "a", m.a, {s.n_v_heads}),
                               .dt_bias = store.add(p, "dt_bias", m.dt_bias, {s.n_v_heads}),
                               .state = delta_state,
                               .out = p.logits,
                               .n_k_heads = s.n_k_heads,
                               .n_v_heads = s.n_v_heads,
                               .head_k_dim = s.head_k_dim,
                               .head_v_dim = s.head_v_dim,
                               .eps = s.eps},
           "delta_net", 0);
  plan::check_plan(p);
  return p;
}

// The same two ops in float64, straight from the equations.
class DeltaNetReference {
 public:
  explicit DeltaNetReference(const DeltaNetModel& m)
      : m_(m),
        history_(m.shape.kernel - 1, std::vector<double>(m.shape.channels(), 0.0)),
        state_(m.shape.n_v_heads,
               std::vector<double>(size_t{m.shape.head_k_dim} * m.shape.head_v_dim, 0.0)) {}

  // Feeds `token`; returns {convolution output, delta-rule output}.
  std::pair<std::vector<double>, std::vector<double>> step(int32_t token) {
    const DeltaNetShape& s = m_.shape;
    const std::vector<double> u = table_row(m_.x_table, s.channels(), token);
    std::vector<double> c(s.channels());
    for (uint32_t ch = 0; ch < s.channels(); ++ch) {
      double sum = 0.0;
      for (uint32_t i = 0; i < s.kernel; ++i) {
        // Tap i weights the input kernel - 1 - i tokens back.
        const double input = i + 1 == s.kernel ? u[ch] : history_[i][ch];
        sum += double{m_.conv[size_t{ch} * s.kernel + i]} * input;
      }
      c[ch] = silu(sum);
    }
    if (!history_.empty()) {
      history_.erase(history_.begin());
      history_.push_back(u);
    }

    const std::vector<double> alpha = table_row(m_.alpha_table, s.n_v_heads, token);
    const std::vector<double> beta_in = table_row(m_.beta_table, s.n_v_heads, token);
    std::vector<double> out(s.n_vocab());
    for (uint32_t h = 0; h < s.n_v_heads; ++h) {
      const uint32_t kh = h % s.n_k_heads;
      std::vector<double> q(c.begin() + kh * s.head_k_dim, c.begin() + (kh + 1) * s.head_k_dim);
      std::vector<double> k(c.begin() + s.k_size() + kh * s.head_k_dim,
                            c.begin() + s.k_size() + (kh + 1) * s.head_k_dim);
      const double* v = c.data() + 2 * s.k_size() + h * s.head_v_dim;
      normalize(q, 1.0 / std::sqrt(static_cast<double>(s.head_k_dim)));
      normalize(k, 1.0);
      const double x = alpha[h] + m_.dt_bias[h];
      const double g = m_.a[h] * (x > 20.0 ? x : std::log(1.0 + std::exp(x)));
      const double beta = sigmoid(beta_in[h]);
      std::vector<double>& S = state_[h];  // S[i * head_v_dim + j]
      for (double& e : S) e *= std::exp(g);
      for (uint32_t j = 0; j < s.head_v_dim; ++j) {
        double s_k = 0.0;
        for (uint32_t i = 0; i < s.head_k_dim; ++i) s_k += S[i * s.head_v_dim + j] * k[i];
        const double d = beta * (v[j] - s_k);
        for (uint32_t i = 0; i < s.head_k_dim; ++i) S[i * s.head_v_dim + j] += k[i] * d;
      }
      for (uint32_t j = 0; j < s.head_v_dim; ++j) {
        double o = 0.0;
        for (uint32_t i = 0; i < s.head_k_dim; ++i) o += S[i * s.head_v_dim + j] * q[i];
        out[h * s.head_v_dim + j] = o;
      }
    }
    return {c, out};
  }

 private:
  // x <- x / max(|x|, eps) * scale.
  void normalize(std::vector<double>& x, double scale) const {
    double sum = 0.0;
    for (const double e : x) sum += e * e;
    const double inverse = scale / std::max(std::sqrt(sum), double{m_.shape.eps});
    for (double& e : x) e *= inverse;
  }

  const DeltaNetModel& m_;
  std::vector<std::vector<double>> history_;  // the last kernel - 1 inputs, oldest first
  std::vector<std::vector<double>> state_;    // per V head
};

// Token ids below the smallest test vocabulary (40), with a repeat.
const std::vector<int32_t> kTokens = {5, 17, 3, 3, 38, 0, 22, 9, 31, 12, 7, 28, 16};

cpu::CpuBackendOptions options(uint32_t max_batch) {
  return cpu::CpuBackendOptions{.threads = 2, .context_length = 32, .max_batch = max_batch};
}

TEST(Qwen35OpsTest, ConvolutionAndDeltaRuleMatchFloat64TokenByToken) {
  for (const uint32_t kernel : {1u, 3u, 4u}) {
    DeltaNetShape shape;
    shape.kernel = kernel;
    const DeltaNetModel m = random_delta_net(shape, 11 + kernel);
    WeightStore store;
    const plan::Plan p = delta_net_plan(m, store);
    cpu::CpuBackend backend(p, options(4));
    DeltaNetReference reference(m);
    for (uint32_t pos = 0; pos < kTokens.size(); ++pos) {
      const auto [conv, delta] = reference.step(kTokens[pos]);
      double conv_error = -1.0;
      const std::span<const float> logits =
          backend.forward_observed(kTokens[pos], pos, [&](const plan::Op& op, auto value) {
            if (op.name == "conv") conv_error = relative_error(value, conv);
          });
      EXPECT_LE(conv_error, kTolerance) << "kernel " << kernel << ", position " << pos;
      EXPECT_GE(conv_error, 0.0) << "the observer saw no convolution output";
      EXPECT_LE(relative_error(logits, delta), kTolerance)
          << "kernel " << kernel << ", position " << pos;
    }
  }
}

TEST(Qwen35OpsTest, BatchesCarryTheStatesAcrossTheirBoundaries) {
  const DeltaNetModel m = random_delta_net(DeltaNetShape{}, 5);
  WeightStore store;
  const plan::Plan p = delta_net_plan(m, store);
  DeltaNetReference reference(m);
  std::vector<std::vector<double>> expected;
  for (const int32_t token : kTokens) expected.push_back(reference.step(token).second);

  // Batches of 1, 2 and 4 (the kernel is 3): windows that start in the state, in the batch, or
  // straddle both; a forward_batch call longer than max_batch is split by the backend.
  for (const uint32_t max_batch : {1u, 2u, 4u}) {
    cpu::CpuBackend backend(p, options(max_batch));
    for (int pass = 0; pass < 2; ++pass) {  // the second pass checks that reset() clears
      backend.reset();
      std::vector<float> logits(kTokens.size() * p.n_vocab);
      backend.forward_batch(std::span(kTokens).first(6), 0, std::span(logits).first(6 * p.n_vocab));
      backend.forward_batch(std::span(kTokens).subspan(6), 6,
                            std::span(logits).subspan(6 * p.n_vocab));
      for (size_t t = 0; t < kTokens.size(); ++t)
        EXPECT_LE(relative_error(std::span(logits).subspan(t * p.n_vocab, p.n_vocab), expected[t]),
                  kTolerance)
            << "max_batch " << max_batch << ", pass " << pass << ", token " << t;
    }
  }
}

// ---- Gated attention: Embed [q_h | gate_h] -> SliceHeads -> per-head RmsNorm -> NeoX RoPE on the
// first n_rot values -> KvStore / Attention (GQA) -> SigmoidGate (the logits).

struct AttentionShape {
  uint32_t n_heads = 4;
  uint32_t n_kv_heads = 2;  // query head j uses KV head j / 2
  uint32_t head_dim = 10;
  uint32_t n_rot = 6;
  float theta = 1000.0f;
  float eps = 1e-6f;

  uint32_t q_size() const { return n_heads * head_dim; }
  uint32_t kv_size() const { return n_kv_heads * head_dim; }
  uint32_t n_vocab() const { return q_size(); }
};

struct AttentionModel {
  AttentionShape shape;
  std::vector<float> q_gate_table;  // [n_vocab][n_heads][query (head_dim) | gate (head_dim)]
  std::vector<float> k_table;       // [n_vocab][kv_size]
  std::vector<float> v_table;       // [n_vocab][kv_size]
  std::vector<float> q_norm;        // [head_dim]
  std::vector<float> k_norm;        // [head_dim]
};

AttentionModel random_attention(uint32_t seed) {
  std::mt19937 rng(seed);
  AttentionModel m;
  const AttentionShape& s = m.shape;
  m.q_gate_table = random_values(rng, size_t{s.n_vocab()} * 2 * s.q_size(), 0.0f, 1.0f);
  m.k_table = random_values(rng, size_t{s.n_vocab()} * s.kv_size(), 0.0f, 1.0f);
  m.v_table = random_values(rng, size_t{s.n_vocab()} * s.kv_size(), 0.0f, 1.0f);
  m.q_norm = uniform_values(rng, s.head_dim, 0.5f, 1.5f);
  m.k_norm = uniform_values(rng, s.head_dim, 0.5f, 1.5f);
  return m;
}

plan::Plan attention_plan(const AttentionModel& m, WeightStore& store) {
  const AttentionShape& s = m.shape;
  plan::Plan p;
  p.n_vocab = s.n_vocab();
  const BufferId q_gate = p.add_buffer("q_gate", 2 * s.q_size());
  const BufferId q = p.add_buffer("q", s.q_size());
  const BufferId gate = p.add_buffer("gate", s.q_size());
  const BufferId k = p.add_buffer("k", s.kv_size());
  const BufferId v = p.add_buffer("v", s.kv_size());
  const BufferId attn = p.add_buffer("attn", s.q_size());
  p.logits = p.add_buffer("logits", s.n_vocab());
  const auto table = [&](const char* name, const std::vector<float>& values, uint64_t cols) {
    return store.add(p, name, values, {cols, s.n_vocab()});
  };
  p.add_op(plan::Embed{.table = table("q_gate", m.q_gate_table, 2 * s.q_size()), .out = q_gate},
           "q_gate", 0);
  for (const auto& [out, offset, name] :
       {std::tuple{q, 0u, "q"}, std::tuple{gate, s.head_dim, "gate"}})
    p.add_op(plan::SliceHeads{.in = q_gate,
                              .out = out,
                              .n_heads = s.n_heads,
                              .in_head_stride = 2 * s.head_dim,
                              .in_offset = offset,
                              .size = s.head_dim},
             name, 0);
  p.add_op(plan::Embed{.table = table("k", m.k_table, s.kv_size()), .out = k}, "k", 0);
  p.add_op(plan::Embed{.table = table("v", m.v_table, s.kv_size()), .out = v}, "v", 0);
  const auto head_norm = [&](BufferId buf, const std::vector<float>& w, uint32_t n_heads,
                             const char* name) {
    p.add_op(plan::RmsNorm{.in = buf,
                           .weight = store.add(p, name, w, {s.head_dim}),
                           .out = buf,
                           .n_groups = n_heads,
                           .group_size = s.head_dim,
                           .eps = s.eps},
             name, 0);
  };
  head_norm(q, m.q_norm, s.n_heads, "q_norm");
  head_norm(k, m.k_norm, s.n_kv_heads, "k_norm");
  for (const auto& [buf, n_heads] : {std::pair{q, s.n_heads}, std::pair{k, s.n_kv_heads}})
    p.add_op(plan::Rope{.buf = buf,
                        .n_heads = n_heads,
                        .head_dim = s.head_dim,
                        .n_rot = s.n_rot,
                        .theta = s.theta,
                        .style = plan::RopeStyle::Neox},
             "rope", 0);
  const plan::KvCacheId cache =
      p.add_kv_cache({.layer = 0, .n_kv_heads = s.n_kv_heads, .head_dim = s.head_dim});
  p.add_op(plan::KvStore{.k = k, .v = v, .cache = cache}, "kv_store", 0);
  p.add_op(plan::Attention{.q = q,
                           .cache = cache,
                           .out = attn,
                           .n_heads = s.n_heads,
                           .n_kv_heads = s.n_kv_heads,
                           .head_dim = s.head_dim,
                           .scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim))},
           "attn", 0);
  p.add_op(plan::SigmoidGate{.in = attn, .gate = gate, .out = p.logits}, "attn_gated", 0);
  plan::check_plan(p);
  return p;
}

class AttentionReference {
 public:
  explicit AttentionReference(const AttentionModel& m) : m_(m) {}

  std::vector<double> step(int32_t token, uint32_t pos) {
    const AttentionShape& s = m_.shape;
    const std::vector<double> q_gate = table_row(m_.q_gate_table, 2 * s.q_size(), token);
    std::vector<double> q(s.q_size());
    std::vector<double> gate(s.q_size());
    for (uint32_t h = 0; h < s.n_heads; ++h)
      for (uint32_t i = 0; i < s.head_dim; ++i) {
        q[h * s.head_dim + i] = q_gate[2 * h * s.head_dim + i];
        gate[h * s.head_dim + i] = q_gate[(2 * h + 1) * s.head_dim + i];
      }
    std::vector<double> k = table_row(m_.k_table, s.kv_size(), token);
    for (uint32_t h = 0; h < s.n_heads; ++h)
      norm_and_rotate(q.data() + h * s.head_dim, m_.q_norm, pos);
    for (uint32_t h = 0; h < s.n_kv_heads; ++h)
      norm_and_rotate(k.data() + h * s.head_dim, m_.k_norm, pos);
    keys_.push_back(k);
    values_.push_back(table_row(m_.v_table, s.kv_size(), token));

    std::vector<double> out(s.q_size(), 0.0);
    for (uint32_t h = 0; h < s.n_heads; ++h) {
      const uint32_t kv = h / (s.n_heads / s.n_kv_heads);
      std::vector<double> scores;
      for (const std::vector<double>& key : keys_) {
        double dot = 0.0;
        for (uint32_t i = 0; i < s.head_dim; ++i)
          dot += q[h * s.head_dim + i] * key[kv * s.head_dim + i];
        scores.push_back(dot / std::sqrt(static_cast<double>(s.head_dim)));
      }
      const double max_score = *std::max_element(scores.begin(), scores.end());
      double sum = 0.0;
      for (double& score : scores) sum += score = std::exp(score - max_score);
      for (size_t t = 0; t < keys_.size(); ++t)
        for (uint32_t i = 0; i < s.head_dim; ++i)
          out[h * s.head_dim + i] += scores[t] / sum * values_[t][kv * s.head_dim + i];
    }
    for (uint32_t i = 0; i < s.q_size(); ++i) out[i] *= sigmoid(gate[i]);
    return out;
  }

 private:
  // RMSNorm(x) * w, then NeoX RoPE: pair (x_i, x_{i + n_rot/2}), i < n_rot/2, turned by
  // pos * theta^(-2i / n_rot); values n_rot.. untouched.
  void norm_and_rotate(double* x, const std::vector<float>& w, uint32_t pos) const {
    const AttentionShape& s = m_.shape;
    double sum = 0.0;
    for (uint32_t i = 0; i < s.head_dim; ++i) sum += x[i] * x[i];
    const double scale = 1.0 / std::sqrt(sum / s.head_dim + double{s.eps});
    for (uint32_t i = 0; i < s.head_dim; ++i) x[i] *= scale * w[i];
    const uint32_t half = s.n_rot / 2;
    for (uint32_t i = 0; i < half; ++i) {
      const double angle = pos * std::pow(double{s.theta}, -2.0 * i / s.n_rot);
      const double x0 = x[i];
      const double x1 = x[i + half];
      x[i] = x0 * std::cos(angle) - x1 * std::sin(angle);
      x[i + half] = x0 * std::sin(angle) + x1 * std::cos(angle);
    }
  }

  const AttentionModel& m_;
  std::vector<std::vector<double>> keys_;
  std::vector<std::vector<double>> values_;
};

TEST(Qwen35OpsTest, GatedAttentionMatchesFloat64) {
  const AttentionModel m = random_attention(3);
  WeightStore store;
  const plan::Plan p = attention_plan(m, store);
  cpu::CpuBackend single(p, options(1));
  cpu::CpuBackend batched(p, options(4));
  std::vector<float> batched_logits(kTokens.size() * p.n_vocab);
  batched.forward_batch(kTokens, 0, batched_logits);
  AttentionReference reference(m);
  for (uint32_t pos = 0; pos < kTokens.size(); ++pos) {
    const std::vector<double> expected = reference.step(kTokens[pos], pos);
    EXPECT_LE(relative_error(single.forward(kTokens[pos], pos), expected), kTolerance)
        << "position " << pos;
    EXPECT_LE(
        relative_error(std::span(batched_logits).subspan(pos * p.n_vocab, p.n_vocab), expected),
        kTolerance)
        << "batched, position " << pos;
  }
}

TEST(Qwen35OpsTest, CheckPlanRejectsInconsistentOps) {
  const DeltaNetModel m = random_delta_net(DeltaNetShape{}, 1);
  WeightStore store;
  const plan::Plan good = delta_net_plan(m, store);
  const auto expect_rejected = [&](const auto& change, const std::string& fragment) {
    plan::Plan bad = good;
    change(bad);
    try {
      plan::check_plan(bad);
      ADD_FAILURE() << "accepted a plan that should fail with '" << fragment << "'";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  const auto op = [](plan::Plan& p, const char* name) -> plan::OpKind& {
    for (plan::Op& o : p.ops)
      if (o.name == name) return o.kind;
    throw std::logic_error("no such op");
  };
  expect_rejected(
      [&](plan::Plan& p) { std::get<plan::GatedDeltaNet>(op(p, "delta_net")).n_k_heads = 4; },
      "n_v_heads must be a positive multiple of n_k_heads");
  expect_rejected([&](plan::Plan& p) { p.states[1].n_floats -= 1; }, "state must hold");
  expect_rejected(
      [&](plan::Plan& p) { std::get<plan::CausalConv1dSilu>(op(p, "conv")).kernel = 2; },
      "convolution");
  expect_rejected(
      [&](plan::Plan& p) {
        auto& conv = std::get<plan::CausalConv1dSilu>(op(p, "conv"));
        conv.out = conv.in;
      },
      "in and out must differ");
  expect_rejected([&](plan::Plan& p) { p.weights.back().type = TensorType::F16; }, "must be F32");
}

}  // namespace
}  // namespace quant
