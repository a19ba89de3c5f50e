// The context, the pipeline table and the dispatch contract: device facts, what the table promises,
// the checks dispatch() makes, and where barriers go.

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <set>
#include <string>

#include "backend/vulkan/embedded_shaders.h"
#include "backend/vulkan/kernels.h"
#include "common/error.h"
#include "vulkan_test_device.h"

namespace quant::vulkan::test {
namespace {

class DeviceTest : public VulkanTest {};

TEST_F(DeviceTest, ReportsTheExpectedSubgroupSize) {
  const DeviceInfo& info = context().info();
  std::printf("subgroup size: %u\n", info.subgroup_size);
  EXPECT_TRUE(std::has_single_bit(info.subgroup_size));
  // ctest sets this for each registration (lavapipe: 8 at 256-bit vectors, 4 at 128-bit).
  if (const char* expected = std::getenv("QUANT_TEST_EXPECT_SUBGROUP_SIZE")) {
    EXPECT_EQ(info.subgroup_size, static_cast<uint32_t>(std::atoi(expected)));
  }
}

TEST_F(DeviceTest, ListsTheDeviceWithSaneLimits) {
  std::vector<DeviceInfo> devices = list_devices();
  ASSERT_FALSE(devices.empty());
  const DeviceInfo& info = context().info();
  EXPECT_EQ(devices.at(info.index).name, info.name);
  EXPECT_GE(info.api_version, VK_API_VERSION_1_2);
  EXPECT_TRUE(info.has_compute_queue);
  EXPECT_GE(info.max_storage_buffer_range, 1u << 27);
  EXPECT_GE(info.max_compute_workgroup_invocations, 128u);
  EXPECT_GT(info.device_local_bytes(), 0u);
  EXPECT_FALSE(info.driver.empty());
}

// The harness is only as good as its validation: two unordered writes to one buffer, recorded by
// hand without the barrier CommandSequence would place, must be reported by synchronization
// validation.
TEST_F(DeviceTest, SynchronizationValidationReportsAHazard) {
  Buffer buffer = make_buffer(256);
  VkDevice device = context().device();
  VkCommandPoolCreateInfo pool_info{};
  pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pool_info.queueFamilyIndex = context().queue_family();
  VkCommandPool pool = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreateCommandPool(device, &pool_info, nullptr, &pool), VK_SUCCESS);
  VkCommandBufferAllocateInfo allocate{};
  allocate.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  allocate.commandPool = pool;
  allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  allocate.commandBufferCount = 1;
  VkCommandBuffer commands = VK_NULL_HANDLE;
  ASSERT_EQ(vkAllocateCommandBuffers(device, &allocate, &commands), VK_SUCCESS);
  VkCommandBufferBeginInfo begin{};
  begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  ASSERT_EQ(vkBeginCommandBuffer(commands, &begin), VK_SUCCESS);
  vkCmdFillBuffer(commands, buffer.handle(), 0, VK_WHOLE_SIZE, 1);
  vkCmdFillBuffer(commands, buffer.handle(), 0, VK_WHOLE_SIZE, 2);  // write-after-write, no barrier
  ASSERT_EQ(vkEndCommandBuffer(commands), VK_SUCCESS);
  vkDestroyCommandPool(device, pool, nullptr);

  std::vector<std::string> messages = context().validation_messages();
  bool hazard = false;
  for (const std::string& message : messages)
    hazard |= message.find("WRITE_AFTER_WRITE") != std::string::npos;
  EXPECT_TRUE(hazard) << messages.size() << " messages, none about the hazard";
  context().clear_validation_messages();  // expected: not a failure of this test
}

TEST_F(DeviceTest, UnknownDeviceIndexIsAnError) {
  ContextOptions options;
  options.device_index = 1000;
  EXPECT_THROW(Context{options}, Error);
}

TEST_F(DeviceTest, EveryRecordHasItsShadersAndEveryShaderARecord) {
  std::set<std::string> expected;
  for (const PipelineRecord& record : pipeline_records()) {
    const std::string spirv(record.spirv.empty() ? record.name : record.spirv);
    expected.insert(spirv);
    if (record.reduces) expected.insert(spirv + "_shmem");
    EXPECT_LE(record.bindings, 9u) << record.name;  // the int8 mat-vecs bind the most
    EXPECT_EQ(record.written_bindings >> record.bindings, 0u) << record.name;
    EXPECT_EQ(record.push_constant_bytes % 4, 0u) << record.name;
  }
  std::set<std::string> embedded;
  for (const EmbeddedShader& shader : embedded_shaders()) {
    embedded.insert(std::string(shader.name));
    EXPECT_FALSE(shader.spirv.empty());
    EXPECT_EQ(shader.spirv[0], 0x07230203u) << shader.name;  // the SPIR-V magic number
  }
  EXPECT_EQ(expected, embedded);
}

TEST_F(DeviceTest, WorkgroupWidthFollowsTheSubgroupSize) {
  const DeviceInfo& info = context().info();
  uint32_t width = pipelines(true).workgroup_size("matvec_q4_0");
  EXPECT_EQ(width % info.subgroup_size, 0u);
  EXPECT_LE(width, info.max_compute_workgroup_invocations);
}

// Device limits made up for the widths: no device is needed.
TEST(WorkgroupWidth, HalvesToFitTheDeviceLimitsAndSharedMemory) {
  const PipelineRecord& add = *find_pipeline_record("add");  // 8 subgroups, no shared memory
  const PipelineRecord& prepared = *find_pipeline_record("attention_partial_rope_store");
  ASSERT_EQ(add.subgroups_per_workgroup, 8u);
  ASSERT_EQ(add.shared_bytes_per_invocation, 0u);
  ASSERT_EQ(prepared.subgroups_per_workgroup, 16u);
  ASSERT_GT(prepared.shared_bytes_per_invocation, 0u);
  DeviceInfo info;
  info.subgroup_size = 32;
  info.max_compute_workgroup_invocations = 1024;
  info.max_compute_workgroup_size = {1024, 1024, 64};
  info.max_compute_shared_memory_bytes = 48 * 1024;
  EXPECT_EQ(workgroup_width(add, info), 256u);
  EXPECT_EQ(workgroup_width(prepared, info), 512u);
  // Subgroups of 64 and the smallest shared memory Vulkan allows: 1024 invocations would need
  // more than 16 KiB, so the width halves until they fit.
  info.subgroup_size = 64;
  info.max_compute_shared_memory_bytes = 16 * 1024;
  EXPECT_EQ(workgroup_width(add, info), 512u);
  const uint32_t width = workgroup_width(prepared, info);
  EXPECT_LE(width * prepared.shared_bytes_per_invocation, info.max_compute_shared_memory_bytes);
  EXPECT_EQ(width, 128u);
  // A workgroup limit that is not a power of two: halved, not cut to 384.
  info.max_compute_workgroup_invocations = 384;
  EXPECT_EQ(workgroup_width(add, info), 256u);
}

TEST_F(DeviceTest, DispatchChecksTheCallAgainstTheRecord) {
  Buffer a = make_buffer(256);
  Buffer b = make_buffer(256);
  Buffer out = make_buffer(256);
  CommandSequence sequence(pipelines(true));
  sequence.begin();
  struct Count {
    uint32_t n;
  };
  struct TooBig {
    uint32_t n, extra;
  };
  // Wrong binding count, wrong push-constant size, unknown kernel, misaligned or overlong ranges.
  EXPECT_THROW(sequence.dispatch("add", {whole(a), whole(b)}, Count{4}, {1, 1, 1}), Error);
  EXPECT_THROW(sequence.dispatch("add", {whole(a), whole(b), whole(out)}, TooBig{4, 0}, {1, 1, 1}),
               Error);
  EXPECT_THROW(sequence.dispatch("no_such_kernel", {whole(a)}, Count{4}, {1, 1, 1}), Error);
  EXPECT_THROW(
      sequence.dispatch("add", {BufferRange{&a, 4, 64}, whole(b), whole(out)}, Count{4}, {1, 1, 1}),
      Error);
  EXPECT_THROW(sequence.dispatch("add", {BufferRange{&a, 0, 512}, whole(b), whole(out)}, Count{4},
                                 {1, 1, 1}),
               Error);
  EXPECT_THROW(sequence.dispatch("add", {whole(a), whole(b), whole(out)}, Count{4}, {0, 1, 1}),
               Error);
  uint32_t too_many = context().info().max_compute_workgroup_count[0] + 1;
  if (too_many != 0) {
    EXPECT_THROW(
        sequence.dispatch("add", {whole(a), whole(b), whole(out)}, Count{4}, {too_many, 1, 1}),
        Error);
  }
  EXPECT_EQ(sequence.dispatch_count(), 0u);
  sequence.end();
}

TEST_F(DeviceTest, BarriersOnlyWhereDataFlows) {
  const uint32_t n = 100;
  std::vector<float> values = random_floats(n, 1);
  Buffer a = upload_floats(values);
  Buffer b = upload_floats(values);
  Buffer c = make_buffer(n * 4);
  Buffer d = make_buffer(n * 4);
  Buffer e = make_buffer(n * 4);
  CommandSequence sequence(pipelines(true));
  sequence.begin();
  const uint32_t at_begin = sequence.barrier_count();
  encode_add(sequence, whole(a), whole(b), whole(c), n);  // c = a + b
  encode_add(sequence, whole(a), whole(a), whole(d), n);  // independent of c: no barrier
  EXPECT_EQ(sequence.barrier_count(), at_begin);
  encode_add(sequence, whole(c), whole(d), whole(e), n);  // reads c and d: one barrier
  EXPECT_EQ(sequence.barrier_count(), at_begin + 1);
  encode_add(sequence, whole(a), whole(b), whole(c), n);  // overwrites c, read just before: barrier
  EXPECT_EQ(sequence.barrier_count(), at_begin + 2);
  sequence.end();
  sequence.submit_and_wait();
  std::vector<float> result = download_floats(e, n);
  for (uint32_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(result[i], 4.0f * values[i]) << i;
}

TEST_F(DeviceTest, TimestampsTimeEveryCommand) {
  if (!context().info().timestamps) GTEST_SKIP() << "skipped: the device has no timestamps";
  const uint32_t n = 1000;
  std::vector<float> values = random_floats(n, 2);
  Buffer a = upload_floats(values);
  Buffer b = make_buffer(n * 4);
  Buffer c = make_buffer(n * 4);
  CommandSequence sequence(pipelines(true), Timestamps::EveryCommand, 3);
  sequence.begin();
  sequence.set_label("first", 0);
  encode_add(sequence, whole(a), whole(a), whole(b), n);
  sequence.set_label("second", 1);
  encode_add(sequence, whole(a), whole(b), whole(c), n);
  sequence.copy(c, 0, b, 0, n * 4);
  sequence.end();
  sequence.submit_and_wait();

  const std::vector<double> seconds = sequence.last_command_seconds();
  ASSERT_EQ(seconds.size(), 3u);
  for (double s : seconds) EXPECT_GE(s, 0.0);
  EXPECT_GT(sequence.last_seconds(), 0.0);
  const std::vector<CommandInfo>& infos = sequence.command_infos();
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].kernel, "add");
  EXPECT_EQ(infos[0].label, "first");
  EXPECT_EQ(infos[1].layer, 1);
  EXPECT_EQ(infos[2].kernel, "copy");
  EXPECT_EQ(infos[2].bytes, 2u * n * 4);
  // A fourth command does not fit the three timestamps asked for.
  sequence.begin();
  for (int i = 0; i < 3; ++i) encode_add(sequence, whole(a), whole(a), whole(b), n);
  EXPECT_THROW(encode_add(sequence, whole(a), whole(a), whole(b), n), Error);
  sequence.end();
}

}  // namespace
}  // namespace quant::vulkan::test
