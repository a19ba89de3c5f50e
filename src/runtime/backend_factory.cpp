#include "runtime/backend_factory.h"

#include <cstdio>

#include "backend/cpu/cpu_backend.h"
#include "common/error.h"
#if QUANT_HAVE_VULKAN
#include "backend/vulkan/context.h"
#include "backend/vulkan/vulkan_backend.h"
#endif

namespace quant {

std::optional<BackendChoice> parse_backend_choice(std::string_view name) {
  if (name == "auto") return BackendChoice::Auto;
  if (name == "cpu") return BackendChoice::Cpu;
  if (name == "vulkan") return BackendChoice::Vulkan;
  return std::nullopt;
}

std::string_view backend_choice_name(BackendChoice choice) {
  switch (choice) {
    case BackendChoice::Auto:
      return "auto";
    case BackendChoice::Cpu:
      return "cpu";
    case BackendChoice::Vulkan:
      return "vulkan";
  }
  return "unknown";
}

namespace {

std::unique_ptr<Backend> create_cpu_backend(const plan::Plan& plan, const BackendOptions& options) {
  return std::make_unique<cpu::CpuBackend>(plan, cpu::CpuBackendOptions{
                                                     .threads = options.threads,
                                                     .context_length = options.context_length,
                                                     .max_batch = options.max_batch,
                                                     .exact_activations = options.exact_activations,
                                                 });
}

#if QUANT_HAVE_VULKAN
std::unique_ptr<Backend> create_vulkan_backend(const plan::Plan& plan,
                                               const BackendOptions& options) {
  vulkan::VulkanBackendOptions vulkan_options;
  vulkan_options.device_index = options.device;
  vulkan_options.context_length = options.context_length;
  vulkan_options.pipelines.integer_dot_products = !options.exact_activations;
  return std::make_unique<vulkan::VulkanBackend>(plan, vulkan_options);
}

// Auto runs on the Vulkan device `options.device` only when it is a real GPU: a CPU implementation
// of Vulkan (lavapipe) is slower than the CPU backend. Returns why not, or nothing when it is one.
std::optional<std::string> reason_not_to_use_gpu(const BackendOptions& options) {
  const std::vector<vulkan::DeviceInfo> devices = vulkan::list_devices();
  if (devices.empty()) return "no Vulkan device";
  if (options.device >= devices.size()) return fmt::format("no Vulkan device {}", options.device);
  if (devices[options.device].type == "CPU")
    return fmt::format("Vulkan device {} ({}) is not a GPU", options.device,
                       devices[options.device].name);
  return std::nullopt;
}
#endif

}  // namespace

std::unique_ptr<Backend> create_backend(const plan::Plan& plan, const BackendOptions& options) {
  switch (options.choice) {
    case BackendChoice::Cpu:
      return create_cpu_backend(plan, options);
    case BackendChoice::Vulkan:
#if QUANT_HAVE_VULKAN
      return create_vulkan_backend(plan, options);
#else
      fail(
          "this build has no Vulkan backend (it was built with QUANT_VULKAN=OFF or without the "
          "Vulkan headers and glslc); use --backend cpu");
#endif
    case BackendChoice::Auto:
      break;
  }
#if QUANT_HAVE_VULKAN
  std::optional<std::string> reason = reason_not_to_use_gpu(options);
  if (!reason) {
    try {
      return create_vulkan_backend(plan, options);
    } catch (const Error& e) {
      reason = e.what();
    }
  }
  // The one line that says why auto did not pick the GPU (the run header names the backend).
  std::fprintf(stderr, "quant: %s; running on the CPU\n", reason->c_str());
#endif
  return create_cpu_backend(plan, options);
}

}  // namespace quant
