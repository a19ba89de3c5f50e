// Included first by every kernel. The workgroup width is specialization constant 0, chosen by the host
// from the device's subgroup size (pipelines.cpp); nothing here assumes a width.
#ifdef USE_SUBGROUP_ARITHMETIC
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(constant_id = 0) const uint WORKGROUP_SIZE = 64;
layout(local_size_x_id = 0) in;

// Workgroups are launched as a 2D grid when one dimension would pass the device's limit; this is the
// workgroup's index in launch order.
uint linear_workgroup_id() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// Where item `index` of `count` 16-byte items lies when they are transposed in groups of four (the
// repacked Q8_0 rows, dequant.glsl, and the quantized handoff, quantized_activations.glsl): of the
// items in whole groups, item 0 of every group comes first, then item 1 of every group, and so on;
// the rest (fewer than four) follow in order. A lane that takes a group of four then reads
// neighbouring items with its neighbours at each load.
uint slot_in_fours(uint index, uint count) {
  uint groups = count / 4u;
  return index < 4u * groups ? (index % 4u) * groups + index / 4u : index;
}

// The per-token inputs (token id and position), written by the host before each submission so that a
// recorded command buffer can be submitted again for the next token.
#define DECLARE_STEP_INPUTS(binding_index)                  \
  layout(binding = binding_index) readonly buffer StepInputs { \
    uint step_token;                                         \
    uint step_pos;                                           \
  };

// The lowest finite float: the identity of max() (exp(LOWEST_FLOAT - m) is 0 for any finite m).
const float LOWEST_FLOAT = -3.402823466e38;
