#pragma once
// The malformed-GGUF corpus: a small valid file and hand-broken variants of every kind of damage
// the reader must reject. Built in memory; fuzz/ writes the same images out as seeds.

#include <cstdint>
#include <string>
#include <vector>

namespace quant::test {

struct MalformedCase {
  std::string name;  // short and file-name safe: "huge-tensor-count"
  std::vector<uint8_t> bytes;
  std::vector<std::string> expected_words;  // each must appear in the error message
};

// A valid GGUF v3 image (alignment 64) with one entry of every value type, arrays of several
// element types, and three tensors (F32 [8], F16 [4, 2], Q8_0 [32, 2]: tensors "a", "b", "c",
// filled with known bytes). The last tensor's data ends exactly at the end of the file, so every
// truncation of it is invalid.
std::vector<uint8_t> small_valid_gguf();

// One hand-made file per failure kind.
std::vector<MalformedCase> hand_made_cases();

// small_valid_gguf() cut at every byte offset from 0 to its size - 1.
std::vector<MalformedCase> truncated_cases();

}  // namespace quant::test
