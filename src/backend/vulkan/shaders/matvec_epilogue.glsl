// What the mat-vec kernels (matvec.comp, matvec_int8.comp) may do to a row's result as they write
// it, so that a llama layer's RoPE and KV store need no dispatches of their own (fusion.h):
//   ROPE   rotates adjacent pairs (y[2i], y[2i+1]) of the first n_rot values of each head of
//          head_dim rows by the angle step_pos * inverse_frequency[i], as rope.comp does with
//          neox = 0. A group of invocations computes ROWS (even) rows from an even first row and
//          every invocation holds all their sums, so both values of a pair are at hand.
//   STORE  also writes the row into row step_pos of `cache` (kv_dim floats per position): the keys
//          (after the rotation) or the values of this token.
// Included after the kernel's bindings 0..3 (y is binding 2) and flags (ACCUMULATE), before its push
// constants, whose last member is a MatVecEpilogue.

#include "rotation.glsl"

const uint ROPE = 8u, STORE = 16u;

struct MatVecEpilogue {
  uint head_dim;  // ROPE
  uint n_rot;     // ROPE
  uint kv_dim;    // STORE: floats per cache position (the rows of the whole matrix)
  uint capacity;  // STORE: positions the cache holds
};

DECLARE_STEP_INPUTS(4)
layout(binding = 5) readonly buffer Frequencies { float inverse_frequency[]; };
layout(binding = 6) writeonly buffer Cache { float cache[]; };

// What write_row reads besides the row's result: y's earlier value (ACCUMULATE) and the rotation's
// cosine and sine (ROPE). A kernel may load them before its dot products (row_inputs), so that
// their latency does not follow the sums.
struct RowInputs {
  float prior;
  vec2 rotation;
};
RowInputs row_inputs(uint row, uint flags, MatVecEpilogue epilogue) {
  RowInputs inputs = RowInputs(0.0, vec2(1.0, 0.0));
  if ((flags & ACCUMULATE) != 0u) inputs.prior = y[row];
  if ((flags & ROPE) != 0u) {
    uint in_head = row % epilogue.head_dim;
    if (in_head < epilogue.n_rot)
      inputs.rotation = cos_sin(float(step_pos) * inverse_frequency[in_head / 2u]);
  }
  return inputs;
}

// Writes `value`, the result of row `row` of y, with the epilogue `flags` ask for; `partner` is the
// result of the other row of its pair (row ^ 1), `inputs` the row's row_inputs. Returns what it
// wrote into y.
float write_row_with(uint row, float value, float partner, uint flags, MatVecEpilogue epilogue,
                     RowInputs inputs) {
  if ((flags & ROPE) != 0u) {
    uint in_head = row % epilogue.head_dim;
    if (in_head < epilogue.n_rot) {
      vec2 cs = inputs.rotation;
      value = (in_head & 1u) == 0u ? value * cs.x - partner * cs.y : partner * cs.y + value * cs.x;
    }
  }
  float written = (flags & ACCUMULATE) != 0u ? inputs.prior + value : value;
  y[row] = written;
  if ((flags & STORE) != 0u && step_pos < epilogue.capacity)
    cache[step_pos * epilogue.kv_dim + row] = value;
  return written;
}

float write_row(uint row, float value, float partner, uint flags, MatVecEpilogue epilogue) {
  return write_row_with(row, value, partner, flags, epilogue, row_inputs(row, flags, epilogue));
}
