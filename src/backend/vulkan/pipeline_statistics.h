#pragma once
// The compiler statistics a driver reports for each of the backend's pipelines, through
// VK_KHR_pipeline_executable_properties (on NVIDIA: registers, shared memory, local memory and
// spills). `quant devices --pipeline-statistics` prints them: they are how kernels are tuned on
// machines where no profiler can run.

#include <cstdint>
#include <string>
#include <vector>

#include "backend/vulkan/pipelines.h"

namespace quant::vulkan {

struct PipelineStatistic {
  std::string name;   // as the driver names it ("Register Count")
  std::string value;  // formatted by its VkPipelineExecutableStatisticFormatKHR
};

struct KernelStatistics {
  std::string kernel;   // the record's name
  std::string variant;  // the SPIR-V variant created (name or name + "_shmem"); empty if none
  uint32_t workgroup_size = 0;
  std::string error;  // why the pipeline was not created or its statistics not read; empty if fine
  std::vector<PipelineStatistic> statistics;
};

// Creates every kernel of the record table on `pipelines`, as the backend would, and reads its
// statistics; in record order. The context must capture pipeline statistics
// (ContextOptions::capture_pipeline_statistics). A kernel that fails keeps its error in its entry;
// the others go on.
std::vector<KernelStatistics> collect_pipeline_statistics(Pipelines& pipelines);

}  // namespace quant::vulkan
