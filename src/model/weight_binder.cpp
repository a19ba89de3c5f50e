#include "model/weight_binder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"

namespace quant::model {

plan::WeightId WeightBinder::require(const std::string& name, const std::vector<uint64_t>& shape) {
  const gguf::TensorInfo* tensor = file_.find_tensor(name);
  if (tensor == nullptr)
    fail("{}: missing tensor '{}' (expected shape [{}])", file_.path(), name,
         fmt::join(shape, ", "));
  return bind(*tensor, shape);
}

std::optional<plan::WeightId> WeightBinder::optional(const std::string& name,
                                                     const std::vector<uint64_t>& shape) {
  const gguf::TensorInfo* tensor = file_.find_tensor(name);
  if (tensor == nullptr) return std::nullopt;
  return bind(*tensor, shape);
}

plan::WeightId WeightBinder::bind(const gguf::TensorInfo& tensor,
                                  const std::vector<uint64_t>& shape) {
  if (const auto it = bound_.find(tensor.name); it != bound_.end()) return it->second;
  if (tensor.dims != shape)
    fail("{}: tensor '{}' has shape [{}], expected [{}]", file_.path(), tensor.name,
         fmt::join(tensor.dims, ", "), fmt::join(shape, ", "));
  const plan::WeightId id = plan_.add_weight(plan::WeightRef{
      .name = std::string(tensor.name),
      .type = tensor.type,
      .dims = tensor.dims,
      .data = tensor.data,
  });
  bound_.emplace(tensor.name, id);
  return id;
}

void WeightBinder::check_all_bound(const std::string& architecture) const {
  for (const gguf::TensorInfo& tensor : file_.tensors())
    if (!bound_.contains(tensor.name))
      fail("{}: tensor '{}' is not used by the {} architecture (unsupported variant?)",
           file_.path(), tensor.name, architecture);
}

}  // namespace quant::model
