#pragma once
// An output written under a temporary name (`path.part`) and renamed when complete, so that a
// failed or interrupted run never leaves a truncated model under the requested name.

#include <string>

namespace quant {

class PartialFile {
 public:
  explicit PartialFile(std::string final_path);
  ~PartialFile();  // removes the temporary file unless commit() succeeded
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  const std::string& temporary_path() const { return temporary_path_; }
  // Renames the temporary file to the final path; throws quant::Error on failure.
  void commit();

 private:
  std::string final_path_;
  std::string temporary_path_;
  bool committed_ = false;
};

}  // namespace quant
