// Writes seeds for gguf_reader_fuzz into a folder (no .gguf suffix: the repository ignores *.gguf):
// the small valid GGUF and the hand-broken ones of tests/gguf/malformed_gguf.h, and for each GGUF
// named on the command line its first bytes up to the data section (header, metadata, tensor
// table), which stay small whatever the model's size.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/mapped_file.h"
#include "gguf/gguf_file.h"
#include "gguf/malformed_gguf.h"

namespace {

void write_file(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FOLDER [MODEL.gguf ...]\n", argv[0]);
    return 2;
  }
  try {
    std::filesystem::path folder = argv[1];
    std::filesystem::create_directories(folder);
    write_file(folder / "small-valid", quant::test::small_valid_gguf());
    for (const auto& c : quant::test::hand_made_cases()) {
      write_file(folder / c.name, c.bytes);
    }
    for (int i = 2; i < argc; ++i) {
      auto file = quant::gguf::GgufFile::open(argv[i]);
      quant::MappedFile mapped(argv[i]);
      auto head = mapped.bytes().first(std::min<uint64_t>(file.data_offset(), file.file_size()));
      write_file(folder / ("head-" + std::filesystem::path(argv[i]).stem().string()), head);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 1;
  }
  return 0;
}
