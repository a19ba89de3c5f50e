#pragma once
// The SPIR-V of every shader variant, compiled from shaders/*.comp by glslc at build time and
// embedded by cmake/EmbedShaders.cmake (the table's source is generated into the build folder).

#include <cstdint>
#include <span>
#include <string_view>

namespace quant::vulkan {

struct EmbeddedShader {
  std::string_view name;  // the variant: "matvec_q4_k", "matvec_q4_k_shmem", "rope", ...
  std::span<const uint32_t> spirv;
};

std::span<const EmbeddedShader> embedded_shaders();

// The variant called `name`, or nullptr.
inline const EmbeddedShader* find_embedded_shader(std::string_view name) {
  for (const EmbeddedShader& shader : embedded_shaders())
    if (shader.name == name) return &shader;
  return nullptr;
}

}  // namespace quant::vulkan
