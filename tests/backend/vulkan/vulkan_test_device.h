#pragma once
// The Vulkan device every test of this executable shares: lavapipe in CI (ctest pins it with
// VK_DRIVER_FILES), with the Khronos validation layer and synchronization validation on. A test
// fixture fails a test that leaves any validation message behind, and skips (saying why) where
// there is no Vulkan device or no validation layer.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/context.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"

namespace quant::vulkan::test {

struct TestDevice {
  std::unique_ptr<Context> context;
  std::unique_ptr<Transfer> transfer;
  std::unique_ptr<Pipelines>
      subgroup_pipelines;  // subgroup-arithmetic reductions (where the device has them)
  std::unique_ptr<Pipelines> shmem_pipelines;  // shared-memory reductions
  // Subgroup reductions, float mat-vecs only (no int8 kernels even where the device has them).
  std::unique_ptr<Pipelines> float_matvec_pipelines;
  std::string unavailable;  // why there is no device; empty when there is one
};

// Why Vulkan tests cannot run here (no validation layer, no device), or empty when they can.
std::string vulkan_unavailable_reason();

// Keeps lavapipe and the validation layer loaded until exit: LeakSanitizer reports their
// allocations as leaks once they are unloaded at instance destruction. Call after creating an
// instance.
void keep_vulkan_libraries_loaded();

// Created on first use and kept for the whole executable (pipeline creation is slow on lavapipe).
TestDevice& test_device();

// Base of every test that uses the device.
class VulkanTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  Context& context() { return *test_device().context; }
  Transfer& transfer() { return *test_device().transfer; }
  Pipelines& pipelines(bool subgroup_arithmetic) {
    return subgroup_arithmetic ? *test_device().subgroup_pipelines : *test_device().shmem_pipelines;
  }
  Pipelines& float_matvec_pipelines() { return *test_device().float_matvec_pipelines; }

  Buffer make_buffer(uint64_t bytes, MemoryRole role = MemoryRole::Activations,
                     std::string name = "test");
  Buffer upload_floats(std::span<const float> values, std::string name = "test");
  Buffer upload_bytes(std::span<const uint8_t> bytes, std::string name = "test");
  std::vector<float> download_floats(const Buffer& buffer, uint64_t n);
};

// Deterministic random floats uniform in [low, high).
std::vector<float> random_floats(uint64_t n, uint32_t seed, float low = -1.0f, float high = 1.0f);

// Names the cases of a test parameterized by "use subgroup arithmetic": "subgroup" or "shmem".
std::string reduction_case_name(const ::testing::TestParamInfo<bool>& param);

// sum((actual - expected)^2) / sum(expected^2): the error measure of the kernel tests.
double nmse(std::span<const float> actual, std::span<const float> expected);

}  // namespace quant::vulkan::test
