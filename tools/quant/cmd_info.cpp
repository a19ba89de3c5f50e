// `quant info FILE [--json]`: what a GGUF file holds — architecture, hyperparameters, tokenizer,
// tensors, type histogram, parameter count and bits per weight. The text and the JSON forms show
// the same facts.

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "commands.h"
#include "gguf/gguf_file.h"

namespace quant::cli {

namespace {

using gguf::ArrayValue;
using gguf::GgufFile;
using gguf::Value;
using gguf::ValueType;
using nlohmann::ordered_json;

// Arrays longer than this are summarized ("[151936 x string]") rather than listed.
constexpr uint64_t kListedArrayElements = 16;

// llama.cpp's LLAMA_FTYPE names, for general.file_type.
std::string file_type_label(uint64_t id) {
  static constexpr std::pair<uint64_t, const char*> kNames[] = {
      {0, "F32"},     {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},
      {8, "Q5_0"},    {9, "Q5_1"},    {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"},
      {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"},
      {18, "Q6_K"},   {32, "BF16"},
  };
  for (const auto& [value, name] : kNames) {
    if (value == id) return name;
  }
  return "unknown";
}

// One numeric array element as JSON (elements are little-endian, as GGUF stores them).
ordered_json array_element(const ArrayValue& array, uint64_t i) {
  auto read = [&]<typename T>(T) {
    T value;
    std::memcpy(&value, array.raw.data() + i * sizeof(T), sizeof(T));
    return value;
  };
  switch (array.element_type) {
    case ValueType::UInt8:
      return read(uint8_t{});
    case ValueType::Int8:
      return read(int8_t{});
    case ValueType::UInt16:
      return read(uint16_t{});
    case ValueType::Int16:
      return read(int16_t{});
    case ValueType::UInt32:
      return read(uint32_t{});
    case ValueType::Int32:
      return read(int32_t{});
    case ValueType::UInt64:
      return read(uint64_t{});
    case ValueType::Int64:
      return read(int64_t{});
    case ValueType::Float32:
      return read(float{});
    case ValueType::Float64:
      return read(double{});
    case ValueType::Bool:
      return read(uint8_t{}) != 0;
    default:
      return nullptr;
  }
}

ordered_json array_json(const ArrayValue& array) {
  if (array.count > kListedArrayElements) {
    return {{"element_type", gguf::value_type_name(array.element_type)}, {"count", array.count}};
  }
  ordered_json list = ordered_json::array();
  for (uint64_t i = 0; i < array.count; ++i) {
    if (array.element_type == ValueType::String) {
      list.push_back(std::string(array.strings[i]));
    } else {
      list.push_back(array_element(array, i));
    }
  }
  return list;
}

ordered_json value_json(const Value& value) {
  return std::visit(
      [](const auto& v) -> ordered_json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          return std::string(v);
        } else if constexpr (std::is_same_v<T, ArrayValue>) {
          return array_json(v);
        } else {
          return v;
        }
      },
      value.data);
}

std::string value_text(const Value& value) {
  if (const auto* array = std::get_if<ArrayValue>(&value.data)) {
    if (array->count > kListedArrayElements) {
      return fmt::format("[{} x {}]", array->count, gguf::value_type_name(array->element_type));
    }
  }
  if (value.type == ValueType::Float32) {
    return fmt::format("{}", static_cast<float>(std::get<double>(value.data)));
  }
  if (const auto* s = std::get_if<std::string_view>(&value.data)) {
    constexpr size_t kShown = 80;
    if (s->size() > kShown)
      return fmt::format("\"{}...\" ({} bytes)", s->substr(0, kShown), s->size());
  }
  return value_json(value).dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string token_text(const GgufFile& file, uint64_t id) {
  const Value* tokens = file.find("tokenizer.ggml.tokens");
  if (tokens == nullptr) return "";
  const auto* array = std::get_if<ArrayValue>(&tokens->data);
  if (array == nullptr || array->element_type != ValueType::String || id >= array->count) return "";
  return std::string(array->strings[id]);
}

ordered_json tokenizer_json(const GgufFile& file) {
  if (!file.has("tokenizer.ggml.model")) return nullptr;
  ordered_json t;
  t["model"] = std::string(file.get_string("tokenizer.ggml.model"));
  t["pre"] = file.has("tokenizer.ggml.pre")
                 ? ordered_json(std::string(file.get_string("tokenizer.ggml.pre")))
                 : ordered_json(nullptr);
  t["vocab_size"] =
      file.has("tokenizer.ggml.tokens") ? file.get_array("tokenizer.ggml.tokens").count : 0;
  t["merges"] =
      file.has("tokenizer.ggml.merges") ? file.get_array("tokenizer.ggml.merges").count : 0;
  for (const char* role : {"bos", "eos", "unknown", "padding"}) {
    const std::string key = fmt::format("tokenizer.ggml.{}_token_id", role);
    if (!file.has(key)) continue;
    const uint64_t id = file.get_u64(key);
    t[role] = {{"id", id}, {"text", token_text(file, id)}};
  }
  for (const char* flag : {"add_bos_token", "add_eos_token"}) {
    const std::string key = fmt::format("tokenizer.ggml.{}", flag);
    if (file.has(key)) t[flag] = file.get_bool(key);
  }
  t["chat_template"] = file.has("tokenizer.chat_template");
  return t;
}

ordered_json tensors_json(const GgufFile& file) {
  ordered_json list = ordered_json::array();
  for (const auto& tensor : file.tensors()) {
    list.push_back({{"name", std::string(tensor.name)},
                    {"type", type_traits(tensor.type).name},
                    {"dims", tensor.dims},
                    {"bytes", tensor.n_bytes},
                    {"offset", file.data_offset() + tensor.offset}});
  }
  return list;
}

ordered_json summary_json(const GgufFile& file) {
  ordered_json j;
  j["file"] = file.path();
  j["file_size"] = file.file_size();
  j["gguf_version"] = file.version();
  j["alignment"] = file.alignment();
  const bool has_arch = file.has("general.architecture");
  const std::string arch = has_arch ? std::string(file.architecture()) : "";
  j["architecture"] = has_arch ? ordered_json(arch) : ordered_json(nullptr);

  ordered_json general = ordered_json::object();
  ordered_json hparams = ordered_json::object();
  for (const auto& entry : file.metadata()) {
    const std::string key(entry.key);
    if (key.starts_with("general.")) general[key.substr(8)] = value_json(entry.value);
    if (has_arch && key.starts_with(arch + "."))
      hparams[key.substr(arch.size() + 1)] = value_json(entry.value);
  }
  if (file.has("general.file_type")) {
    general["file_type_name"] = file_type_label(file.get_u64("general.file_type"));
  }
  j["general"] = general;
  j["hyperparameters"] = hparams;
  j["tokenizer"] = tokenizer_json(file);
  j["tensors"] = tensors_json(file);

  uint64_t parameters = 0;
  uint64_t tensor_bytes = 0;
  std::map<uint32_t, std::array<uint64_t, 3>> by_type;  // type id -> tensors, elements, bytes
  for (const auto& tensor : file.tensors()) {
    parameters += tensor.n_elements;
    tensor_bytes += tensor.n_bytes;
    auto& row = by_type[static_cast<uint32_t>(tensor.type)];
    row[0] += 1;
    row[1] += tensor.n_elements;
    row[2] += tensor.n_bytes;
  }
  ordered_json histogram = ordered_json::object();
  for (const auto& [id, row] : by_type) {
    histogram[std::string(type_traits(static_cast<TensorType>(id)).name)] = {
        {"tensors", row[0]}, {"elements", row[1]}, {"bytes", row[2]}};
  }
  j["type_histogram"] = histogram;
  j["tensor_count"] = file.tensors().size();
  j["parameters"] = parameters;
  j["tensor_bytes"] = tensor_bytes;
  j["bits_per_weight"] =
      parameters == 0
          ? ordered_json(nullptr)
          : ordered_json(static_cast<double>(tensor_bytes) * 8.0 / static_cast<double>(parameters));
  return j;
}

std::string dims_text(const ordered_json& dims) {
  std::string s;
  for (const auto& d : dims) s += fmt::format("{}{}", s.empty() ? "" : " x ", d.get<uint64_t>());
  return s;
}

void print_text(const GgufFile& file, const ordered_json& j) {
  fmt::print("file:          {} ({} bytes, GGUF v{})\n", file.path(), file.file_size(),
             file.version());
  fmt::print("architecture:  {}\n",
             j["architecture"].is_null() ? "(none)" : j["architecture"].get<std::string>());
  if (file.has("general.file_type")) {
    fmt::print("file type:     {} ({})\n", j["general"]["file_type_name"].get<std::string>(),
               file.get_u64("general.file_type"));
  }
  fmt::print("\nmetadata:\n");
  for (const auto& entry : file.metadata()) {
    if (std::string_view(entry.key).starts_with("tokenizer.")) continue;
    fmt::print("  {:44} {}\n", entry.key, value_text(entry.value));
  }
  const ordered_json& t = j["tokenizer"];
  if (!t.is_null()) {
    fmt::print("\ntokenizer:     model {}, pre {}, {} tokens, {} merges\n",
               t["model"].get<std::string>(),
               t["pre"].is_null() ? "(none)" : t["pre"].get<std::string>(),
               t["vocab_size"].get<uint64_t>(), t["merges"].get<uint64_t>());
    for (const char* role : {"bos", "eos", "unknown", "padding"}) {
      if (t.contains(role)) {
        fmt::print("  {:12} {} {}\n", role, t[role]["id"].get<uint64_t>(),
                   t[role]["text"].dump(-1, ' ', false, ordered_json::error_handler_t::replace));
      }
    }
    fmt::print("  chat template {}\n", t["chat_template"].get<bool>() ? "present" : "absent");
  }
  if (!file.tensors().empty()) {
    fmt::print("\ntensors:\n");
    for (const auto& tensor : j["tensors"]) {
      fmt::print("  {:40} {:6} {:>22} {:>12}\n", tensor["name"].get<std::string>(),
                 tensor["type"].get<std::string>(), dims_text(tensor["dims"]),
                 tensor["bytes"].get<uint64_t>());
    }
    fmt::print("\ntypes:\n");
    for (const auto& [name, row] : j["type_histogram"].items()) {
      fmt::print("  {:6} {:6} tensors {:>14} elements {:>14} bytes\n", name,
                 row["tensors"].get<uint64_t>(), row["elements"].get<uint64_t>(),
                 row["bytes"].get<uint64_t>());
    }
  }
  fmt::print("\ntensors:       {}\n", j["tensor_count"].get<uint64_t>());
  fmt::print("parameters:    {} ({:.3f} M)\n", j["parameters"].get<uint64_t>(),
             static_cast<double>(j["parameters"].get<uint64_t>()) * 1e-6);
  fmt::print("tensor bytes:  {}\n", j["tensor_bytes"].get<uint64_t>());
  fmt::print("file size:     {} ({:.2f} MiB)\n", file.file_size(),
             static_cast<double>(file.file_size()) / (1 << 20));
  if (!j["bits_per_weight"].is_null()) {
    fmt::print("bits/weight:   {:.3f}\n", j["bits_per_weight"].get<double>());
  }
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("info", "Show what a GGUF file holds");
  cmd->add_option("file", *path, "GGUF file")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--json", *json, "Print one JSON object instead of text");
  cmd->callback([path, json] {
    const GgufFile file = GgufFile::open(*path);
    const ordered_json summary = summary_json(file);
    if (*json) {
      fmt::print("{}\n", summary.dump(2, ' ', false, ordered_json::error_handler_t::replace));
    } else {
      print_text(file, summary);
    }
  });
}

}  // namespace quant::cli
