#version 450
#extension GL_GOOGLE_include_directive : require
// The largest of n values and the index of its first occurrence: among equal largest values the
// lowest index wins, as std::max_element. NaN counts as -infinity, so it is never chosen over a
// number; when no value is larger than -infinity the result is index 0 with value -infinity.
//
// Two stages in one dispatch: each workgroup reduces its values_per_group values to one (value,
// index) pair in the scratch buffer, and the last workgroup to finish (counted with an atomic)
// reduces those pairs in workgroup order and writes the result. Every step keeps the lower index
// on ties, so the result does not depend on which workgroup finishes when.

#include "common.glsl"

layout(binding = 0) readonly buffer Values { float x[]; };

struct Candidate {
  float value;
  uint index;  // NO_INDEX: no value seen yet
};

// Coherent: the last workgroup reads the pairs that the others wrote. `finished_groups` is 0 before
// the dispatch and after it (the last workgroup puts it back).
layout(binding = 1) coherent buffer Scratch {
  uint finished_groups;
  Candidate partials[];
};

// Value first: the index is followed by what the host puts after it (the greedy chain's
// position), so both can be copied on as one StepInputs.
layout(binding = 2) writeonly buffer Result {
  float result_value;
  uint result_index;
};

// With advance_step, the next token's step inputs (a StepInputs: token, position): the index
// becomes the token and the position moves on by one, so that a greedy chain's next recording
// reads them in place (greedy_chain.h).
layout(binding = 3) buffer NextStep {
  uint next_token;
  uint next_pos;
};

layout(push_constant) uniform Push {
  uint n;
  uint values_per_group;  // a multiple of the workgroup width
  uint advance_step;      // 1: write NextStep
} pc;

const uint NO_INDEX = 0xffffffffu;
#define NEGATIVE_INFINITY uintBitsToFloat(0xff800000u)

// Whether b goes before a: larger, or as large with a lower index (no value seen has the highest
// index of all, so any value seen goes before it).
bool better(Candidate b, Candidate a) {
  return b.value > a.value || (b.value == a.value && b.index < a.index);
}

shared float group_values[WORKGROUP_SIZE];
shared uint group_indices[WORKGROUP_SIZE];
shared bool is_last_group;

// The best candidate of the workgroup, for every invocation. Uniform control flow.
Candidate workgroup_best(Candidate c) {
#ifdef USE_SUBGROUP_ARITHMETIC
  const float largest = subgroupMax(c.value);
  const uint index = subgroupMin(c.value == largest ? c.index : NO_INDEX);
  // The value at that index: -0 and +0 compare equal, and subgroupMax may return either.
  c = Candidate(subgroupMax(c.index == index ? c.value : NEGATIVE_INFINITY), index);
  if (gl_NumSubgroups == 1u) return c;
  if (subgroupElect()) {
    group_values[gl_SubgroupID] = c.value;
    group_indices[gl_SubgroupID] = c.index;
  }
  barrier();
  Candidate best = Candidate(NEGATIVE_INFINITY, NO_INDEX);
  for (uint i = 0; i < gl_NumSubgroups; ++i) {
    const Candidate other = Candidate(group_values[i], group_indices[i]);
    if (better(other, best)) best = other;
  }
  barrier();  // the shared arrays may be reused right after
  return best;
#else
  const uint lane = gl_LocalInvocationIndex;
  group_values[lane] = c.value;
  group_indices[lane] = c.index;
  barrier();
  for (uint remaining = WORKGROUP_SIZE; remaining > 1u;) {
    const uint upper = (remaining + 1u) / 2u;
    if (lane + upper < remaining) {
      const Candidate other = Candidate(group_values[lane + upper], group_indices[lane + upper]);
      if (better(other, Candidate(group_values[lane], group_indices[lane]))) {
        group_values[lane] = other.value;
        group_indices[lane] = other.index;
      }
    }
    barrier();
    remaining = upper;
  }
  const Candidate best = Candidate(group_values[0], group_indices[0]);
  barrier();
  return best;
#endif
}

void main() {
  const uint n_groups = (pc.n + pc.values_per_group - 1u) / pc.values_per_group;
  const uint group = linear_workgroup_id();
  if (group >= n_groups) return;  // the padding of a 2D grid: the whole workgroup leaves
  const uint lane = gl_LocalInvocationIndex;

  // Adjacent invocations read adjacent values; each invocation sees its values in index order, so
  // a strict comparison keeps the first of equal values.
  Candidate mine = Candidate(NEGATIVE_INFINITY, NO_INDEX);
  const uint first = group * pc.values_per_group;
  const uint end = min(first + pc.values_per_group, pc.n);
  for (uint i = first + lane; i < end; i += WORKGROUP_SIZE) {
    const float value = isnan(x[i]) ? NEGATIVE_INFINITY : x[i];
    if (mine.index == NO_INDEX || value > mine.value) mine = Candidate(value, i);
  }
  const Candidate group_best = workgroup_best(mine);

  if (lane == 0u) {
    partials[group] = group_best;
    memoryBarrierBuffer();  // the pair is visible before the count says it is there
    is_last_group = atomicAdd(finished_groups, 1u) == n_groups - 1u;
  }
  barrier();
  if (!is_last_group) return;
  memoryBarrierBuffer();

  Candidate best = Candidate(NEGATIVE_INFINITY, NO_INDEX);
  for (uint g = lane; g < n_groups; g += WORKGROUP_SIZE)
    if (better(partials[g], best)) best = partials[g];
  best = workgroup_best(best);
  if (lane == 0u) {
    result_value = best.value;
    result_index = best.index;
    finished_groups = 0u;
    if (pc.advance_step != 0u) {
      next_token = best.index;
      next_pos = next_pos + 1u;
    }
  }
}
