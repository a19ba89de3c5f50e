#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "backend/cpu/matmul.h"
#include "backend/cpu/quantize_activations.h"
#include "backend/vulkan/weight_layout.h"
#include "formats/blocks.h"
#include "formats/float16.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {

namespace {

// Byte offsets of the binary16 scale fields of one block of `type`.
std::vector<size_t> half_fields(TensorType type) {
  switch (type) {
    case TensorType::Q4_0:
      return {offsetof(Q4_0Block, d)};
    case TensorType::Q4_1:
      return {offsetof(Q4_1Block, d), offsetof(Q4_1Block, m)};
    case TensorType::Q5_0:
      return {offsetof(Q5_0Block, d)};
    case TensorType::Q5_1:
      return {offsetof(Q5_1Block, d), offsetof(Q5_1Block, m)};
    case TensorType::Q8_0:
      return {offsetof(Q8_0Block, d)};
    case TensorType::Q4_K:
      return {offsetof(Q4KBlock, d), offsetof(Q4KBlock, dmin)};
    case TensorType::Q5_K:
      return {offsetof(Q5KBlock, d), offsetof(Q5KBlock, dmin)};
    case TensorType::Q6_K:
      return {offsetof(Q6KBlock, d)};
    default:
      return {};
  }
}

}  // namespace

std::vector<uint8_t> make_weights(TensorType type, uint64_t rows, uint64_t cols, uint32_t seed,
                                  bool random_bits) {
  const TypeTraits& traits = type_traits(type);
  const uint64_t bytes_per_row = *row_bytes(type, cols);
  std::vector<uint8_t> bytes(rows * bytes_per_row);
  if (!random_bits) {
    std::vector<float> values = random_floats(rows * cols, seed);
    quantize_rows(type, values.data(), bytes.data(), static_cast<int64_t>(rows),
                  static_cast<int64_t>(cols));
    return bytes;
  }
  std::mt19937 generator(seed);
  for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(generator());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (uint64_t block = 0; block < bytes.size() / traits.block_bytes; ++block) {
    for (size_t field : half_fields(type)) {
      uint16_t half = fp32_to_fp16(scale(generator));
      std::memcpy(bytes.data() + block * traits.block_bytes + field, &half, sizeof(half));
    }
  }
  return bytes;
}

std::vector<float> reference_row(TensorType type, std::span<const uint8_t> weights, uint64_t cols,
                                 uint64_t row) {
  std::vector<float> values(cols);
  const uint64_t bytes_per_row = *row_bytes(type, cols);
  dequantize_rows(type, weights.data() + row * bytes_per_row, values.data(), 1,
                  static_cast<int64_t>(cols));
  return values;
}

std::vector<float> reference_matvec(TensorType type, std::span<const uint8_t> weights,
                                    uint64_t rows, uint64_t cols, std::span<const float> x) {
  std::vector<float> y(rows);
  for (uint64_t r = 0; r < rows; ++r) {
    std::vector<float> row = reference_row(type, weights, cols, r);
    double sum = 0.0;
    for (uint64_t c = 0; c < cols; ++c) sum += static_cast<double>(row[c]) * x[c];
    y[r] = static_cast<float>(sum);
  }
  return y;
}

uint64_t test_cols(TensorType type) {
  const int64_t block = type_traits(type).block_elements;
  return block == 1 ? 97 : block == 32 ? 160 : 768;
}

std::string type_label(TensorType type) {
  return std::string(type_traits(type).name);
}

std::vector<uint8_t> device_layout(TensorType type, uint64_t rows, uint64_t cols,
                                   std::span<const uint8_t> gguf_rows) {
  std::vector<uint8_t> out(rows * device_row_bytes(type, cols));
  to_device_layout(type, cols, rows, gguf_rows, out);
  return out;
}

std::vector<float> int8_quantized(TensorType weight_type, std::span<const float> x) {
  const std::optional<cpu::ActivationFormat> format = cpu::activation_format(weight_type);
  if (!format || *format == cpu::ActivationFormat::F32) return {x.begin(), x.end()};
  const cpu::ActivationLayout layout = cpu::activation_layout(*format, x.size());
  const uint64_t block = *format == cpu::ActivationFormat::Q8_K ? 256 : 32;
  std::vector<uint8_t> row(layout.row_bytes + 64);
  // The quantizer writes at a 64-byte aligned address.
  uint8_t* aligned = row.data() + (64 - reinterpret_cast<uintptr_t>(row.data()) % 64) % 64;
  cpu::quantize_activation_row_reference(x.data(), layout, aligned);
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    float scale = 0.0f;
    std::memcpy(&scale, aligned + layout.scales_offset + (i / block) * sizeof(float),
                sizeof(float));
    out[i] = static_cast<float>(static_cast<int8_t>(aligned[i])) * scale;
  }
  return out;
}

std::vector<float> reference_rms_norm(std::span<const float> x, std::span<const float> weight,
                                      uint32_t n_groups, uint32_t group_size, float eps) {
  std::vector<float> y(x.size());
  for (uint32_t g = 0; g < n_groups; ++g) {
    double sum = 0.0;
    for (uint32_t i = 0; i < group_size; ++i)
      sum += static_cast<double>(x[g * group_size + i]) * x[g * group_size + i];
    double inverse = 1.0 / std::sqrt(sum / group_size + eps);
    for (uint32_t i = 0; i < group_size; ++i)
      y[g * group_size + i] = static_cast<float>(x[g * group_size + i] * inverse * weight[i]);
  }
  return y;
}

std::vector<float> reference_rope(std::span<const float> x, uint32_t n_heads, uint32_t head_dim,
                                  uint32_t n_rot, bool neox, uint32_t pos, float theta) {
  std::vector<float> y(x.begin(), x.end());
  for (uint32_t h = 0; h < n_heads; ++h) {
    for (uint32_t i = 0; i < n_rot / 2; ++i) {
      double angle = pos * std::pow(static_cast<double>(theta), -2.0 * i / n_rot);
      uint32_t first = h * head_dim + (neox ? i : 2 * i);
      uint32_t second = neox ? first + n_rot / 2 : first + 1;
      double a = x[first];
      double b = x[second];
      y[first] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
      y[second] = static_cast<float>(a * std::sin(angle) + b * std::cos(angle));
    }
  }
  return y;
}

std::vector<float> reference_attention(std::span<const float> q, std::span<const float> keys,
                                       std::span<const float> values, uint32_t n_heads,
                                       uint32_t n_kv_heads, uint32_t head_dim, uint32_t pos,
                                       float scale) {
  const uint32_t kv_dim = n_kv_heads * head_dim;
  std::vector<float> out(n_heads * head_dim);
  for (uint32_t h = 0; h < n_heads; ++h) {
    const uint32_t kv = (h / (n_heads / n_kv_heads)) * head_dim;
    std::vector<double> scores(pos + 1);
    for (uint32_t t = 0; t <= pos; ++t) {
      double dot = 0.0;
      for (uint32_t d = 0; d < head_dim; ++d)
        dot += static_cast<double>(q[h * head_dim + d]) * keys[t * kv_dim + kv + d];
      scores[t] = dot * scale;
    }
    double maximum = *std::max_element(scores.begin(), scores.end());
    double total = 0.0;
    for (double& s : scores) total += (s = std::exp(s - maximum));
    for (uint32_t d = 0; d < head_dim; ++d) {
      double sum = 0.0;
      for (uint32_t t = 0; t <= pos; ++t) sum += scores[t] * values[t * kv_dim + kv + d];
      out[h * head_dim + d] = static_cast<float>(sum / total);
    }
  }
  return out;
}

std::vector<float> reference_swiglu(std::span<const float> gate, std::span<const float> up) {
  std::vector<float> y(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    double g = gate[i];
    y[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
  return y;
}

std::vector<float> reference_causal_conv1d_silu(std::span<const float> in,
                                                std::span<const float> weight,
                                                std::vector<double>& state, uint32_t n_channels,
                                                uint32_t kernel) {
  std::vector<float> out(n_channels);
  for (uint32_t c = 0; c < n_channels; ++c) {
    double sum = static_cast<double>(weight[c * kernel + kernel - 1]) * in[c];
    for (uint32_t j = 0; j + 1 < kernel; ++j)
      sum += weight[c * kernel + j] * state[j * n_channels + c];
    for (uint32_t j = 0; j + 2 < kernel; ++j)
      state[j * n_channels + c] = state[(j + 1) * n_channels + c];
    state[(kernel - 2) * n_channels + c] = in[c];
    out[c] = static_cast<float>(sum / (1.0 + std::exp(-sum)));
  }
  return out;
}

std::vector<float> reference_gated_delta_net(std::span<const float> qkv,
                                             std::span<const float> alpha,
                                             std::span<const float> beta, std::span<const float> a,
                                             std::span<const float> dt_bias,
                                             std::vector<double>& state,
                                             const DeltaNetReferenceShape& shape) {
  const uint32_t dk = shape.head_k_dim;
  const uint32_t dv = shape.head_v_dim;
  std::vector<float> out(shape.n_v_heads * dv);
  for (uint32_t h = 0; h < shape.n_v_heads; ++h) {
    const uint32_t kh = h % shape.n_k_heads;
    const float* q = qkv.data() + kh * dk;
    const float* k = qkv.data() + shape.n_k_heads * dk + kh * dk;
    const float* v = qkv.data() + 2 * shape.n_k_heads * dk + h * dv;
    double q_norm = 0.0;
    double k_norm = 0.0;
    for (uint32_t i = 0; i < dk; ++i) {
      q_norm += static_cast<double>(q[i]) * q[i];
      k_norm += static_cast<double>(k[i]) * k[i];
    }
    const double q_scale =
        1.0 / std::max(std::sqrt(q_norm), double{shape.eps}) / std::sqrt(static_cast<double>(dk));
    const double k_scale = 1.0 / std::max(std::sqrt(k_norm), double{shape.eps});
    const double mix = 1.0 / (1.0 + std::exp(-double{beta[h]}));
    const double z = double{alpha[h]} + dt_bias[h];
    const double decay = std::exp(a[h] * (z > 20.0 ? z : std::log1p(std::exp(z))));
    double* s = state.data() + static_cast<size_t>(h) * dk * dv;
    for (uint32_t j = 0; j < dv; ++j) {
      double key_sum = 0.0;
      for (uint32_t i = 0; i < dk; ++i) key_sum += s[i * dv + j] * decay * k[i] * k_scale;
      const double delta = mix * (v[j] - key_sum);
      double value = 0.0;
      for (uint32_t i = 0; i < dk; ++i) {
        s[i * dv + j] = s[i * dv + j] * decay + k[i] * k_scale * delta;
        value += s[i * dv + j] * q[i] * q_scale;
      }
      out[h * dv + j] = static_cast<float>(value);
    }
  }
  return out;
}

}  // namespace quant::vulkan::test
