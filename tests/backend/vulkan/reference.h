#pragma once
// Scalar CPU references for the Vulkan kernel tests, in double precision, and test weights. The
// mat-vec and embedding references dequantize with the formats library (the project's reference
// dequantizers), so a GPU decoding error shows up as a mismatch.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "formats/tensor_type.h"

namespace quant::vulkan::test {

// Every weight type the mat-vec, mat-mul and embedding kernels read.
inline constexpr TensorType kWeightTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                              TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1,
                                              TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K,
                                              TensorType::Q5_K, TensorType::Q6_K};

// Row lengths of the kernel tests: odd for the plain types (no multiple of any workgroup width), 5
// legacy blocks, 3 super-blocks.
uint64_t test_cols(TensorType type);
// "Q4_K": the type's name, for test labels.
std::string type_label(TensorType type);
// The matrix in the device layout (weight_layout.h), as the backend uploads it.
std::vector<uint8_t> device_layout(TensorType type, uint64_t rows, uint64_t cols,
                                   std::span<const uint8_t> gguf_rows);

// rows x cols weights of `type`: quantized from random floats with the reference quantizer, or
// (with random_bits, quantized types only) random bytes with random but finite scales, which
// reaches bit patterns a quantizer rarely writes.
std::vector<uint8_t> make_weights(TensorType type, uint64_t rows, uint64_t cols, uint32_t seed,
                                  bool random_bits);

std::vector<float> reference_matvec(TensorType type, std::span<const uint8_t> weights,
                                    uint64_t rows, uint64_t cols, std::span<const float> x);
// x as the CPU backend's fast path quantizes it to multiply it with `weight_type`
// (quantize_activation_row_reference), dequantized: what the int8 mat-vec kernels
// (shaders/matvec_int8.comp) multiply W by. Types the CPU multiplies with floats: x unchanged.
std::vector<float> int8_quantized(TensorType weight_type, std::span<const float> x);
std::vector<float> reference_row(TensorType type, std::span<const uint8_t> weights, uint64_t cols,
                                 uint64_t row);
std::vector<float> reference_rms_norm(std::span<const float> x, std::span<const float> weight,
                                      uint32_t n_groups, uint32_t group_size, float eps);
// theta^(-2i/n_rot) in double precision, angles pos * that.
std::vector<float> reference_rope(std::span<const float> x, uint32_t n_heads, uint32_t head_dim,
                                  uint32_t n_rot, bool neox, uint32_t pos, float theta);
// keys/values: positions x (n_kv_heads * head_dim); attends over positions 0..pos.
std::vector<float> reference_attention(std::span<const float> q, std::span<const float> keys,
                                       std::span<const float> values, uint32_t n_heads,
                                       uint32_t n_kv_heads, uint32_t head_dim, uint32_t pos,
                                       float scale);
std::vector<float> reference_swiglu(std::span<const float> gate, std::span<const float> up);

// One token of plan::CausalConv1dSilu. `state` ((kernel - 1) x n_channels, oldest first) is read
// and updated.
std::vector<float> reference_causal_conv1d_silu(std::span<const float> in,
                                                std::span<const float> weight,
                                                std::vector<double>& state, uint32_t n_channels,
                                                uint32_t kernel);

struct DeltaNetReferenceShape {
  uint32_t n_k_heads, n_v_heads, head_k_dim, head_v_dim;
  float eps;
};

// One token of plan::GatedDeltaNet. `state` (n_v_heads x head_k_dim x head_v_dim) is read and
// updated.
std::vector<float> reference_gated_delta_net(std::span<const float> qkv,
                                             std::span<const float> alpha,
                                             std::span<const float> beta, std::span<const float> a,
                                             std::span<const float> dt_bias,
                                             std::vector<double>& state,
                                             const DeltaNetReferenceShape& shape);

}  // namespace quant::vulkan::test
