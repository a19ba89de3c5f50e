// `quant devices` as a user runs it: the help names --pipeline-statistics, --device needs it, and
// on a Vulkan device (lavapipe in CI) --pipeline-statistics prints one row per kernel with the
// driver's statistics, or one line saying the driver has none.

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tools/tool_test_support.h"

#if QUANT_HAVE_VULKAN
#include "backend/vulkan/context.h"
#endif

namespace quant::test {
namespace {

// The whitespace-separated cells of the output line that starts with `first` followed by a space,
// or nothing.
std::vector<std::string> row_of(const std::string& output, const std::string& first) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(first + " ", 0) != 0) continue;
    std::istringstream words(line);
    std::vector<std::string> cells;
    for (std::string word; words >> word;) cells.push_back(word);
    return cells;
  }
  return {};
}

TEST(DevicesCliTest, HelpNamesPipelineStatistics) {
  const CommandResult result = run_quant({"devices", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find("--pipeline-statistics"), std::string::npos) << result.output;
}

TEST(DevicesCliTest, DeviceNeedsPipelineStatistics) {
  EXPECT_NE(run_quant({"devices", "--device", "0"}).exit_code, 0);
}

#if QUANT_HAVE_VULKAN
// The kernels the backend creates, each with at least one statistic, in record order (the int8
// mat-vec only where the device runs it); or the one line for a driver without the extension.
TEST(DevicesCliTest, PipelineStatisticsListEveryKernel) {
  const std::vector<vulkan::DeviceInfo> devices = vulkan::list_devices();
  if (devices.empty()) GTEST_SKIP() << "skipped: no Vulkan device";
  const CommandResult result = run_quant({"devices", "--pipeline-statistics"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const vulkan::DeviceInfo& device = devices[0];
  if (!device.pipeline_statistics) {
    EXPECT_NE(result.output.find("reports no pipeline statistics"), std::string::npos)
        << result.output;
    return;
  }
  const std::vector<std::string> header = row_of(result.output, "kernel");
  ASSERT_GT(header.size(), 2u) << result.output;  // kernel, workgroup, then the statistics

  std::vector<std::string> kernels = {"matmul_q4_k", "rms_norm"};
  if (!device.subgroup_arithmetic) kernels.back() += "_shmem";
  if (device.integer_dot_product && device.subgroup_arithmetic)
    kernels.insert(kernels.begin(), "matvec_int8_q4_k");
  for (const std::string& kernel : kernels) {
    SCOPED_TRACE(kernel);
    const std::vector<std::string> row = row_of(result.output, kernel);
    ASSERT_GT(row.size(), 2u) << result.output;
    EXPECT_GT(std::stoul(row[1]), 0u);  // the workgroup size
    EXPECT_NE(row[2].front(), '(') << "an error instead of statistics: " << row[2];
  }
  EXPECT_LT(result.output.find("\nmatvec_q4_k "), result.output.find("\nmatmul_q4_k "));
}
#endif

}  // namespace
}  // namespace quant::test
