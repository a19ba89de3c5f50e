#include "quantize/file_type.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace quant {

namespace {

struct FileTypeInfo {
  FileType type;
  std::string_view name;
  TensorType default_tensor;
};

constexpr std::array kFileTypes = {
    FileTypeInfo{FileType::F32, "F32", TensorType::F32},
    FileTypeInfo{FileType::F16, "F16", TensorType::F16},
    FileTypeInfo{FileType::Q4_0, "Q4_0", TensorType::Q4_0},
    FileTypeInfo{FileType::Q8_0, "Q8_0", TensorType::Q8_0},
    FileTypeInfo{FileType::Q4_K_M, "Q4_K_M", TensorType::Q4_K},
};

const FileTypeInfo& info(FileType type) {
  return *std::find_if(kFileTypes.begin(), kFileTypes.end(),
                       [type](const FileTypeInfo& i) { return i.type == type; });
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::toupper(static_cast<unsigned char>(x)) ==
           std::toupper(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::optional<FileType> parse_file_type(std::string_view name) {
  for (const auto& i : kFileTypes) {
    if (equal_ignoring_case(i.name, name)) return i.type;
  }
  return std::nullopt;
}

std::string_view file_type_name(FileType type) {
  return info(type).name;
}

std::string_view file_type_names() {
  return "Q4_K_M, Q8_0, Q4_0, F16, F32";
}

TensorType default_tensor_type(FileType type) {
  return info(type).default_tensor;
}

}  // namespace quant
