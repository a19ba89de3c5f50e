#pragma once
// The greedy choice on the device: the largest of a vector of floats (the logits) and the index of
// its first occurrence, in one dispatch (shaders/argmax.comp), so that only those 8 bytes need to
// reach the host.

#include <cstdint>

#include "backend/vulkan/command_sequence.h"
#include "backend/vulkan/memory.h"
#include "backend/vulkan/pipelines.h"

namespace quant::vulkan {

// What the kernel writes (the shader's Result block). The value comes first so that the index and
// whatever follows it in memory (a greedy chain's position) form a StepInputs.
struct ArgmaxResult {
  float value = 0.0f;
  uint32_t index = 0;
};

// Values one workgroup compares on this device (the last workgroup also reduces the others' pairs).
uint64_t argmax_values_per_group(const Pipelines& pipelines);

// Bytes of scratch encode_argmax needs for n values on this device: a finished-workgroup count and
// one (value, index) pair per workgroup.
uint64_t argmax_scratch_bytes(const Pipelines& pipelines, uint64_t n);

// result = the largest of values[0 .. n-1] and the lowest index holding it (std::max_element's
// choice), NaN counting as -infinity (index 0 and -infinity when nothing is larger). `scratch`
// holds argmax_scratch_bytes(n) bytes, zero before the first dispatch; each dispatch leaves it zero
// again, so one scratch serves every later dispatch that is ordered after it. n >= 1.
// With `next_step` (a StepInputs), the index also becomes its token and its position moves on by
// one: the inputs of the next token of a greedy chain, read there without a copy.
void encode_argmax(CommandSequence& sequence, const BufferRange& values, uint32_t n,
                   const BufferRange& scratch, const BufferRange& result,
                   const BufferRange* next_step = nullptr);

}  // namespace quant::vulkan
