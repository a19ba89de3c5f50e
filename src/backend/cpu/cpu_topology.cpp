#include "backend/cpu/cpu_topology.h"

#include <algorithm>
#include <thread>

#if defined(__linux__)
#include <sched.h>

#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <utility>
#endif

namespace quant::cpu {
namespace {

uint32_t hardware_threads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

#if defined(__linux__)
std::optional<int> read_topology_value(int cpu, const char* name) {
  std::ifstream file("/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/" + name);
  int value = 0;
  if (!(file >> value)) return std::nullopt;
  return value;
}
#endif

}  // namespace

uint32_t physical_core_count() {
#if defined(__linux__)
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return hardware_threads();
  std::set<std::pair<int, int>> cores;  // (package, core id)
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    const std::optional<int> package = read_topology_value(cpu, "physical_package_id");
    const std::optional<int> core = read_topology_value(cpu, "core_id");
    if (!package || !core) return static_cast<uint32_t>(std::max(1, CPU_COUNT(&allowed)));
    cores.emplace(*package, *core);
  }
  return std::max<uint32_t>(1, static_cast<uint32_t>(cores.size()));
#else
  return hardware_threads();
#endif
}

}  // namespace quant::cpu
