#include "gguf/exercise_gguf.h"

#include <cstring>
#include <stdexcept>

#include "common/error.h"

namespace quant::test {
namespace {

template <typename Getter>
uint64_t try_get(Getter getter) {
  try {
    return getter();
  } catch (const Error&) {
    return 1;
  }
}

uint64_t bits(float value) {
  uint32_t b;
  std::memcpy(&b, &value, sizeof b);
  return b;
}

uint64_t exercise_entry(const gguf::GgufFile& file, const gguf::MetadataEntry& entry) {
  std::string_view key = entry.key;
  uint64_t sum = entry.offset + gguf::value_type_name(entry.value.type).size();
  if (file.find_entry(key) != &entry || file.find(key) != &entry.value || !file.has(key)) {
    throw std::logic_error("metadata index does not lead back to its entry");
  }
  sum += try_get([&] { return uint64_t{file.get_u32(key)}; });
  sum += try_get([&] { return file.get_u64(key); });
  sum += try_get([&] { return static_cast<uint64_t>(file.get_i64(key)); });
  sum += try_get([&] { return bits(file.get_f32(key)); });
  sum += try_get([&] { return uint64_t{file.get_bool(key)}; });
  sum += try_get([&] { return uint64_t{file.get_string(key).size()}; });
  sum += try_get([&] { return file.get_array(key).count; });
  sum += try_get([&] {
    uint64_t s = 0;
    for (float v : file.get_array_f32(key)) s += bits(v);
    return s;
  });
  sum += try_get([&] {
    uint64_t s = 0;
    for (int64_t v : file.get_array_i64(key)) s += static_cast<uint64_t>(v);
    return s;
  });
  sum += try_get([&] {
    uint64_t s = 0;
    for (bool v : file.get_array_bool(key)) s += v ? 1 : 0;
    return s;
  });
  sum += try_get([&] {
    uint64_t s = 0;
    for (std::string_view v : file.get_array_strings(key)) s += v.empty() ? 0 : uint8_t(v.back());
    return s;
  });
  sum += try_get([&] { return uint64_t{file.get_u32_or(key, 7)}; });
  sum += try_get([&] { return bits(file.get_f32_or(key, 7.0f)); });
  sum += try_get([&] { return uint64_t{file.get_bool_or(key, true)}; });
  sum += try_get([&] { return uint64_t{file.get_string_or(key, "x").size()}; });
  return sum;
}

}  // namespace

uint64_t exercise_all_accessors(const gguf::GgufFile& file) {
  uint64_t sum = file.version() + file.alignment() + file.data_offset() + file.file_size() +
                 file.path().size();
  sum += try_get([&] { return uint64_t{file.architecture().size()}; });
  sum += file.get_u32_or("no such key", 3) + file.has("no such key");
  for (const gguf::MetadataEntry& entry : file.metadata()) sum += exercise_entry(file, entry);
  for (const gguf::TensorInfo& tensor : file.tensors()) {
    if (file.find_tensor(tensor.name) != &tensor || tensor.data.size() != tensor.n_bytes) {
      throw std::logic_error("tensor index or size is inconsistent");
    }
    sum += tensor.rows() + tensor.offset + static_cast<uint32_t>(tensor.type);
    for (uint64_t dim : tensor.dims) sum += dim;
    for (uint8_t byte : tensor.data) sum += byte;
  }
  return sum;
}

}  // namespace quant::test
