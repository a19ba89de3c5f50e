#include "backend/vulkan/argmax_kernel.h"

#include "backend/vulkan/kernels.h"
#include "common/error.h"

namespace quant::vulkan {

namespace {

// Values each invocation compares before the workgroup reduces: enough work per workgroup to hide
// the reduction, few enough workgroups that the last one's pass over their pairs stays short (the
// H200's 152k logits: about 150 workgroups of 128 invocations).
constexpr uint64_t kValuesPerInvocation = 8;

// The shader's Scratch block: the count, then the pairs.
constexpr uint64_t kCounterBytes = sizeof(uint32_t);
constexpr uint64_t kPairBytes = sizeof(ArgmaxResult);

}  // namespace

uint64_t argmax_values_per_group(const Pipelines& pipelines) {
  return pipelines.workgroup_size("argmax") * kValuesPerInvocation;
}

uint64_t argmax_scratch_bytes(const Pipelines& pipelines, uint64_t n) {
  return kCounterBytes + group_count(n, argmax_values_per_group(pipelines)) * kPairBytes;
}

void encode_argmax(CommandSequence& sequence, const BufferRange& values, uint32_t n,
                   const BufferRange& scratch, const BufferRange& result,
                   const BufferRange* next_step) {
  const Pipelines& pipelines = sequence.pipelines();
  if (n == 0) fail("Vulkan argmax: no values");
  if (values.size < uint64_t{n} * sizeof(float))
    fail("Vulkan argmax: {} values in a binding of {} bytes", n, values.size);
  if (scratch.size < argmax_scratch_bytes(pipelines, n))
    fail("Vulkan argmax: {} bytes of scratch, {} values need {}", scratch.size, n,
         argmax_scratch_bytes(pipelines, n));
  if (result.size < sizeof(ArgmaxResult))
    fail("Vulkan argmax: a result binding of {} bytes", result.size);
  if (next_step != nullptr && next_step->size < sizeof(StepInputs))
    fail("Vulkan argmax: next step inputs of {} bytes", next_step->size);
  const uint64_t per_group = argmax_values_per_group(pipelines);
  struct Push {
    uint32_t n;
    uint32_t values_per_group;
    uint32_t advance_step;
  } push{n, static_cast<uint32_t>(per_group), next_step != nullptr ? 1u : 0u};
  // Unused, the next step is bound to the result (written anyway).
  sequence.dispatch("argmax", {values, scratch, result, next_step ? *next_step : result}, push,
                    sequence.linear_groups(group_count(n, per_group)));
}

}  // namespace quant::vulkan
