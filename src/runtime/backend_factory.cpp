#include "runtime/backend_factory.h"

#include "backend/cpu/cpu_backend.h"
#include "common/error.h"

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

std::unique_ptr<Backend> create_backend(const plan::Plan& plan, const BackendOptions& options) {
  switch (options.choice) {
    case BackendChoice::Vulkan:
      fail("the vulkan backend is not available in this build yet (use --backend cpu)");
    case BackendChoice::Auto:
    case BackendChoice::Cpu:
      break;
  }
  return std::make_unique<cpu::CpuBackend>(plan, cpu::CpuBackendOptions{
                                                     .threads = options.threads,
                                                     .context_length = options.context_length,
                                                     .max_batch = options.max_batch,
                                                     .exact_activations = options.exact_activations,
                                                 });
}

}  // namespace quant
