#pragma once
// Binds GGUF tensors to a plan's weights: each architecture lists every tensor it uses exactly
// once, through require() or optional(), with the shape it expects. The tensor is used in place
// from the mapping.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_file.h"
#include "plan/plan.h"

namespace quant::model {

class WeightBinder {
 public:
  WeightBinder(const gguf::GgufFile& file, plan::Plan& plan) : file_(file), plan_(plan) {}

  // The tensor `name` with dims `shape` (ggml order). Throws quant::Error naming the file and
  // tensor when it is missing or has another shape. Binding a name twice (tied embeddings) gives
  // the same id.
  plan::WeightId require(const std::string& name, const std::vector<uint64_t>& shape);
  // The same, or nullopt when the file has no such tensor (a present tensor of the wrong shape
  // throws).
  std::optional<plan::WeightId> optional(const std::string& name,
                                         const std::vector<uint64_t>& shape);

  // Throws quant::Error naming the first tensor of the file that nothing bound: a tensor the
  // builder does not know (a bias, RoPE frequency factors, ...) would otherwise be silently
  // ignored.
  void check_all_bound(const std::string& architecture) const;

 private:
  plan::WeightId bind(const gguf::TensorInfo& tensor, const std::vector<uint64_t>& shape);

  const gguf::GgufFile& file_;
  plan::Plan& plan_;
  std::unordered_map<std::string_view, plan::WeightId> bound_;  // keys view the mapping
};

}  // namespace quant::model
