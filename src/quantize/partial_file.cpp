#include "quantize/partial_file.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "common/error.h"

namespace quant {

PartialFile::PartialFile(std::string final_path)
    : final_path_(std::move(final_path)), temporary_path_(final_path_ + ".part") {}

PartialFile::~PartialFile() {
  if (!committed_) {
    std::error_code ignored;
    std::filesystem::remove(temporary_path_, ignored);
  }
}

void PartialFile::commit() {
  std::error_code ec;
  std::filesystem::rename(temporary_path_, final_path_, ec);
  if (ec) fail("{}: cannot rename to {}: {}", temporary_path_, final_path_, ec.message());
  committed_ = true;
}

}  // namespace quant
