#pragma once
// Runs every accessor of a GgufFile over all its keys and tensors, so that sanitizers and the
// fuzzer see each one at work on whatever the reader accepted. Accessors may throw quant::Error for
// a value of another type; anything else escapes.

#include <cstdint>

#include "gguf/gguf_file.h"

namespace quant::test {

// A checksum over everything read, so that no read can be optimized away.
uint64_t exercise_all_accessors(const gguf::GgufFile& file);

}  // namespace quant::test
