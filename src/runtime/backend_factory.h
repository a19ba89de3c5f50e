#pragma once
// Choosing and creating a backend for a plan: the one place that knows every backend.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "plan/backend.h"
#include "plan/plan.h"

namespace quant {

enum class BackendChoice {
  Auto,  // a Vulkan GPU when there is one, else the CPU
  Cpu,
  Vulkan,
};

// "auto", "cpu", "vulkan" (the --backend values).
std::optional<BackendChoice> parse_backend_choice(std::string_view name);
std::string_view backend_choice_name(BackendChoice choice);

struct BackendOptions {
  BackendChoice choice = BackendChoice::Auto;
  uint32_t threads = 0;         // CPU threads; 0: the physical cores
  uint32_t context_length = 0;  // positions of the KV caches (> 0)
  uint32_t max_batch = 128;     // tokens per batched step
  // F32 activations in MatVec (CpuBackendOptions::exact_activations; on Vulkan the float
  // mat-vec kernels instead of the int8 ones).
  bool exact_activations = false;
  uint32_t device = 0;  // Vulkan: the device index (`quant devices`); the CPU ignores it
};

// Creates the chosen backend for `plan` (which must outlive it). Throws quant::Error when the
// choice is not available in this build.
std::unique_ptr<Backend> create_backend(const plan::Plan& plan, const BackendOptions& options);

}  // namespace quant
