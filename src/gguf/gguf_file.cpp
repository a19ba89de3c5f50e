// Parsing and validation of GGUF v2/v3. Nothing is read before it is checked against the bytes
// left, and no count from the file sizes an allocation before it is bounded by the bytes left.

#include "gguf/gguf_file.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>

#include "common/checked_math.h"
#include "common/error.h"
#include "gguf/gguf_layout.h"

namespace quant::gguf {

static_assert(std::endian::native == std::endian::little,
              "GGUF numbers are little-endian and are read in place");

namespace {

// What an error is about: "header", "key 'general.name'", "tensor 'output.weight'", "tensor #3".
struct Field {
  std::string_view kind;
  std::string_view name;
  uint64_t index = 0;
};

// Names from a broken file may be long or binary: errors show at most this many bytes of one.
constexpr size_t kMaxNameShown = 120;

std::string describe(const Field& field) {
  if (field.name.size() > kMaxNameShown) {
    return fmt::format("{} '{}...'", field.kind, field.name.substr(0, kMaxNameShown));
  }
  if (!field.name.empty()) return fmt::format("{} '{}'", field.kind, field.name);
  if (field.kind == "tensor") return fmt::format("tensor #{}", field.index);
  return std::string(field.kind);
}

// Little-endian reads from untrusted bytes; every read is checked against the end first.
class Cursor {
 public:
  Cursor(const std::string& file, std::span<const uint8_t> bytes) : file_(file), bytes_(bytes) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void fail_at(uint64_t offset, const Field& field, std::string_view problem) const {
    fail("{}: {} at byte offset {}: {}", file_, describe(field), offset, problem);
  }

  std::span<const uint8_t> take(uint64_t n, const Field& field, std::string_view what) {
    if (n > remaining()) {
      fail_at(
          pos_, field,
          fmt::format("file truncated: {} needs {} bytes, only {} remain", what, n, remaining()));
    }
    auto taken = bytes_.subspan(static_cast<size_t>(pos_), static_cast<size_t>(n));
    pos_ += n;
    return taken;
  }

  template <typename T>
  T read(const Field& field, std::string_view what) {
    T value;
    std::memcpy(&value, take(sizeof(T), field, what).data(), sizeof(T));
    return value;
  }

  std::string_view read_string(const Field& field, std::string_view what) {
    uint64_t length = read<uint64_t>(field, what);
    auto chars = take(length, field, what);
    return {reinterpret_cast<const char*>(chars.data()), chars.size()};
  }

 private:
  const std::string& file_;
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

std::optional<ValueType> to_value_type(uint32_t id) {
  if (id > static_cast<uint32_t>(ValueType::Float64)) return std::nullopt;
  return static_cast<ValueType>(id);
}

}  // namespace

// Fills a GgufFile from its bytes (friend of GgufFile).
class GgufParser {
 public:
  explicit GgufParser(GgufFile& file) : file_(file), in_(file.name_, file.bytes_) {}

  void parse() {
    uint64_t n_tensors = 0;
    uint64_t n_entries = 0;
    parse_header(n_tensors, n_entries);
    parse_metadata(n_entries);
    parse_alignment();
    parse_tensor_infos(n_tensors);
    place_tensor_data();
  }

 private:
  void parse_header(uint64_t& n_tensors, uint64_t& n_entries) {
    const Field header{"header", {}};
    if (in_.remaining() < kMagic.size()) {
      in_.fail_at(
          0, header,
          fmt::format("file of {} bytes is too short to hold the GGUF magic", in_.remaining()));
    }
    if (!std::equal(kMagic.begin(), kMagic.end(), file_.bytes_.begin())) {
      in_.fail_at(0, header,
                  fmt::format("bad magic {:02x}: not a GGUF file",
                              fmt::join(file_.bytes_.first(kMagic.size()), " ")));
    }
    in_.take(kMagic.size(), header, "magic");
    uint64_t version_at = in_.offset();
    uint32_t version = in_.read<uint32_t>(header, "version");
    if (version == 1) {
      in_.fail_at(
          version_at, header,
          "GGUF version 1 is not supported (only versions 2 and 3; convert the file again)");
    }
    if (version != 2 && version != 3) {
      uint32_t swapped = __builtin_bswap32(version);
      in_.fail_at(version_at, header,
                  fmt::format("unsupported GGUF version {} (supported: 2, 3){}", version,
                              swapped == 2 || swapped == 3 ? "; a big-endian file?" : ""));
    }
    file_.version_ = version;

    uint64_t count_at = in_.offset();
    n_tensors = in_.read<uint64_t>(header, "tensor count");
    n_entries = in_.read<uint64_t>(header, "metadata count");
    // Each entry and tensor takes a minimum number of bytes, which bounds the counts by the file
    // size before anything is reserved.
    if (n_entries > in_.remaining() / kMinEntryBytes) {
      in_.fail_at(count_at + 8, header,
                  fmt::format("metadata count {} cannot fit in the {} bytes left", n_entries,
                              in_.remaining()));
    }
    if (n_tensors > in_.remaining() / kMinTensorInfoBytes) {
      in_.fail_at(count_at, header,
                  fmt::format("tensor count {} cannot fit in the {} bytes left", n_tensors,
                              in_.remaining()));
    }
  }

  void parse_metadata(uint64_t n_entries) {
    file_.metadata_.reserve(static_cast<size_t>(n_entries));
    file_.metadata_index_.reserve(static_cast<size_t>(n_entries));
    for (uint64_t i = 0; i < n_entries; ++i) {
      uint64_t key_at = in_.offset();
      std::string_view key = in_.read_string(Field{"metadata entry", {}, i}, "key");
      Field field{"key", key};
      if (!file_.metadata_index_.emplace(key, file_.metadata_.size()).second) {
        in_.fail_at(key_at, field, "duplicate key");
      }
      Value value = parse_value(read_value_type(field, "value type"), field);
      file_.metadata_.push_back(MetadataEntry{key, std::move(value), key_at});
    }
  }

  ValueType read_value_type(const Field& field, std::string_view what) {
    uint64_t at = in_.offset();
    uint32_t id = in_.read<uint32_t>(field, what);
    auto type = to_value_type(id);
    if (!type) in_.fail_at(at, field, fmt::format("unknown {} {}", what, id));
    return *type;
  }

  Value parse_value(ValueType type, const Field& field) {
    switch (type) {
      case ValueType::UInt8:
        return {type, uint64_t{in_.read<uint8_t>(field, "u8 value")}};
      case ValueType::Int8:
        return {type, int64_t{in_.read<int8_t>(field, "i8 value")}};
      case ValueType::UInt16:
        return {type, uint64_t{in_.read<uint16_t>(field, "u16 value")}};
      case ValueType::Int16:
        return {type, int64_t{in_.read<int16_t>(field, "i16 value")}};
      case ValueType::UInt32:
        return {type, uint64_t{in_.read<uint32_t>(field, "u32 value")}};
      case ValueType::Int32:
        return {type, int64_t{in_.read<int32_t>(field, "i32 value")}};
      case ValueType::UInt64:
        return {type, in_.read<uint64_t>(field, "u64 value")};
      case ValueType::Int64:
        return {type, in_.read<int64_t>(field, "i64 value")};
      case ValueType::Float32:
        return {type, double{in_.read<float>(field, "f32 value")}};
      case ValueType::Float64:
        return {type, in_.read<double>(field, "f64 value")};
      case ValueType::Bool: {
        uint64_t at = in_.offset();
        uint8_t byte = in_.read<uint8_t>(field, "bool value");
        if (byte > 1) in_.fail_at(at, field, fmt::format("bool value {} is neither 0 nor 1", byte));
        return {type, byte == 1};
      }
      case ValueType::String:
        return {type, in_.read_string(field, "string value")};
      case ValueType::Array:
        return {type, parse_array(field)};
    }
    __builtin_unreachable();  // read_value_type admits only the ids above
  }

  ArrayValue parse_array(const Field& field) {
    uint64_t type_at = in_.offset();
    ArrayValue array;
    array.element_type = read_value_type(field, "array element type");
    if (array.element_type == ValueType::Array) {
      in_.fail_at(type_at, field, "nested arrays are not supported");
    }
    uint64_t count_at = in_.offset();
    array.count = in_.read<uint64_t>(field, "array length");
    if (array.element_type == ValueType::String) {
      if (array.count > in_.remaining() / kMinStringBytes) {
        in_.fail_at(count_at, field,
                    fmt::format("array of {} strings cannot fit in the {} bytes left", array.count,
                                in_.remaining()));
      }
      array.strings.reserve(static_cast<size_t>(array.count));
      for (uint64_t i = 0; i < array.count; ++i) {
        array.strings.push_back(in_.read_string(field, "array string element"));
      }
      return array;
    }
    uint64_t element_bytes = value_size(array.element_type);
    auto total = checked_mul(array.count, element_bytes);
    if (!total || *total > in_.remaining()) {
      in_.fail_at(count_at, field,
                  fmt::format("array of {} {} elements cannot fit in the {} bytes left",
                              array.count, value_type_name(array.element_type), in_.remaining()));
    }
    array.raw = in_.take(*total, field, "array elements");
    if (array.element_type == ValueType::Bool) {
      auto bad = std::find_if(array.raw.begin(), array.raw.end(), [](uint8_t b) { return b > 1; });
      if (bad != array.raw.end()) {
        auto index = static_cast<uint64_t>(bad - array.raw.begin());
        in_.fail_at(count_at + 8 + index, field,
                    fmt::format("bool element {} is {}, neither 0 nor 1", index, *bad));
      }
    }
    return array;
  }

  void parse_alignment() {
    const MetadataEntry* entry = file_.find_entry(kAlignmentKey);
    if (entry == nullptr) return;
    Field field{"key", entry->key};
    if (entry->value.type != ValueType::UInt32) {
      in_.fail_at(entry->offset, field,
                  fmt::format("must be a u32, found {}", value_type_name(entry->value.type)));
    }
    uint64_t alignment = std::get<uint64_t>(entry->value.data);
    if (!std::has_single_bit(alignment)) {
      in_.fail_at(entry->offset, field,
                  fmt::format("alignment {} is not a nonzero power of two", alignment));
    }
    file_.alignment_ = alignment;
  }

  void parse_tensor_infos(uint64_t n_tensors) {
    file_.tensors_.reserve(static_cast<size_t>(n_tensors));
    file_.tensor_index_.reserve(static_cast<size_t>(n_tensors));
    offset_field_at_.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
      uint64_t name_at = in_.offset();
      TensorInfo info;
      info.name = in_.read_string(Field{"tensor", {}, i}, "tensor name");
      Field field{"tensor", info.name};
      if (!file_.tensor_index_.emplace(info.name, file_.tensors_.size()).second) {
        in_.fail_at(name_at, field, "duplicate tensor name");
      }
      parse_dims(info, field);
      parse_type(info, field);
      offset_field_at_.push_back(in_.offset());
      info.offset = in_.read<uint64_t>(field, "data offset");
      if (info.offset % file_.alignment_ != 0) {
        in_.fail_at(offset_field_at_.back(), field,
                    fmt::format("data offset {} is not aligned to {} bytes", info.offset,
                                file_.alignment_));
      }
      file_.tensors_.push_back(std::move(info));
    }
  }

  void parse_dims(TensorInfo& info, const Field& field) {
    uint64_t n_dims_at = in_.offset();
    uint32_t n_dims = in_.read<uint32_t>(field, "dimension count");
    if (n_dims < 1 || n_dims > kMaxDims) {
      in_.fail_at(n_dims_at, field,
                  fmt::format("{} dimensions (must be 1 to {})", n_dims, kMaxDims));
    }
    info.dims.resize(n_dims);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim_at = in_.offset();
      info.dims[d] = in_.read<uint64_t>(field, "dimension");
      if (info.dims[d] == 0) in_.fail_at(dim_at, field, fmt::format("dimension {} is zero", d));
      auto product = checked_mul(n_elements, info.dims[d]);
      if (!product || *product > kMaxElements) {
        in_.fail_at(dim_at, field,
                    fmt::format("element count overflows at dimension {} ({})", d, info.dims[d]));
      }
      n_elements = *product;
    }
    info.n_elements = n_elements;
  }

  void parse_type(TensorInfo& info, const Field& field) {
    uint64_t type_at = in_.offset();
    uint32_t id = in_.read<uint32_t>(field, "tensor type");
    const TypeTraits* traits = find_type_traits(id);
    if (traits == nullptr)
      in_.fail_at(type_at, field, fmt::format("unknown tensor type id {}", id));
    info.type = traits->type;
    if (info.dims[0] % static_cast<uint64_t>(traits->block_elements) != 0) {
      in_.fail_at(type_at, field,
                  fmt::format("row length {} is not a multiple of the {} block size {}",
                              info.dims[0], traits->name, traits->block_elements));
    }
    auto row = row_bytes(info.type, info.dims[0]);
    auto total = row ? checked_mul(*row, info.rows()) : std::nullopt;
    if (!total) in_.fail_at(type_at, field, "byte size overflows");
    info.n_bytes = *total;
  }

  // Checks every tensor's data against the data section and the other tensors, then takes its view.
  void place_tensor_data() {
    const Field header{"header", {}};
    auto data_offset = align_up(in_.offset(), file_.alignment_);
    if (!data_offset) in_.fail_at(in_.offset(), header, "data section offset overflows");
    file_.data_offset_ = *data_offset;
    uint64_t file_size = file_.bytes_.size();
    // A file without tensor data may end before the padded start of its (empty) data section.
    uint64_t data_size = file_size > *data_offset ? file_size - *data_offset : 0;

    for (size_t i = 0; i < file_.tensors_.size(); ++i) {
      TensorInfo& info = file_.tensors_[i];
      auto end = checked_add(info.offset, info.n_bytes);
      if (!end || *end > data_size) {
        in_.fail_at(offset_field_at_[i], Field{"tensor", info.name},
                    fmt::format("data at offset {} with {} bytes lies outside the data section of "
                                "{} bytes (starting at byte {})",
                                info.offset, info.n_bytes, data_size, *data_offset));
      }
      info.data = file_.bytes_.subspan(static_cast<size_t>(*data_offset + info.offset),
                                       static_cast<size_t>(info.n_bytes));
    }

    std::vector<size_t> by_offset(file_.tensors_.size());
    std::iota(by_offset.begin(), by_offset.end(), size_t{0});
    std::sort(by_offset.begin(), by_offset.end(), [&](size_t a, size_t b) {
      return file_.tensors_[a].offset < file_.tensors_[b].offset;
    });
    for (size_t k = 1; k < by_offset.size(); ++k) {
      const TensorInfo& before = file_.tensors_[by_offset[k - 1]];
      const TensorInfo& after = file_.tensors_[by_offset[k]];
      if (before.offset + before.n_bytes > after.offset) {
        in_.fail_at(offset_field_at_[by_offset[k]], Field{"tensor", after.name},
                    fmt::format("data at offset {} overlaps tensor '{}' (offset {}, {} bytes)",
                                after.offset, before.name, before.offset, before.n_bytes));
      }
    }
  }

  GgufFile& file_;
  Cursor in_;
  std::vector<uint64_t> offset_field_at_;  // per tensor: where its data offset is stored
};

GgufFile GgufFile::open(const std::string& path) {
  GgufFile file;
  file.file_ = std::make_unique<MappedFile>(path);
  file.name_ = path;
  file.bytes_ = file.file_->bytes();
  GgufParser(file).parse();
  return file;
}

GgufFile GgufFile::from_bytes(std::string name, std::span<const uint8_t> bytes) {
  GgufFile file;
  file.name_ = std::move(name);
  file.bytes_ = bytes;
  GgufParser(file).parse();
  return file;
}

const std::string& GgufFile::path() const {
  return name_;
}

uint64_t GgufFile::file_size() const {
  return bytes_.size();
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace quant::gguf
