#include "backend/vulkan/pipelines.h"

#include <algorithm>
#include <vector>

#include "backend/vulkan/embedded_shaders.h"
#include "backend/vulkan/vk_check.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

constexpr uint32_t bit(uint32_t binding) {
  return 1u << binding;
}

// Bindings and push constants mirror the layout(...) declarations of each shader in shaders/.
// matvec: weights, x, y (read too when accumulating), norm weight, step, RoPE inverse
// frequencies, KV cache (matvec_epilogue.glsl); {cols, rows, row_bytes, weight_offset, out_offset,
// flags, pair_offset, eps} then the epilogue's {head_dim, n_rot, kv_dim, capacity}; `rows` rows per
// subgroup (each chunk of x loaded serves that many rows; more rows cost registers; even, for the
// epilogue's RoPE). embed: table, step, out, quantized out, next norm weights; {cols, first_row,
// rows, row_bytes, weight_offset, flags}.
// matvec_int8: the matvec bindings, then the quantized output and the next norm's weights
// (QUANTIZE_OUTPUT); its push constants with {passes} before the epilogue's; 8 subgroups per
// workgroup share the staged x; 2 rows per subgroup and 1 chunk per step, as measured on the H200
// (docs/perf/README.md, v2). The "_prequantized" variants (Q8_0, K-quants) read binding 1 as a
// quantized vector; the K-quants' "_pair" variants take a SwiGLU pair (SWIGLU_PAIR).
#define QUANT_INT8_MATVEC(name)                               \
  PipelineRecord {                                            \
    name, 9, bit(2) | bit(6) | bit(7), 13 * 4, 8, false, 2, 1 \
  }
// The "_one_row" records run the same SPIR-V with one row per subgroup and 16 subgroups per
// workgroup (half the registers, twice the warps); kernels.cpp takes them for the prequantized
// mat-vecs of short matrices that pair no rows (no RoPE, no "_pair" variant): on the H200 the
// output and down projections of a layer ran 0.2-0.9 us faster each (docs/perf/README.md, v8).
// QUANT_INT8_MATVEC_ONE_ROW_OF names the SPIR-V variant it runs (a variant of its own).
#define QUANT_INT8_MATVEC_ONE_ROW_OF(record_name, spirv_name)          \
  PipelineRecord {                                                     \
    record_name, 9, bit(2) | bit(6) | bit(7), 13 * 4, 16, false, 1, 1, \
        std::string_view(spirv_name)                                   \
  }
#define QUANT_INT8_MATVEC_ONE_ROW(name) QUANT_INT8_MATVEC_ONE_ROW_OF(name "_one_row", name)
#define QUANT_WEIGHT_KERNELS(type, rows)                                                      \
  PipelineRecord{"matvec_" type, 7, bit(2) | bit(6), 12 * 4, 2, true, rows}, PipelineRecord { \
    "embed_" type, 5, bit(2) | bit(3), 6 * 4, 4, false                                        \
  }

constexpr PipelineRecord kRecords[] = {
    // Rows per subgroup as measured on the H200 (docs/perf/README.md, v1).
    QUANT_WEIGHT_KERNELS("f32", 2),
    QUANT_WEIGHT_KERNELS("f16", 2),
    QUANT_WEIGHT_KERNELS("bf16", 2),
    QUANT_WEIGHT_KERNELS("q8_0", 4),
    QUANT_WEIGHT_KERNELS("q4_0", 2),
    QUANT_WEIGHT_KERNELS("q4_1", 2),
    QUANT_WEIGHT_KERNELS("q5_0", 2),
    QUANT_WEIGHT_KERNELS("q5_1", 2),
    QUANT_WEIGHT_KERNELS("q4_k", 2),
    QUANT_WEIGHT_KERNELS("q5_k", 2),
    QUANT_WEIGHT_KERNELS("q6_k", 2),
    QUANT_INT8_MATVEC("matvec_int8_q8_0"),
    QUANT_INT8_MATVEC("matvec_int8_q4_0"),
    QUANT_INT8_MATVEC("matvec_int8_q4_1"),
    QUANT_INT8_MATVEC("matvec_int8_q5_0"),
    QUANT_INT8_MATVEC("matvec_int8_q5_1"),
    QUANT_INT8_MATVEC("matvec_int8_q4_k"),
    QUANT_INT8_MATVEC("matvec_int8_q4_k_pair"),
    QUANT_INT8_MATVEC("matvec_int8_q5_k"),
    QUANT_INT8_MATVEC("matvec_int8_q5_k_pair"),
    QUANT_INT8_MATVEC("matvec_int8_q6_k"),
    QUANT_INT8_MATVEC("matvec_int8_q6_k_pair"),
    QUANT_INT8_MATVEC("matvec_int8_q8_0_prequantized"),
    QUANT_INT8_MATVEC("matvec_int8_q4_k_prequantized"),
    QUANT_INT8_MATVEC("matvec_int8_q4_k_prequantized_pair"),
    QUANT_INT8_MATVEC("matvec_int8_q5_k_prequantized"),
    QUANT_INT8_MATVEC("matvec_int8_q5_k_prequantized_pair"),
    QUANT_INT8_MATVEC("matvec_int8_q6_k_prequantized"),
    QUANT_INT8_MATVEC("matvec_int8_q6_k_prequantized_pair"),
    QUANT_INT8_MATVEC_ONE_ROW("matvec_int8_q8_0_prequantized"),
    QUANT_INT8_MATVEC_ONE_ROW("matvec_int8_q4_k_prequantized"),
    QUANT_INT8_MATVEC_ONE_ROW("matvec_int8_q5_k_prequantized"),
    QUANT_INT8_MATVEC_ONE_ROW("matvec_int8_q6_k_prequantized"),
    // Q8_0's q and k of a llama layer (a RoPE epilogue) at one row per subgroup too, the RoPE's
    // partner rows handed across subgroups (ROPE_ACROSS_SUBGROUPS): on the H200 SmolLM2-1.7B Q8_0
    // +0.6 %; the K-quants' lost 2.8 % so (docs/perf/README.md, v10).
    QUANT_INT8_MATVEC_ONE_ROW_OF("matvec_int8_q8_0_prequantized_one_row_rope",
                                 "matvec_int8_q8_0_prequantized_rope"),
    // Q8_0's SwiGLU pair at one row per subgroup, paired at compile time (SWIGLU_PAIR_KERNEL; the
    // other Q8_0 records keep the runtime flag, whose registers serve them: matvec_int8.comp). On
    // the H200 SmolLM2-1.7B Q8_0 +0.5 %, Qwen3-4B Q8_0 +0.4 % (docs/perf/README.md, v11); at two
    // rows per subgroup Qwen3-4B lost 8 %.
    QUANT_INT8_MATVEC_ONE_ROW_OF("matvec_int8_q8_0_prequantized_one_row_pair",
                                 "matvec_int8_q8_0_prequantized_pair"),
    // Q8_0's q, k and v (kernels.cpp, prequantized_kernel), without the runtime pair flag: 32 and
    // 40 registers on the H200 where the flag's take 64, so that the workgroups of all three fit
    // its SMs at once (SmolLM2-1.7B's 3 x 2048 rows and Qwen3-4B's 4096 + 2 x 1024; at 64
    // registers and 16 rows a workgroup, 264 of 384 ran at a time). Each alone runs slower, yet
    // the step gains: SmolLM2-1.7B Q8_0 +0.6 %, Qwen3-4B Q8_0 +0.8 %; v alone so lost 2.5 %, and
    // the vocabulary projection 0.6 % (docs/perf/README.md, v12). 8 subgroups a workgroup, not
    // 16: the step's 768 workgroups spread over the SMs more evenly than 384 (Qwen3-4B's q, k and
    // v as one: +1.8 %, SmolLM2-1.7B's three +0.8 %; 4 subgroups -2.4 %, 32 -1.5 %; v13).
    PipelineRecord{"matvec_int8_q8_0_prequantized_one_row_unpaired", 9, bit(2) | bit(6) | bit(7),
                   13 * 4, 8, false, 1, 1,
                   std::string_view("matvec_int8_q8_0_prequantized_unpaired")},
    PipelineRecord{"matvec_int8_q8_0_prequantized_one_row_rope_unpaired", 9,
                   bit(2) | bit(6) | bit(7), 13 * 4, 8, false, 1, 1,
                   std::string_view("matvec_int8_q8_0_prequantized_rope_unpaired")},
    // x, weight, y; {group_size, n_groups, eps}
    PipelineRecord{"rms_norm", 3, bit(2), 3 * 4, 4, true},
    // x (in place), step, inverse frequencies, norm weight, v, k cache, v cache;
    // {n_heads, head_dim, n_rot, neox, flags, eps, capacity}
    PipelineRecord{"rope", 7, bit(0) | bit(5) | bit(6), 7 * 4, 4, true},
    // k, v, k cache, v cache, step; {kv_dim, capacity}
    PipelineRecord{"kv_store", 5, bit(2) | bit(3), 2 * 4, 8, false},
    // q, k cache, v cache, step, partial sums or (final) out; {n_heads, n_kv_heads, head_dim,
    // n_chunks, capacity, scale, chunk_len, final}
    // ..., and the quantized output heads (QUANTIZE_RESULT). 8 subgroups: two invocations per key
    // of 64 load it at once (shaders/attention_partial.comp, KEY_VECTORS; docs/perf/README.md,
    // v10).
    PipelineRecord{"attention_partial", 6, bit(4) | bit(5), 8 * 4, 8, true},
    // The same with qwen3's q/k norms, the RoPE and the KV store folded in, adding k, v, and the q
    // and k norm weights and inverse frequencies in one buffer; {the above, n_rot, neox,
    // q_norm_eps, k_norm_eps} (then the quantized output heads). Twice as wide as
    // attention_partial (whose width cuts the chunks): its heads of 128 and 256 values share a
    // key's dot product between 4 and 8 invocations, so a pass of 4 subgroups held only 32 or 16
    // positions (on the H200, Qwen3-4B tg128 +3.7 %; docs/perf/README.md, v9).
    PipelineRecord{.name = "attention_partial_rope_store",
                   .bindings = 9,
                   .written_bindings = bit(1) | bit(2) | bit(4) | bit(8),
                   .push_constant_bytes = 12 * 4,
                   .subgroups_per_workgroup = 16,
                   .reduces = true,
                   .shared_bytes_per_invocation = 76},
    // partial, step, out, quantized out; {n_heads, head_dim, n_chunks, chunk_len, capacity,
    // quantize}
    PipelineRecord{"attention_combine", 4, bit(2) | bit(3), 6 * 4, 4, false},
    // gate, up, out; {n}
    PipelineRecord{"swiglu", 3, bit(2), 4, 8, false},
    // a, b, out; {n}
    PipelineRecord{"add", 3, bit(2), 4, 8, false},
    // in, out; {n_heads, in_head_stride, in_offset, size}
    PipelineRecord{"slice_heads", 2, bit(1), 4 * 4, 8, false},
    // in, gate, out; {n}
    PipelineRecord{"sigmoid_gate", 3, bit(2), 4, 8, false},
    // in, weight, state (read and written), out; {n_channels, kernel}
    PipelineRecord{"causal_conv1d_silu", 4, bit(2) | bit(3), 2 * 4, 8, false},
    // qkv, alpha, beta, a, dt_bias, state (read and written), out;
    // {n_k_heads, n_v_heads, head_k_dim, head_v_dim, eps}
    PipelineRecord{"gated_delta_net", 7, bit(5) | bit(6), 5 * 4, 4, true},
    // values, scratch (a finished-workgroup count, then one (value, index) pair per workgroup),
    // result, next step inputs; {n, values_per_group, advance_step}
    PipelineRecord{"argmax", 4, bit(1) | bit(2) | bit(3), 3 * 4, 4, true},
    // The batch kernels (batch_kernels.h). matmul: weights, x, y (read too when accumulating),
    // partials; {cols, rows, row_bytes, weight_offset, out_offset, out_stride, n_tokens, flags,
    // halves}; rows per invocation (a multiple of 4; more rows reuse each staged activation more,
    // at the cost of registers and of fewer workgroups for short matrices): 4, and 8 subgroups per
    // workgroup (tiles of 128 rows x 64 tokens on the H200; 4 subgroups: 7 % slower;
    // docs/perf/README.md, v2).
    PipelineRecord{"matmul_f32", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_f16", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_bf16", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_q8_0", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_q4_0", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_q4_1", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_q5_0", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_q5_1", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_q4_k", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_q5_k", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    PipelineRecord{"matmul_q6_k", 4, bit(2) | bit(3), 9 * 4, 8, false, 4},
    // 8 rows per invocation (tiles of 256 rows x 64 tokens on the H200) for tall matrices
    // (batch_kernels.cpp: kMatmulWideRows).
    PipelineRecord{"matmul_wide_q4_k", 4, bit(2) | bit(3), 9 * 4, 8, false, 8},
    PipelineRecord{"matmul_wide_q6_k", 4, bit(2) | bit(3), 9 * 4, 8, false, 8},
    PipelineRecord{"matmul_wide_q8_0", 4, bit(2) | bit(3), 9 * 4, 8, false, 8},
    // embed_batch: table, batch inputs, out; {cols, first_row, rows, row_bytes, weight_offset}
    PipelineRecord{"embed_batch_f32", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_f16", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_bf16", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_q8_0", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_q4_0", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_q4_1", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_q5_0", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_q5_1", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_q4_k", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_q5_k", 3, bit(2), 5 * 4, 4, false},
    PipelineRecord{"embed_batch_q6_k", 3, bit(2), 5 * 4, 4, false},
    // x (in place), batch inputs, inverse frequencies; {n_heads, head_dim, n_rot, neox, n_tokens}
    PipelineRecord{"rope_batch", 3, bit(0), 5 * 4, 4, false},
    // k, v, k cache, v cache, batch inputs; {kv_dim, capacity, n_tokens}
    PipelineRecord{"kv_store_batch", 5, bit(2) | bit(3), 3 * 4, 8, false},
    // q, k cache, v cache, batch inputs, out; {n_heads, n_kv_heads, head_dim, capacity, n_tokens,
    // scale}; 4 subgroups per workgroup: tiles of 32 query rows on the H200 (the tile follows the
    // width, 8 invocations per pair of rows; more rows would pass its 48 KB of shared memory with
    // heads of 128 floats: attention_batch.comp).
    PipelineRecord{"attention_batch", 5, bit(4), 6 * 4, 4, false},
    // The same with 2 subgroups, for devices whose shared memory does not hold the tile of 4
    // (batch_kernels.cpp: attention_kernel).
    PipelineRecord{"attention_batch_narrow", 5, bit(4), 6 * 4, 2, false},
};

#undef QUANT_WEIGHT_KERNELS
#undef QUANT_INT8_MATVEC

}  // namespace

std::span<const PipelineRecord> pipeline_records() {
  return kRecords;
}

std::string kernel_name(std::string_view prefix, TensorType type) {
  std::string name(prefix);
  for (char c : type_traits(type).name)
    name += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return name;
}

uint32_t group_count(uint64_t n, uint64_t per_group) {
  return static_cast<uint32_t>((n + per_group - 1) / per_group);
}

const PipelineRecord* find_pipeline_record(std::string_view name) {
  for (const PipelineRecord& record : kRecords)
    if (record.name == name) return &record;
  return nullptr;
}

Pipelines::Pipelines(const Context& context, const PipelineOptions& options)
    : context_(context), options_(options) {}

Pipelines::~Pipelines() {
  VkDevice device = context_.device();
  for (auto& [name, pipeline] : pipelines_) vkDestroyPipeline(device, pipeline->pipeline, nullptr);
  for (auto& [key, layout] : layouts_) vkDestroyPipelineLayout(device, layout, nullptr);
  for (auto& [key, layout] : set_layouts_) vkDestroyDescriptorSetLayout(device, layout, nullptr);
}

uint32_t workgroup_width(const PipelineRecord& record, const DeviceInfo& info) {
  uint32_t limit =
      std::min(info.max_compute_workgroup_invocations, info.max_compute_workgroup_size[0]);
  if (record.shared_bytes_per_invocation != 0)
    limit =
        std::min(limit, info.max_compute_shared_memory_bytes / record.shared_bytes_per_invocation);
  uint32_t width = std::max(info.subgroup_size, 1u) * record.subgroups_per_workgroup;
  // Halved (staying a power of two times the subgroup size) rather than cut to the limit.
  while (width > limit && width > 1u) width /= 2u;
  return std::max(width, 1u);
}

uint32_t Pipelines::workgroup_size(std::string_view name) const {
  const PipelineRecord* record = find_pipeline_record(name);
  if (record == nullptr) fail("Vulkan: no kernel named '{}'", name);
  return workgroup_width(*record, context_.info());
}

uint64_t Pipelines::max_binding_bytes() const {
  uint64_t device_limit = context_.info().max_storage_buffer_range;
  if (options_.max_binding_bytes == 0) return device_limit;
  return std::min(options_.max_binding_bytes, device_limit);
}

bool Pipelines::uses_subgroup_arithmetic() const {
  return options_.subgroup_arithmetic && context_.info().subgroup_arithmetic;
}

bool Pipelines::uses_integer_dot_products() const {
  return options_.integer_dot_products && context_.info().integer_dot_product &&
         uses_subgroup_arithmetic();
}

VkDescriptorSetLayout Pipelines::set_layout(uint32_t bindings) {
  auto found = set_layouts_.find(bindings);
  if (found != set_layouts_.end()) return found->second;
  std::vector<VkDescriptorSetLayoutBinding> entries(bindings);
  for (uint32_t i = 0; i < bindings; ++i) {
    entries[i].binding = i;
    entries[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    entries[i].descriptorCount = 1;
    entries[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  info.bindingCount = bindings;
  info.pBindings = entries.data();
  VkDescriptorSetLayout layout = VK_NULL_HANDLE;
  check(vkCreateDescriptorSetLayout(context_.device(), &info, nullptr, &layout),
        "vkCreateDescriptorSetLayout");
  set_layouts_.emplace(bindings, layout);
  return layout;
}

VkPipelineLayout Pipelines::pipeline_layout(uint32_t bindings, uint32_t push_constant_bytes) {
  auto key = std::make_pair(bindings, push_constant_bytes);
  auto found = layouts_.find(key);
  if (found != layouts_.end()) return found->second;
  VkDescriptorSetLayout sets = set_layout(bindings);
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_constant_bytes};
  VkPipelineLayoutCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  info.setLayoutCount = 1;
  info.pSetLayouts = &sets;
  info.pushConstantRangeCount = push_constant_bytes > 0 ? 1 : 0;
  info.pPushConstantRanges = &push;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  check(vkCreatePipelineLayout(context_.device(), &info, nullptr, &layout),
        "vkCreatePipelineLayout");
  layouts_.emplace(key, layout);
  return layout;
}

const Pipeline& Pipelines::get(std::string_view name) {
  auto found = pipelines_.find(name);
  if (found != pipelines_.end()) return *found->second;
  const PipelineRecord* record = find_pipeline_record(name);
  if (record == nullptr) fail("Vulkan: no kernel named '{}'", name);
  if (record->push_constant_bytes > context_.info().max_push_constants_bytes)
    fail("Vulkan kernel '{}' needs {} bytes of push constants; the device allows {}", name,
         record->push_constant_bytes, context_.info().max_push_constants_bytes);

  auto pipeline = std::make_unique<Pipeline>();
  pipeline->record = record;
  pipeline->variant = std::string(record->spirv.empty() ? name : record->spirv);
  if (record->reduces && !uses_subgroup_arithmetic()) pipeline->variant += "_shmem";
  const EmbeddedShader* shader = find_embedded_shader(pipeline->variant);
  // Every record names shaders that the build embeds (a test checks the table).
  if (shader == nullptr) fail("Vulkan: shader variant '{}' is not embedded", pipeline->variant);
  pipeline->workgroup_size = workgroup_size(name);
  pipeline->set_layout = set_layout(record->bindings);
  pipeline->layout = pipeline_layout(record->bindings, record->push_constant_bytes);

  VkShaderModuleCreateInfo module_info{};
  module_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  module_info.codeSize = shader->spirv.size_bytes();
  module_info.pCode = shader->spirv.data();
  VkShaderModule module = VK_NULL_HANDLE;
  check(vkCreateShaderModule(context_.device(), &module_info, nullptr, &module),
        "vkCreateShaderModule");

  // Shaders that do not declare constants 1 and 2 ignore them.
  const uint32_t constants[3] = {pipeline->workgroup_size, record->rows_per_workgroup,
                                 record->chunks_per_step};
  const VkSpecializationMapEntry entries[3] = {{0, 0, sizeof(uint32_t)},
                                               {1, sizeof(uint32_t), sizeof(uint32_t)},
                                               {2, 2 * sizeof(uint32_t), sizeof(uint32_t)}};
  VkSpecializationInfo specialization{3, entries, sizeof(constants), constants};
  VkComputePipelineCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.stage.pSpecializationInfo = &specialization;
  info.layout = pipeline->layout;
  if (context_.captures_pipeline_statistics())
    info.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  VkResult result = vkCreateComputePipelines(context_.device(), VK_NULL_HANDLE, 1, &info, nullptr,
                                             &pipeline->pipeline);
  vkDestroyShaderModule(context_.device(), module, nullptr);
  check(result, "vkCreateComputePipelines");
  return *pipelines_.emplace(std::string(name), std::move(pipeline)).first->second;
}

}  // namespace quant::vulkan
