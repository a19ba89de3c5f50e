// libFuzzer target for the GGUF reader: parses the input from memory and, when it is accepted, runs
// every accessor over it. quant::Error is the expected way to refuse; any crash, sanitizer report,
// leak or other exception is a finding.

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/error.h"
#include "gguf/exercise_gguf.h"
#include "gguf/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = quant::gguf::GgufFile::from_bytes("fuzz-input.gguf", std::span(data, size));
    quant::test::exercise_all_accessors(file);
  } catch (const quant::Error&) {
  }
  return 0;
}
