// The GLSL mirror of src/formats/blocks.h: elements per block, bytes per block and the byte offset of
// each field. Shaders read blocks as bytes of a uint[] buffer (dequant.glsl), so only these numbers
// matter. Only #define lines here: tests/backend/vulkan/blocks_mirror_test.cpp includes this file from
// C++ and checks every number against the C++ structs.

#define BLOCK_Q4_0_ELEMENTS 32
#define BLOCK_Q4_0_BYTES 18
#define BLOCK_Q4_0_D 0
#define BLOCK_Q4_0_QS 2

#define BLOCK_Q4_1_ELEMENTS 32
#define BLOCK_Q4_1_BYTES 20
#define BLOCK_Q4_1_D 0
#define BLOCK_Q4_1_M 2
#define BLOCK_Q4_1_QS 4

#define BLOCK_Q5_0_ELEMENTS 32
#define BLOCK_Q5_0_BYTES 22
#define BLOCK_Q5_0_D 0
#define BLOCK_Q5_0_QH 2
#define BLOCK_Q5_0_QS 6

#define BLOCK_Q5_1_ELEMENTS 32
#define BLOCK_Q5_1_BYTES 24
#define BLOCK_Q5_1_D 0
#define BLOCK_Q5_1_M 2
#define BLOCK_Q5_1_QH 4
#define BLOCK_Q5_1_QS 8

// Q8_0 and Q6_K rows are repacked on upload (src/backend/vulkan/weight_layout.h): the shaders know
// only the sizes of the parts of a block that the repacked row keeps together.
#define DEVICE_Q8_0_QS_BYTES 32
#define DEVICE_Q6_K_QUANT_BYTES 192
#define DEVICE_Q6_K_SCALE_BYTES 16

#define BLOCK_Q4_K_ELEMENTS 256
#define BLOCK_Q4_K_BYTES 144
#define BLOCK_Q4_K_D 0
#define BLOCK_Q4_K_DMIN 2
#define BLOCK_Q4_K_SCALES 4
#define BLOCK_Q4_K_QS 16

#define BLOCK_Q5_K_ELEMENTS 256
#define BLOCK_Q5_K_BYTES 176
#define BLOCK_Q5_K_D 0
#define BLOCK_Q5_K_DMIN 2
#define BLOCK_Q5_K_SCALES 4
#define BLOCK_Q5_K_QH 16
#define BLOCK_Q5_K_QS 48
