// Workgroup-wide sum and max. Every invocation of the workgroup must call them (uniform control flow);
// every invocation gets the result. With USE_SUBGROUP_ARITHMETIC the subgroups reduce first and the
// per-subgroup partials meet in shared memory; without it a shared-memory tree does all the work. Both
// work for any subgroup size and any workgroup width, and both add in a fixed order (deterministic).

shared float reduce_scratch[WORKGROUP_SIZE];

#ifdef USE_SUBGROUP_ARITHMETIC

float workgroup_sum(float value) {
  value = subgroupAdd(value);
  if (gl_NumSubgroups == 1u) return value;  // uniform: every invocation returns here
  if (subgroupElect()) reduce_scratch[gl_SubgroupID] = value;
  barrier();
  float total = 0.0;
  for (uint i = 0; i < gl_NumSubgroups; ++i) total += reduce_scratch[i];
  barrier();  // the scratch may be reused right after
  return total;
}

// Two sums for the barriers of one (where the subgroups' two partials fit the scratch).
vec2 workgroup_sum2(vec2 value) {
  if (2u * gl_NumSubgroups > WORKGROUP_SIZE)
    return vec2(workgroup_sum(value.x), workgroup_sum(value.y));
  value = subgroupAdd(value);
  if (gl_NumSubgroups == 1u) return value;
  if (subgroupElect()) {
    reduce_scratch[2u * gl_SubgroupID] = value.x;
    reduce_scratch[2u * gl_SubgroupID + 1u] = value.y;
  }
  barrier();
  vec2 total = vec2(0.0);
  for (uint i = 0; i < gl_NumSubgroups; ++i)
    total += vec2(reduce_scratch[2u * i], reduce_scratch[2u * i + 1u]);
  barrier();
  return total;
}

float workgroup_max(float value) {
  value = subgroupMax(value);
  if (gl_NumSubgroups == 1u) return value;
  if (subgroupElect()) reduce_scratch[gl_SubgroupID] = value;
  barrier();
  float result = LOWEST_FLOAT;
  for (uint i = 0; i < gl_NumSubgroups; ++i) result = max(result, reduce_scratch[i]);
  barrier();
  return result;
}

#else

// Halves the number of remaining values each step; `remaining` need not be a power of two.
#define TREE_REDUCE(combine)                                                          \
  uint lane = gl_LocalInvocationIndex;                                                \
  reduce_scratch[lane] = value;                                                       \
  barrier();                                                                          \
  for (uint remaining = WORKGROUP_SIZE; remaining > 1u;) {                            \
    uint upper = (remaining + 1u) / 2u;                                               \
    if (lane + upper < remaining)                                                     \
      reduce_scratch[lane] = combine(reduce_scratch[lane], reduce_scratch[lane + upper]);\
    barrier();                                                                        \
    remaining = upper;                                                                \
  }                                                                                   \
  float result = reduce_scratch[0];                                                   \
  barrier();                                                                          \
  return result;

float add_values(float a, float b) { return a + b; }

float workgroup_sum(float value) { TREE_REDUCE(add_values) }
float workgroup_max(float value) { TREE_REDUCE(max) }
vec2 workgroup_sum2(vec2 value) { return vec2(workgroup_sum(value.x), workgroup_sum(value.y)); }

#endif
