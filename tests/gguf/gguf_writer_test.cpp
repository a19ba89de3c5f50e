// GgufWriter -> GgufFile round trips of every value type, the writer's refusals, and the typed
// getters' conversions and errors.

#include "gguf/gguf_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf/gguf_file.h"

namespace quant::gguf {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards.
class GgufWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("quant-gguf-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(seed + i * 13);
  return bytes;
}

// Sets one value of every type the writer has a setter for, declares three tensors and writes them.
void write_sample(const std::string& path, uint32_t alignment) {
  GgufWriter writer;
  writer.set_string("general.architecture", "llama");
  if (alignment != 0) writer.set_u32("general.alignment", alignment);
  writer.set_u32("s.u32", 4000000000u);
  writer.set_i32("s.i32", -7);
  writer.set_u64("s.u64", std::numeric_limits<uint64_t>::max());
  writer.set_f32("s.f32", -0.125f);
  writer.set_bool("s.bool", true);
  writer.set_string("s.string", std::string_view("with\0zero", 9));
  writer.set_array_strings("a.strings", {"x", "", "long string"});
  const float floats[] = {1.0f, -2.5f, 1e-6f};
  writer.set_array_f32("a.f32", floats);
  const int32_t ints[] = {-1, 0, std::numeric_limits<int32_t>::max()};
  writer.set_array_i32("a.i32", ints);
  const uint32_t uints[] = {0, std::numeric_limits<uint32_t>::max()};
  writer.set_array_u32("a.u32", uints);
  writer.set_array_bool("a.bool", {true, false, true});
  writer.set_array_f32("a.empty", {});
  writer.add_tensor("weight.f32", TensorType::F32, {3, 2});
  writer.add_tensor("weight.q8_0", TensorType::Q8_0, {64, 3});
  writer.add_tensor("weight.f16", TensorType::F16, {5});
  writer.begin(path);
  writer.write_tensor_data(pattern(24, 1));
  writer.write_tensor_data(pattern(6 * 34, 2));
  writer.write_tensor_data(pattern(10, 3));
  writer.finish();
}

TEST_F(GgufWriterTest, EveryValueTypeRoundTrips) {
  write_sample(path("sample.gguf"), 0);
  GgufFile file = GgufFile::open(path("sample.gguf"));
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.architecture(), "llama");
  EXPECT_EQ(file.get_u32("s.u32"), 4000000000u);
  EXPECT_EQ(file.find("s.u32")->type, ValueType::UInt32);
  EXPECT_EQ(file.get_i64("s.i32"), -7);
  EXPECT_EQ(file.find("s.i32")->type, ValueType::Int32);
  EXPECT_EQ(file.get_u64("s.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(file.get_f32("s.f32"), -0.125f);
  EXPECT_TRUE(file.get_bool("s.bool"));
  EXPECT_EQ(file.get_string("s.string"), std::string_view("with\0zero", 9));
  EXPECT_EQ(file.get_array_strings("a.strings"),
            (std::vector<std::string_view>{"x", "", "long string"}));
  EXPECT_EQ(file.get_array_f32("a.f32"), (std::vector<float>{1.0f, -2.5f, 1e-6f}));
  EXPECT_EQ(file.get_array_i64("a.i32"),
            (std::vector<int64_t>{-1, 0, std::numeric_limits<int32_t>::max()}));
  EXPECT_EQ(file.get_array_i64("a.u32"),
            (std::vector<int64_t>{0, std::numeric_limits<uint32_t>::max()}));
  EXPECT_EQ(file.get_array("a.u32").element_type, ValueType::UInt32);
  EXPECT_EQ(file.get_array_bool("a.bool"), (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(file.get_array_f32("a.empty").empty());

  // Metadata keeps the order it was set in.
  ASSERT_EQ(file.metadata().size(), 13u);
  EXPECT_EQ(file.metadata()[0].key, "general.architecture");
  EXPECT_EQ(file.metadata()[12].key, "a.empty");

  ASSERT_EQ(file.tensors().size(), 3u);
  const std::vector<std::vector<uint8_t>> expected = {pattern(24, 1), pattern(204, 2),
                                                      pattern(10, 3)};
  const char* names[] = {"weight.f32", "weight.q8_0", "weight.f16"};
  for (size_t i = 0; i < 3; ++i) {
    const TensorInfo& tensor = file.tensors()[i];
    EXPECT_EQ(tensor.name, names[i]);
    EXPECT_EQ(tensor.offset % 32, 0u);
    EXPECT_EQ(std::vector<uint8_t>(tensor.data.begin(), tensor.data.end()), expected[i]);
  }
  EXPECT_EQ(file.tensors()[1].dims, (std::vector<uint64_t>{64, 3}));
  EXPECT_EQ(file.tensors()[1].type, TensorType::Q8_0);
  EXPECT_EQ(file.file_size() % 32, 0u);  // data padded to the alignment
}

TEST_F(GgufWriterTest, OutputIsDeterministicAndHonorsAlignment) {
  write_sample(path("one.gguf"), 128);
  write_sample(path("two.gguf"), 128);
  EXPECT_EQ(read_all(path("one.gguf")), read_all(path("two.gguf")));
  GgufFile file = GgufFile::open(path("one.gguf"));
  EXPECT_EQ(file.alignment(), 128u);
  EXPECT_EQ(file.data_offset() % 128, 0u);
  for (const TensorInfo& tensor : file.tensors()) EXPECT_EQ(tensor.offset % 128, 0u);
}

// set_value of everything read from a file, in order, rewrites it byte for byte.
TEST_F(GgufWriterTest, CopyingEveryValueReproducesTheFile) {
  write_sample(path("original.gguf"), 64);
  GgufFile original = GgufFile::open(path("original.gguf"));
  GgufWriter copy;
  for (const MetadataEntry& entry : original.metadata()) copy.set_value(entry.key, entry.value);
  for (const TensorInfo& tensor : original.tensors()) {
    copy.add_tensor(tensor.name, tensor.type, tensor.dims);
  }
  copy.begin(path("copy.gguf"));
  for (const TensorInfo& tensor : original.tensors()) copy.write_tensor_data(tensor.data);
  copy.finish();
  EXPECT_EQ(read_all(path("original.gguf")), read_all(path("copy.gguf")));
}

TEST_F(GgufWriterTest, SetValueKeepsEveryStoredType) {
  GgufWriter writer;
  writer.set_value("u8", Value{ValueType::UInt8, uint64_t{255}});
  writer.set_value("i8", Value{ValueType::Int8, int64_t{-128}});
  writer.set_value("u16", Value{ValueType::UInt16, uint64_t{65535}});
  writer.set_value("i16", Value{ValueType::Int16, int64_t{-32768}});
  writer.set_value("i64", Value{ValueType::Int64, std::numeric_limits<int64_t>::min()});
  writer.set_value("f64", Value{ValueType::Float64, 1e300});
  const int16_t raw[] = {-3, 4};
  ArrayValue i16_array{
      ValueType::Int16, 2, {reinterpret_cast<const uint8_t*>(raw), sizeof raw}, {}};
  writer.set_value("a.i16", Value{ValueType::Array, i16_array});
  writer.begin(path("types.gguf"));
  writer.finish();

  GgufFile file = GgufFile::open(path("types.gguf"));
  const std::pair<const char*, ValueType> types[] = {
      {"u8", ValueType::UInt8},   {"i8", ValueType::Int8},   {"u16", ValueType::UInt16},
      {"i16", ValueType::Int16},  {"i64", ValueType::Int64}, {"f64", ValueType::Float64},
      {"a.i16", ValueType::Array}};
  for (const auto& [key, type] : types) EXPECT_EQ(file.find(key)->type, type) << key;
  EXPECT_EQ(file.get_u32("u8"), 255u);
  EXPECT_EQ(file.get_i64("i8"), -128);
  EXPECT_EQ(file.get_u32("u16"), 65535u);
  EXPECT_EQ(file.get_i64("i16"), -32768);
  EXPECT_EQ(file.get_i64("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(std::get<double>(file.find("f64")->data), 1e300);
  EXPECT_EQ(file.get_array_i64("a.i16"), (std::vector<int64_t>{-3, 4}));
}

TEST_F(GgufWriterTest, RejectsDuplicatesAndBadDeclarations) {
  GgufWriter writer;
  writer.set_u32("k", 1);
  EXPECT_THROW(writer.set_string("k", "again"), Error);
  EXPECT_THROW(writer.set_u64("general.alignment", 32), Error);  // must be u32
  EXPECT_THROW(writer.set_u32("general.alignment", 48), Error);
  EXPECT_THROW(writer.set_u32("general.alignment", 0), Error);
  EXPECT_THROW(writer.set_value("bad.u8", Value{ValueType::UInt8, uint64_t{256}}), Error);
  EXPECT_THROW(
      writer.set_value("nested", Value{ValueType::Array, ArrayValue{ValueType::Array, 0, {}, {}}}),
      Error);
  EXPECT_THROW(
      writer.set_value("short", Value{ValueType::Array, ArrayValue{ValueType::UInt32, 2, {}, {}}}),
      Error);
  writer.add_tensor("t", TensorType::F32, {4});
  EXPECT_THROW(writer.add_tensor("t", TensorType::F16, {4}), Error);
  EXPECT_THROW(writer.add_tensor("zero", TensorType::F32, {4, 0}), Error);
  EXPECT_THROW(writer.add_tensor("none", TensorType::F32, {}), Error);
  EXPECT_THROW(writer.add_tensor("five", TensorType::F32, {1, 1, 1, 1, 1}), Error);
  EXPECT_THROW(writer.add_tensor("partial-block", TensorType::Q8_0, {48}), Error);
  EXPECT_THROW(writer.add_tensor("huge", TensorType::F32, {uint64_t{1} << 40, uint64_t{1} << 40}),
               Error);
  EXPECT_THROW(writer.add_tensor(std::string(64, 'n'), TensorType::F32, {4}), Error);
  EXPECT_THROW(writer.add_tensor("", TensorType::F32, {4}), Error);

  writer.begin(path("out.gguf"));
  EXPECT_THROW(writer.set_u32("late", 1), Error);
  EXPECT_THROW(writer.add_tensor("late", TensorType::F32, {4}), Error);
  EXPECT_THROW(writer.finish(), Error);  // tensor 't' has no data yet
  EXPECT_THROW(writer.write_tensor_data(pattern(15, 0)), Error);
  writer.write_tensor_data(pattern(16, 0));
  EXPECT_THROW(writer.write_tensor_data(pattern(16, 0)), Error);  // only one tensor declared
  writer.finish();

  // What was refused left nothing behind: the file holds exactly the accepted key and tensor.
  GgufFile file = GgufFile::open(path("out.gguf"));
  EXPECT_EQ(file.metadata().size(), 1u);
  EXPECT_EQ(file.tensors().size(), 1u);
  EXPECT_EQ(file.alignment(), 32u);
}

// Without tensors there is no data section, and the file ends right after the metadata.
TEST_F(GgufWriterTest, FileWithoutTensorsIsNotPadded) {
  GgufWriter writer;
  writer.set_string("k", "v");
  writer.begin(path("vocab.gguf"));
  writer.finish();
  // magic, version, two counts, then key (8 + 1), type (4) and value (8 + 1).
  EXPECT_EQ(fs::file_size(path("vocab.gguf")), 4u + 4 + 8 + 8 + 9 + 4 + 9);
  EXPECT_EQ(GgufFile::open(path("vocab.gguf")).get_string("k"), "v");
}

TEST_F(GgufWriterTest, UnfinishedFileIsRemoved) {
  {
    GgufWriter writer;
    writer.add_tensor("t", TensorType::F32, {4});
    writer.begin(path("partial.gguf"));
    EXPECT_TRUE(fs::exists(path("partial.gguf")));
  }
  EXPECT_FALSE(fs::exists(path("partial.gguf")));
}

TEST_F(GgufWriterTest, UnwritableFolderIsAnError) {
  GgufWriter writer;
  EXPECT_THROW(writer.begin(path("no-such-folder/out.gguf")), Error);
}

TEST_F(GgufWriterTest, GettersConvertWhatFitsAndNameTheKeyOtherwise) {
  GgufWriter writer;
  writer.set_u64("big", uint64_t{1} << 40);
  writer.set_i32("negative", -5);
  writer.set_u32("small", 17);
  writer.set_string("text", "abc");
  const float floats[] = {1.0f};
  writer.set_array_f32("floats", floats);
  writer.begin(path("getters.gguf"));
  writer.finish();
  GgufFile file = GgufFile::open(path("getters.gguf"));

  EXPECT_EQ(file.get_u64("small"), 17u);
  EXPECT_EQ(file.get_i64("small"), 17);
  EXPECT_EQ(file.get_i64("negative"), -5);
  EXPECT_EQ(file.get_u32_or("missing", 9), 9u);
  EXPECT_EQ(file.get_u32_or("small", 9), 17u);
  EXPECT_EQ(file.get_string_or("missing", "d"), "d");
  EXPECT_EQ(file.get_f32_or("missing", 0.5f), 0.5f);
  EXPECT_FALSE(file.get_bool_or("missing", false));
  EXPECT_EQ(file.find("missing"), nullptr);

  auto message = [&](auto getter) -> std::string {
    try {
      getter();
    } catch (const Error& error) {
      return error.what();
    }
    return "(no error)";
  };
  std::string big = message([&] { file.get_u32("big"); });
  EXPECT_NE(big.find("key 'big'"), std::string::npos) << big;
  EXPECT_NE(big.find("does not fit in u32"), std::string::npos) << big;
  EXPECT_NE(big.find("getters.gguf"), std::string::npos) << big;
  EXPECT_NE(message([&] { file.get_u64("negative"); }).find("does not fit"), std::string::npos);
  std::string text = message([&] { file.get_u32("text"); });
  EXPECT_NE(text.find("expected u32, found string"), std::string::npos) << text;
  EXPECT_NE(message([&] { file.get_u32_or("text", 1); }).find("key 'text'"), std::string::npos);
  EXPECT_NE(message([&] { file.get_string("missing"); }).find("missing key 'missing'"),
            std::string::npos);
  EXPECT_NE(message([&] { file.get_array_strings("floats"); }).find("array of f32"),
            std::string::npos);
  EXPECT_THROW(file.get_array("text"), Error);
  EXPECT_THROW(file.get_array_bool("floats"), Error);
  EXPECT_THROW(file.get_array_i64("floats"), Error);
  EXPECT_THROW(file.get_bool("small"), Error);
  EXPECT_THROW(file.get_f32("small"), Error);
}

}  // namespace
}  // namespace quant::gguf
