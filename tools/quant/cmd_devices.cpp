// `quant devices`: the Vulkan devices this machine offers and the limits the backend cares about,
// or a clear line saying there are none (or that this binary was built without Vulkan). With
// --pipeline-statistics, the compiler statistics the driver reports for every kernel of the backend
// on one device (registers, shared memory, spills on NVIDIA).

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common/error.h"

#if QUANT_HAVE_VULKAN
#include "backend/vulkan/context.h"
#include "backend/vulkan/pipeline_statistics.h"
#include "backend/vulkan/pipelines.h"
#endif

namespace quant::cli {

namespace {

struct DevicesArgs {
  bool pipeline_statistics = false;
  uint32_t device = 0;  // the backend's default device
};

#if QUANT_HAVE_VULKAN
std::string mebibytes(uint64_t bytes) {
  return fmt::format("{} MiB", bytes >> 20);
}

void print_devices() {
  std::vector<vulkan::DeviceInfo> devices = vulkan::list_devices();
  if (devices.empty()) {
    fmt::print("no Vulkan device found (the CPU backend will be used)\n");
    return;
  }
  for (const vulkan::DeviceInfo& device : devices) {
    fmt::print("[{}] {} ({})\n", device.index, device.name, device.type);
    fmt::print("    Vulkan API                   {}\n", device.api_version_string());
    fmt::print("    driver                       {}\n", device.driver);
    fmt::print(
        "    subgroup size                {}{}\n", device.subgroup_size,
        device.subgroup_arithmetic ? "" : " (no subgroup arithmetic: shared-memory reductions)");
    fmt::print("    int8 dot products            {}\n",
               !device.integer_dot_product              ? "no (float mat-vec kernels)"
               : device.integer_dot_product_accelerated ? "yes, accelerated"
                                                        : "yes, not accelerated");
    fmt::print("    max storage buffer range     {}\n", mebibytes(device.max_storage_buffer_range));
    fmt::print("    max workgroup invocations    {}\n", device.max_compute_workgroup_invocations);
    fmt::print("    shared memory per workgroup  {} KiB\n",
               device.max_compute_shared_memory_bytes / 1024);
    fmt::print("    device-local memory          {}\n", mebibytes(device.device_local_bytes()));
    if (device.timestamps)
      fmt::print("    timestamp period             {} ns\n", device.timestamp_period_ns);
    else
      fmt::print("    timestamp period             (no timestamps on the compute queue)\n");
    if (!device.has_compute_queue || device.api_version < VK_API_VERSION_1_2)
      fmt::print("    not usable: the backend needs Vulkan 1.2 and a compute queue\n");
  }
}

// The statistic names of all kernels, in the order they first appear (drivers may report different
// ones for different kernels).
std::vector<std::string> statistic_names(const std::vector<vulkan::KernelStatistics>& kernels) {
  std::vector<std::string> names;
  for (const vulkan::KernelStatistics& kernel : kernels)
    for (const vulkan::PipelineStatistic& statistic : kernel.statistics)
      if (std::find(names.begin(), names.end(), statistic.name) == names.end())
        names.push_back(statistic.name);
  return names;
}

// One line of the statistics table: aligned cells, then an unaligned note (why a kernel has no
// statistics) that must not widen the columns.
struct TableRow {
  std::vector<std::string> cells;
  std::string note;
};

// The header, then one row per kernel: name (its variant), workgroup size, then each named
// statistic ("-" where the driver did not report it), or the reason it has none.
std::vector<TableRow> statistics_rows(const std::vector<vulkan::KernelStatistics>& kernels,
                                      const std::vector<std::string>& names) {
  std::vector<TableRow> rows;
  rows.push_back({{"kernel", "workgroup"}, ""});
  rows.back().cells.insert(rows.back().cells.end(), names.begin(), names.end());
  for (const vulkan::KernelStatistics& kernel : kernels) {
    TableRow row{{kernel.variant.empty() ? kernel.kernel : kernel.variant,
                  std::to_string(kernel.workgroup_size)},
                 ""};
    if (!kernel.error.empty()) row.note = fmt::format("({})", kernel.error);
    for (size_t i = 0; i < names.size() && kernel.error.empty(); ++i) {
      auto found = std::find_if(
          kernel.statistics.begin(), kernel.statistics.end(),
          [&](const vulkan::PipelineStatistic& statistic) { return statistic.name == names[i]; });
      row.cells.push_back(found == kernel.statistics.end() ? "-" : found->value);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// Prints `rows` as columns: the first left-aligned, the others right-aligned.
void print_table(const std::vector<TableRow>& rows) {
  std::vector<size_t> widths;
  for (const TableRow& row : rows) {
    widths.resize(std::max(widths.size(), row.cells.size()), 0);
    for (size_t i = 0; i < row.cells.size(); ++i)
      widths[i] = std::max(widths[i], row.cells[i].size());
  }
  for (const TableRow& row : rows) {
    std::string line = fmt::format("{:<{}}", row.cells[0], widths[0]);
    for (size_t i = 1; i < row.cells.size(); ++i)
      line += fmt::format("  {:>{}}", row.cells[i], widths[i]);
    if (!row.note.empty()) line += "  " + row.note;
    fmt::print("{}\n", line);
  }
}

// Creates every kernel on device `index` as the backend would (default pipeline options) with
// statistics captured, and prints them; a line instead when the driver cannot report them.
void print_pipeline_statistics(uint32_t index) {
  std::vector<vulkan::DeviceInfo> devices = vulkan::list_devices();
  if (devices.empty()) {
    fmt::print("no Vulkan device found\n");
    return;
  }
  if (index >= devices.size())
    fail("Vulkan device {} does not exist ({} found; `quant devices` lists them)", index,
         devices.size());
  const vulkan::DeviceInfo& device = devices[index];
  if (!device.pipeline_statistics) {
    fmt::print(
        "[{}] {}: the driver reports no pipeline statistics (it lacks "
        "VK_KHR_pipeline_executable_properties or its pipelineExecutableInfo feature)\n",
        device.index, device.name);
    return;
  }
  vulkan::Context context({.device_index = index, .capture_pipeline_statistics = true});
  vulkan::Pipelines pipelines(context);
  const std::vector<vulkan::KernelStatistics> kernels =
      vulkan::collect_pipeline_statistics(pipelines);
  fmt::print("[{}] {} ({}): pipeline statistics of {} kernels\n", device.index, device.name,
             device.driver, kernels.size());
  print_table(statistics_rows(kernels, statistic_names(kernels)));
}
#endif

}  // namespace

void add_devices_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List the Vulkan devices and their key limits");
  auto args = std::make_shared<DevicesArgs>();
  auto* statistics = cmd->add_flag(
      "--pipeline-statistics", args->pipeline_statistics,
      "Create every kernel on one device and print the compiler statistics its driver reports "
      "(VK_KHR_pipeline_executable_properties; on NVIDIA: registers, shared and local memory)");
  cmd->add_option("--device", args->device,
                  "With --pipeline-statistics: the device index, as `quant devices` lists them")
      ->capture_default_str()
      ->needs(statistics);
  cmd->callback([args] {
#if QUANT_HAVE_VULKAN
    if (args->pipeline_statistics)
      print_pipeline_statistics(args->device);
    else
      print_devices();
#else
    fmt::print(
        "this quant was built without Vulkan (QUANT_VULKAN=OFF, or no Vulkan headers or glslc)\n");
#endif
  });
}

}  // namespace quant::cli
