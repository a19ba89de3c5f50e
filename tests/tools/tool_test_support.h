#pragma once
// Helpers for the tools' tests: run the built `quant` binary, give each test its own scratch
// folder, compare files.

#include <filesystem>
#include <string>
#include <vector>

namespace quant::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout (stderr goes to the test log)
};

// Runs the built `quant` with `args` (each passed as one shell word).
CommandResult run_quant(const std::vector<std::string>& args);

// A fresh folder under the system temporary folder, removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::vector<char> read_file_bytes(const std::string& path);

}  // namespace quant::test
