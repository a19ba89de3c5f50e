// The inputs of a batch of prompt tokens, written by the host before each submission so that one
// recording serves every batch of its size (src/backend/vulkan/batch_kernels.h: BatchInputs): the
// position of the batch's first token, then the batch's token ids. Token i of the batch is at
// position batch_pos + i.
#define DECLARE_BATCH_INPUTS(binding_index)                   \
  layout(binding = binding_index) readonly buffer BatchInputs { \
    uint batch_pos;                                           \
    uint batch_tokens[];                                      \
  };
