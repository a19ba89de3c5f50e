#pragma once
// Which tensor type each tensor of a model gets for a whole-file type: llama.cpp's llama-quantize
// rules (src/llama-quant.cpp of the reference commit), for the file types we produce and the dense
// architectures we run. For Q4_K_M: the output matrix (token_embd when tied) is Q6_K;
// attention-V-like tensors (attn_v, attn_qkv, attn_kv_b) and ffn_down are Q6_K in the layers where
// i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2 and Q4_K elsewhere; every other matrix is Q4_K. Norms,
// 1-D tensors and a few small tensors (ssm_conv1d, ...) keep their type. A row length that the
// chosen type's block does not divide falls back (Q4_K -> Q5_0, Q6_K -> Q8_0, then F16). Not
// mirrored: llama.cpp's special cases for Falcon, 70B llama and mixture-of-experts models.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/tensor_type.h"
#include "quantize/file_type.h"

namespace quant {

struct TensorDecl {
  std::string name;
  TensorType type;             // the type it has now
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the row length
};

// Whether llama-quantize would change this tensor's type at all (2-D or more, a ".weight" that is
// not a norm, not ssm_conv1d, ...).
bool tensor_allows_quantization(std::string_view name, std::span<const uint64_t> dims);

// The order in which llama-quantize visits (and writes) tensors: tensors outside any "blk.N."
// first, then by layer number; by name within each group. Returns indices into `tensors`.
std::vector<size_t> llama_quantize_order(std::span<const TensorDecl> tensors);

// The type of each tensor (same order as `tensors`) after quantizing to `file_type`. `n_layers` is
// the model's block count (ffn_down's layer rule counts in layers).
std::vector<TensorType> choose_tensor_types(FileType file_type, std::span<const TensorDecl> tensors,
                                            uint32_t n_layers);

}  // namespace quant
