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

#define BLOCK_Q8_0_ELEMENTS 32
#define BLOCK_Q8_0_BYTES 34
#define BLOCK_Q8_0_D 0
#define BLOCK_Q8_0_QS 2

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

#define BLOCK_Q6_K_ELEMENTS 256
#define BLOCK_Q6_K_BYTES 210
#define BLOCK_Q6_K_QL 0
#define BLOCK_Q6_K_QH 128
#define BLOCK_Q6_K_SCALES 192
#define BLOCK_Q6_K_D 208
