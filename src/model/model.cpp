#include "model/model.h"

#include <fmt/format.h>

#include <string>
#include <utility>

#include "common/error.h"
#include "model/architectures.h"

namespace quant::model {

namespace {

std::string supported_names() {
  std::string names;
  for (const Architecture& arch : architectures())
    names += fmt::format("{}{}", names.empty() ? "" : ", ", arch.name);
  return names;
}

}  // namespace

Model Model::load(const std::string& path) {
  return Model(gguf::GgufFile::open(path));
}

Model::Model(gguf::GgufFile file) : file_(std::move(file)) {
  const std::string_view name = file_.architecture();
  const Architecture* arch = find_architecture(name);
  if (arch == nullptr)
    fail("{}: unknown architecture '{}' (supported: {})", file_.path(), name, supported_names());
  BuiltModel built = arch->build(file_);
  hparams_ = std::move(built.hparams);
  plan_ = std::move(built.plan);
}

}  // namespace quant::model
