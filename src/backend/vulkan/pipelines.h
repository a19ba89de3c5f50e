#pragma once
// The table of compute pipelines: for each kernel, the contract its shader expects (bindings, which
// of them it writes, push-constant size) and how its workgroup is sized on a device. Pipelines are
// created on first use; CommandSequence::dispatch() checks every call against the record.

#include <vulkan/vulkan.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "backend/vulkan/context.h"
#include "formats/tensor_type.h"

namespace quant::vulkan {

struct PipelineRecord {
  std::string_view name;  // the kernel, and its SPIR-V variant ("matvec_q4_k")
  uint32_t bindings = 0;  // storage buffers at bindings 0 .. bindings - 1, all in set 0
  uint32_t written_bindings =
      0;  // bit i set: the shader writes binding i (the others are read-only)
  uint32_t push_constant_bytes = 0;
  // Workgroup width = this many subgroups (device subgroup size x this), clamped to the device's
  // limits; passed to the shader as specialization constant 0.
  uint32_t subgroups_per_workgroup = 4;
  // The shader reduces across its workgroup and has a "<name>_shmem" variant that needs no subgroup
  // arithmetic.
  bool reduces = false;
  // Passed to the shader as specialization constant 1 (the rows one mat-vec subgroup computes).
  uint32_t rows_per_workgroup = 1;
  // Passed as specialization constant 2 (matvec_int8: the chunks of a row one invocation loads
  // before it uses any).
  uint32_t chunks_per_step = 1;
  // The embedded SPIR-V variant, where one serves several records (other widths or rows): empty
  // for the variant called `name`.
  std::string_view spirv = {};
  // Shared memory the shader declares per invocation of its width, where the width must also keep
  // that within the device's limit (0: the shader's shared memory does not grow with its width).
  uint32_t shared_bytes_per_invocation = 0;
};

// All records, and one by name (nullptr when unknown).
std::span<const PipelineRecord> pipeline_records();
// The name of the variant of kernel family `prefix` for weights of `type`: "matvec_q4_k" for
// "matvec_" and Q4_K.
std::string kernel_name(std::string_view prefix, TensorType type);
// Workgroups of `per_group` items for `n` items.
uint32_t group_count(uint64_t n, uint64_t per_group);
const PipelineRecord* find_pipeline_record(std::string_view name);
// The workgroup width `record` gets on a device: its subgroups times the subgroup size, halved
// until it fits the device's workgroup limits and, for a record that declares its shared memory per
// invocation, the device's shared memory.
uint32_t workgroup_width(const PipelineRecord& record, const DeviceInfo& info);

struct PipelineOptions {
  // false: use the shared-memory ("_shmem") reductions even where the device has subgroup
  // arithmetic.
  bool subgroup_arithmetic = true;
  // false: use the float mat-vec kernels even where the int8 ones could run (integer_dot_products).
  bool integer_dot_products = true;
  // The largest range one storage-buffer binding may cover; 0 means the device's
  // maxStorageBufferRange. Smaller values make kernels split big weights over several dispatches
  // (tests use it to exercise that path on small tensors).
  uint64_t max_binding_bytes = 0;
};

struct Pipeline {
  const PipelineRecord* record = nullptr;
  std::string variant;  // the SPIR-V variant used: name or name + "_shmem"
  uint32_t workgroup_size = 0;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;  // owned by Pipelines
  VkPipelineLayout layout = VK_NULL_HANDLE;           // owned by Pipelines
  VkPipeline pipeline = VK_NULL_HANDLE;
};

class Pipelines {
 public:
  Pipelines(const Context& context, const PipelineOptions& options = {});
  ~Pipelines();
  Pipelines(const Pipelines&) = delete;
  Pipelines& operator=(const Pipelines&) = delete;

  // The pipeline of kernel `name`, created on first use. Throws quant::Error for an unknown name.
  const Pipeline& get(std::string_view name);

  // The workgroup width kernel `name` gets on this device (without creating the pipeline).
  uint32_t workgroup_size(std::string_view name) const;
  // The largest byte range one binding may cover (the option, or the device's limit).
  uint64_t max_binding_bytes() const;
  bool uses_subgroup_arithmetic() const;
  // Whether the int8 mat-vec kernels (matvec_int8.comp) may run: the option, the device's integer
  // dot products and subgroup arithmetic.
  bool uses_integer_dot_products() const;

  const Context& context() const { return context_; }

 private:
  VkDescriptorSetLayout set_layout(uint32_t bindings);
  VkPipelineLayout pipeline_layout(uint32_t bindings, uint32_t push_constant_bytes);

  const Context& context_;
  PipelineOptions options_;
  std::map<uint32_t, VkDescriptorSetLayout> set_layouts_;              // by binding count
  std::map<std::pair<uint32_t, uint32_t>, VkPipelineLayout> layouts_;  // by (bindings, push bytes)
  std::map<std::string, std::unique_ptr<Pipeline>, std::less<>> pipelines_;
};

}  // namespace quant::vulkan
