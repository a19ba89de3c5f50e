#include "backend/vulkan/pipeline_statistics.h"

#include <fmt/format.h>

#include "backend/vulkan/vk_check.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

// The extension's entry points: device-level functions the loader does not export statically.
struct ExecutableQueries {
  PFN_vkGetPipelineExecutablePropertiesKHR properties = nullptr;
  PFN_vkGetPipelineExecutableStatisticsKHR statistics = nullptr;
};

ExecutableQueries load_executable_queries(VkDevice device) {
  ExecutableQueries queries;
  queries.properties = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutablePropertiesKHR"));
  queries.statistics = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutableStatisticsKHR"));
  if (queries.properties == nullptr || queries.statistics == nullptr)
    fail("Vulkan: the device did not give the VK_KHR_pipeline_executable_properties functions");
  return queries;
}

// Vulkan's two-call enumeration: `query(&count, nullptr)` for the count, then the entries, each
// given its `type` first.
template <typename Entry, typename Query>
std::vector<Entry> enumerate(VkStructureType type, const char* what, Query query) {
  uint32_t count = 0;
  check(query(&count, nullptr), what);
  std::vector<Entry> entries(count);
  for (Entry& entry : entries) entry.sType = type;
  check(query(&count, entries.data()), what);
  entries.resize(count);
  return entries;
}

// The executables (compiled stages) of `pipeline`: one for a compute pipeline on most drivers.
std::vector<VkPipelineExecutablePropertiesKHR> executables(VkDevice device,
                                                           const ExecutableQueries& queries,
                                                           VkPipeline pipeline) {
  VkPipelineInfoKHR info{};
  info.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR;
  info.pipeline = pipeline;
  return enumerate<VkPipelineExecutablePropertiesKHR>(
      VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR, "vkGetPipelineExecutablePropertiesKHR",
      [&](uint32_t* count, VkPipelineExecutablePropertiesKHR* entries) {
        return queries.properties(device, &info, count, entries);
      });
}

std::vector<VkPipelineExecutableStatisticKHR> executable_statistics(
    VkDevice device, const ExecutableQueries& queries, VkPipeline pipeline, uint32_t executable) {
  VkPipelineExecutableInfoKHR info{};
  info.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR;
  info.pipeline = pipeline;
  info.executableIndex = executable;
  return enumerate<VkPipelineExecutableStatisticKHR>(
      VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR, "vkGetPipelineExecutableStatisticsKHR",
      [&](uint32_t* count, VkPipelineExecutableStatisticKHR* entries) {
        return queries.statistics(device, &info, count, entries);
      });
}

std::string format_value(const VkPipelineExecutableStatisticKHR& statistic) {
  switch (statistic.format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
      return statistic.value.b32 ? "true" : "false";
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
      return fmt::format("{}", statistic.value.i64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
      return fmt::format("{}", statistic.value.u64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR:
      return fmt::format("{:g}", statistic.value.f64);
    default:
      return "?";  // a format newer than these headers
  }
}

// Every statistic of every executable of `pipeline`. Names get their executable's name in front
// only when there are several, so that they stay distinct.
std::vector<PipelineStatistic> pipeline_statistics(VkDevice device,
                                                   const ExecutableQueries& queries,
                                                   VkPipeline pipeline) {
  std::vector<VkPipelineExecutablePropertiesKHR> stages = executables(device, queries, pipeline);
  std::vector<PipelineStatistic> result;
  for (uint32_t i = 0; i < stages.size(); ++i) {
    const std::string prefix = stages.size() > 1 ? fmt::format("{}: ", stages[i].name) : "";
    for (const VkPipelineExecutableStatisticKHR& statistic :
         executable_statistics(device, queries, pipeline, i))
      result.push_back({prefix + statistic.name, format_value(statistic)});
  }
  return result;
}

// Why the backend would never create kernel `record` on this device, or empty. The int8 mat-vecs
// run only where uses_integer_dot_products() (kernels.cpp falls back to the float ones elsewhere);
// their shaders need features the device was then not created with, so creating them is invalid.
std::string why_not_used(const Pipelines& pipelines, const PipelineRecord& record) {
  if (record.name.starts_with("matvec_int8_") && !pipelines.uses_integer_dot_products())
    return "not used on this device (no int8 dot products or no subgroup arithmetic)";
  return "";
}

KernelStatistics kernel_statistics(Pipelines& pipelines, const ExecutableQueries& queries,
                                   const PipelineRecord& record) {
  KernelStatistics entry;
  entry.kernel = std::string(record.name);
  entry.workgroup_size = pipelines.workgroup_size(record.name);
  entry.error = why_not_used(pipelines, record);
  if (!entry.error.empty()) return entry;
  try {
    const Pipeline& pipeline = pipelines.get(record.name);
    entry.variant = pipeline.variant;
    entry.statistics =
        pipeline_statistics(pipelines.context().device(), queries, pipeline.pipeline);
  } catch (const Error& e) {
    entry.error = e.what();
  }
  return entry;
}

}  // namespace

std::vector<KernelStatistics> collect_pipeline_statistics(Pipelines& pipelines) {
  const ExecutableQueries queries = load_executable_queries(pipelines.context().device());
  std::vector<KernelStatistics> entries;
  for (const PipelineRecord& record : pipeline_records())
    entries.push_back(kernel_statistics(pipelines, queries, record));
  return entries;
}

}  // namespace quant::vulkan
