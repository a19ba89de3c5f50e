// `quant devices`: the Vulkan devices this machine offers and the limits the backend cares about,
// or a clear line saying there are none (or that this binary was built without Vulkan).

#include <fmt/format.h>

#include "commands.h"

#if QUANT_HAVE_VULKAN
#include "backend/vulkan/context.h"
#endif

namespace quant::cli {

namespace {

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
    fmt::print("    device-local memory          {}\n", mebibytes(device.device_local_bytes()));
    if (device.timestamps)
      fmt::print("    timestamp period             {} ns\n", device.timestamp_period_ns);
    else
      fmt::print("    timestamp period             (no timestamps on the compute queue)\n");
    if (!device.has_compute_queue || device.api_version < VK_API_VERSION_1_2)
      fmt::print("    not usable: the backend needs Vulkan 1.2 and a compute queue\n");
  }
}
#endif

}  // namespace

void add_devices_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List the Vulkan devices and their key limits");
  cmd->callback([] {
#if QUANT_HAVE_VULKAN
    print_devices();
#else
    fmt::print(
        "this quant was built without Vulkan (QUANT_VULKAN=OFF, or no Vulkan headers or glslc)\n");
#endif
  });
}

}  // namespace quant::cli
