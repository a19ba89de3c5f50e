#include "vulkan_test_device.h"

#include <dlfcn.h>

#include <cstdio>
#include <random>

#include "common/error.h"

namespace quant::vulkan::test {

namespace {

std::unique_ptr<TestDevice> create_test_device() {
  auto device = std::make_unique<TestDevice>();
  if (!validation_layer_available()) {
    device->unavailable =
        "the Vulkan validation layer (VK_LAYER_KHRONOS_validation) is not installed";
    return device;
  }
  if (list_devices().empty()) {
    device->unavailable = "no Vulkan device found";
    return device;
  }
  ContextOptions options;
  options.validation = true;
  device->context = std::make_unique<Context>(options);
  // Keep the driver and the layer loaded until exit: LeakSanitizer reports their allocations as
  // leaks once they are unloaded at instance destruction.
  dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  dlopen("libVkLayer_khronos_validation.so", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  const DeviceInfo& info = device->context->info();
  std::printf("Vulkan test device: %s, subgroup size %u%s%s\n", info.name.c_str(),
              info.subgroup_size, info.subgroup_arithmetic ? "" : " (no subgroup arithmetic)",
              info.integer_dot_product ? "" : " (no integer dot products)");
  device->transfer = std::make_unique<Transfer>(*device->context, 1u << 20);
  device->subgroup_pipelines = std::make_unique<Pipelines>(*device->context);
  device->shmem_pipelines =
      std::make_unique<Pipelines>(*device->context, PipelineOptions{.subgroup_arithmetic = false});
  device->float_matvec_pipelines =
      std::make_unique<Pipelines>(*device->context, PipelineOptions{.integer_dot_products = false});
  return device;
}

}  // namespace

std::string vulkan_unavailable_reason() {
  if (!validation_layer_available())
    return "the Vulkan validation layer (VK_LAYER_KHRONOS_validation) is not installed";
  if (list_devices().empty()) return "no Vulkan device found";
  return "";
}

void keep_vulkan_libraries_loaded() {
  dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  dlopen("libVkLayer_khronos_validation.so", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

TestDevice& test_device() {
  static std::unique_ptr<TestDevice> device = create_test_device();
  return *device;
}

void VulkanTest::SetUp() {
  TestDevice& device = test_device();
  if (!device.unavailable.empty()) GTEST_SKIP() << "skipped: " << device.unavailable;
  device.context->clear_validation_messages();
}

void VulkanTest::TearDown() {
  TestDevice& device = test_device();
  if (!device.context) return;
  for (const std::string& message : device.context->validation_messages())
    ADD_FAILURE() << "validation message: " << message;
  device.context->clear_validation_messages();
}

Buffer VulkanTest::make_buffer(uint64_t bytes, MemoryRole role, std::string name) {
  return Buffer(context(), bytes, role, std::move(name));
}

Buffer VulkanTest::upload_floats(std::span<const float> values, std::string name) {
  Buffer buffer = make_buffer(values.size_bytes(), MemoryRole::Activations, std::move(name));
  transfer().upload(buffer, 0, std::as_bytes(values));
  return buffer;
}

Buffer VulkanTest::upload_bytes(std::span<const uint8_t> bytes, std::string name) {
  Buffer buffer = make_buffer(bytes.size(), MemoryRole::Weights, std::move(name));
  transfer().upload(buffer, 0, std::as_bytes(bytes));
  return buffer;
}

std::vector<float> VulkanTest::download_floats(const Buffer& buffer, uint64_t n) {
  std::vector<float> values(n);
  transfer().download(buffer, 0, std::as_writable_bytes(std::span(values)));
  return values;
}

std::vector<float> random_floats(uint64_t n, uint32_t seed, float low, float high) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(n);
  for (float& value : values) value = distribution(generator);
  return values;
}

std::string reduction_case_name(const ::testing::TestParamInfo<bool>& param) {
  return param.param ? "subgroup" : "shmem";
}

double nmse(std::span<const float> actual, std::span<const float> expected) {
  if (actual.size() != expected.size()) return 1e30;
  double error = 0.0;
  double norm = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    double difference = static_cast<double>(actual[i]) - expected[i];
    error += difference * difference;
    norm += static_cast<double>(expected[i]) * expected[i];
  }
  return norm > 0.0 ? error / norm : error;
}

}  // namespace quant::vulkan::test
