#pragma once
// How many threads the CPU backend runs by default.

#include <cstdint>

namespace quant::cpu {

// The physical cores this process may run on: the CPUs of its affinity mask, with the SMT siblings
// of a core counted once (Linux: /sys/devices/system/cpu/cpuN/topology). Where that cannot be read,
// the hardware threads (std::thread::hardware_concurrency). At least 1. Matrix products gain little
// from a core's second hardware thread, and a decode step waits for its slowest thread.
uint32_t physical_core_count();

}  // namespace quant::cpu
