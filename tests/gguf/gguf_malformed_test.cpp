// The malformed-file corpus: every broken image must be rejected with quant::Error (never a crash,
// a hang or an unbounded allocation), and each hand-made one for its own reason. Also run under
// ASan + UBSan.

#include <gtest/gtest.h>

#include <iostream>
#include <random>
#include <string>

#include "common/error.h"
#include "gguf/exercise_gguf.h"
#include "gguf/gguf_file.h"
#include "gguf/malformed_gguf.h"

namespace quant::gguf {
namespace {

using test::MalformedCase;

// The error message for `bytes`, or "" when they are accepted.
std::string rejection(const std::string& name, const std::vector<uint8_t>& bytes) {
  try {
    GgufFile file = GgufFile::from_bytes(name, bytes);
    test::exercise_all_accessors(file);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(GgufMalformed, SmallValidFileIsAccepted) {
  std::vector<uint8_t> bytes = test::small_valid_gguf();
  GgufFile file = GgufFile::from_bytes("small.gguf", bytes);
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.architecture(), "test");
  EXPECT_EQ(file.metadata().size(), 21u);
  EXPECT_EQ(file.get_u32("test.u8"), 200u);
  EXPECT_EQ(file.get_i64("test.i8"), -100);
  EXPECT_EQ(file.get_u32("test.u16"), 60000u);
  EXPECT_EQ(file.get_i64("test.i16"), -30000);
  EXPECT_EQ(file.get_u32("test.u32"), 4000000000u);
  EXPECT_EQ(file.get_i64("test.i32"), -2000000000);
  EXPECT_EQ(file.get_f32("test.f32"), 1.5f);
  EXPECT_TRUE(file.get_bool("test.bool"));
  EXPECT_EQ(file.get_string("test.string"), "hello");
  EXPECT_EQ(file.get_u64("test.u64"), uint64_t{1} << 40);
  EXPECT_EQ(file.get_i64("test.i64"), -(int64_t{1} << 40));
  EXPECT_EQ(file.get_f32("test.f64"), 0.25f);
  EXPECT_EQ(file.get_array_i64("test.array.u8"), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(file.get_array_i64("test.array.i32"), (std::vector<int64_t>{-1, 2}));
  EXPECT_EQ(file.get_array_f32("test.array.f32"), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(file.get_array_bool("test.array.bool"), (std::vector<bool>{true, false}));
  EXPECT_EQ(file.get_array_strings("test.array.string"),
            (std::vector<std::string_view>{"a", "bc", ""}));
  EXPECT_EQ(file.get_array("test.array.empty").count, 0u);
  EXPECT_THROW(file.get_array_i64("test.array.u64"), Error);  // 2^64 - 1 does not fit

  ASSERT_EQ(file.tensors().size(), 3u);
  const TensorInfo* c = file.find_tensor("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->type, TensorType::Q8_0);
  EXPECT_EQ(c->dims, (std::vector<uint64_t>{32, 2}));
  EXPECT_EQ(c->n_bytes, 68u);
  EXPECT_EQ(c->rows(), 2u);
  EXPECT_EQ(file.data_offset() + c->offset + c->n_bytes, bytes.size());
  EXPECT_EQ(c->data.data(), bytes.data() + file.data_offset() + 128);
  EXPECT_EQ(c->data[1], 8u);
  EXPECT_EQ(file.find_tensor("b")->n_bytes, 16u);
  EXPECT_NE(test::exercise_all_accessors(file), 0u);
}

// Version 2 has the same layout as version 3 (3 only allowed big-endian files).
TEST(GgufMalformed, Version2IsAccepted) {
  std::vector<uint8_t> bytes = test::small_valid_gguf();
  bytes[4] = 2;
  GgufFile file = GgufFile::from_bytes("v2.gguf", bytes);
  EXPECT_EQ(file.version(), 2u);
  EXPECT_EQ(file.tensors().size(), 3u);
}

TEST(GgufMalformed, HandMadeCasesAreRejectedForTheirReason) {
  std::vector<MalformedCase> cases = test::hand_made_cases();
  ASSERT_GE(cases.size(), 40u);
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::string file_name = c.name + ".gguf";
    std::string message = rejection(file_name, c.bytes);
    ASSERT_FALSE(message.empty()) << "accepted";
    EXPECT_NE(message.find(file_name), std::string::npos) << message;
    EXPECT_NE(message.find("byte offset"), std::string::npos) << message;
    for (const std::string& word : c.expected_words) {
      EXPECT_NE(message.find(word), std::string::npos)
          << "'" << word << "' missing in: " << message;
    }
  }
}

TEST(GgufMalformed, EveryTruncationIsRejected) {
  std::vector<MalformedCase> cases = test::truncated_cases();
  ASSERT_EQ(cases.size(), test::small_valid_gguf().size());
  for (const MalformedCase& c : cases) {
    EXPECT_NE(rejection(c.name, c.bytes), "") << c.name << " was accepted";
  }
}

// Random edits of the valid file: each result must parse or be rejected with quant::Error. The seed
// is fixed, so a failure reproduces.
TEST(GgufMalformed, RandomEditsNeverEscapeAsAnythingButError) {
  const std::vector<uint8_t> valid = test::small_valid_gguf();
  std::mt19937_64 random(20240601);
  std::uniform_int_distribution<size_t> position(0, valid.size() - 1);
  std::uniform_int_distribution<int> edits(1, 4);
  const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x40, 0x20, 0x09};
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> bytes = valid;
    for (int e = edits(random); e > 0; --e) {
      uint64_t r = random();
      bytes[position(random)] = (r & 1) ? static_cast<uint8_t>(r >> 8) : interesting[(r >> 8) % 8];
    }
    if (rejection("edit-" + std::to_string(round), bytes).empty()) ++accepted;
  }
  // Edits inside tensor data or string contents keep the file valid; most others break it.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 3000);
  std::cout << accepted << " of 3000 edited files accepted\n";
}

}  // namespace
}  // namespace quant::gguf
