// Tokenizer behaviour on small in-memory vocabularies: both BPE flavours, special tokens, BOS,
// pieces.

#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_vocabularies.h"

namespace quant {
namespace {

using Ids = std::vector<int32_t>;

TEST(SentencePiece, MergesHighestScoringPairsAndPrefixesASpace) {
  // "ab" scores better than "▁a", so "▁ab" comes from "▁" + "ab" (both must exist for each merge).
  auto v = test::sentencepiece_vocabulary({"ab", "▁ab", "▁", "a", "b", "▁a"});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.encode("ab", false, false), (Ids{v.id_of("▁ab")}));
  EXPECT_EQ(tokenizer.encode("ab ab", true, false), (Ids{1, v.id_of("▁ab"), v.id_of("▁ab")}));
  EXPECT_EQ(tokenizer.encode("ba", false, false), (Ids{v.id_of("▁"), v.id_of("b"), v.id_of("a")}));
  EXPECT_EQ(tokenizer.encode("", false, false), Ids{});
  EXPECT_EQ(tokenizer.encode("", true, false), Ids{1});
}

TEST(SentencePiece, LeftmostPairWinsATie) {
  // "aa" can form at positions 0 and 1 of "aaa": the leftmost merges, leaving "aa" + "a".
  auto v = test::sentencepiece_vocabulary({"a", "aa"});
  v.spec.add_space_prefix = false;
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.encode("aaa", false, false), (Ids{v.id_of("aa"), v.id_of("a")}));
}

TEST(SentencePiece, UnknownCharactersFallBackToBytes) {
  auto v = test::sentencepiece_vocabulary({"▁", "x"});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  // "é" is C3 A9; byte tokens <0xNN> have id 3 + NN.
  EXPECT_EQ(tokenizer.encode("xé", false, false),
            (Ids{v.id_of("▁"), v.id_of("x"), 3 + 0xC3, 3 + 0xA9}));
}

TEST(SentencePiece, SpacePrefixCanBeTurnedOff) {
  auto v = test::sentencepiece_vocabulary({"▁", "x", "▁x"});
  v.spec.add_space_prefix = false;
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_FALSE(tokenizer.add_space_prefix());
  EXPECT_EQ(tokenizer.encode("x x", false, false), (Ids{v.id_of("x"), v.id_of("▁x")}));
}

TEST(SentencePiece, TextAfterASpecialTokenGetsTheSpacePrefixAgain) {
  auto v = test::sentencepiece_vocabulary({"▁", "x", "▁x"});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.encode("x</s>x", false, true), (Ids{v.id_of("▁x"), 2, v.id_of("▁x")}));
  // Without special parsing "</s>" is text: '<', '/', 's', '>' are byte tokens here.
  EXPECT_EQ(tokenizer.encode("</s>", false, false),
            (Ids{v.id_of("▁"), 3 + '<', 3 + '/', 3 + 's', 3 + '>'}));
}

TEST(SentencePiece, PiecesUndoEscapingAndBytes) {
  auto v = test::sentencepiece_vocabulary({"▁hi"});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.piece(v.id_of("▁hi")), " hi");
  EXPECT_EQ(tokenizer.piece(3 + 0x41), "A");
  EXPECT_EQ(tokenizer.piece(1), "<s>");
  EXPECT_EQ(tokenizer.piece(1, /*render_special=*/false), "");
  EXPECT_EQ(tokenizer.decode(Ids{v.id_of("▁hi"), 3 + 0xC3, 3 + 0xA9}), " hié");
  EXPECT_EQ(tokenizer.token_text(v.id_of("▁hi")), "▁hi");
  EXPECT_THROW(tokenizer.piece(tokenizer.n_vocab()), Error);
  EXPECT_THROW(tokenizer.piece(-1), Error);
}

TEST(SentencePiece, DefaultsFollowLlamaCpp) {
  auto v = test::sentencepiece_vocabulary({});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_EQ(tokenizer.unknown_id(), 0);
  EXPECT_TRUE(tokenizer.add_bos());
  EXPECT_FALSE(tokenizer.add_eos());
  EXPECT_TRUE(tokenizer.add_space_prefix());
  EXPECT_TRUE(tokenizer.is_end_of_generation(2));
  EXPECT_FALSE(tokenizer.is_end_of_generation(1));
}

TEST(ByteLevelBpe, MergesByRankInsideEachWord) {
  // " abc" -> "Ġ" "a" "b" "c": "a b" (rank 0), then "ab c" (rank 1); "Ġ a" (rank 2) comes too late.
  auto v = test::byte_level_vocabulary({"ab", "abc", " a"}, {{"a", "b"}, {"ab", "c"}, {" ", "a"}});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  const int32_t space = v.id_of(test::byte_level(" "));
  const int32_t abc = v.id_of(test::byte_level("abc"));
  EXPECT_EQ(tokenizer.encode("abc abc", false, false), (Ids{abc, space, abc}));
  EXPECT_EQ(tokenizer.encode(" a", false, false), (Ids{v.id_of(test::byte_level(" a"))}));
  // Bytes that no merge joins stay single-byte tokens, whatever their value.
  EXPECT_EQ(tokenizer.encode("\n\xC3\xA9", false, false), (Ids{'\n', 0xC3, 0xA9}));
}

TEST(ByteLevelBpe, PiecesMapTheByteAlphabetBack) {
  auto v = test::byte_level_vocabulary({" a"}, {{" ", "a"}});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.piece(v.id_of(test::byte_level(" a"))), " a");
  EXPECT_EQ(tokenizer.piece('\n'), "\n");
  EXPECT_EQ(tokenizer.piece(0xC3) + tokenizer.piece(0xA9), "é");
  const std::string text = "any text, even\ttabs and \xF0\x9F\x98\x80";
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, false, false)), text);
}

TEST(ByteLevelBpe, IgnoreMergesTakesAWholeWordThatIsAToken) {
  // With llama3 rules a word found in the vocabulary is used as is, even if the merges could not
  // build it.
  auto v = test::byte_level_vocabulary({"hello", "he"}, {{"h", "e"}});
  v.spec.pre_tokenizer = "llama3";
  v.tokens.push_back("<|begin_of_text|>");
  v.spec.token_types.push_back(static_cast<int64_t>(TokenType::Control));
  v.spec.bos_id = static_cast<int64_t>(v.tokens.size() - 1);
  const Tokenizer llama3 = Tokenizer::from_spec(v.view());
  EXPECT_EQ(llama3.encode("hello", false, false), (Ids{v.id_of(test::byte_level("hello"))}));
  EXPECT_TRUE(llama3.add_bos());
  v.spec.pre_tokenizer = "gpt-2";
  const Tokenizer gpt2 = Tokenizer::from_spec(v.view());
  EXPECT_EQ(gpt2.encode("hello", false, false).size(), 4u);  // "he" "l" "l" "o"
  EXPECT_FALSE(gpt2.add_bos());
}

// A byte-level vocabulary with ChatML-style specials: <|im_start|> and <|im_end|> control, <think>
// user-defined.
test::OwnedVocabulary chat_vocabulary() {
  auto v = test::byte_level_vocabulary({}, {{"a", "b"}}, "qwen2");
  v.add("<|endoftext|>", TokenType::Control);
  v.add("<|im_start|>", TokenType::Control);
  v.add("<|im_end|>", TokenType::Control);
  v.add("<think>", TokenType::UserDefined);
  v.add("<|im_start|>user", TokenType::Normal);  // a normal token is never matched as special
  v.spec.scores.clear();
  v.spec.eos_id = v.id_of("<|im_end|>");
  return v;
}

TEST(SpecialTokens, ControlTokensOnlyWithParseSpecialUserDefinedAlways) {
  auto v = chat_vocabulary();
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  const int32_t start = v.id_of("<|im_start|>");
  const int32_t end = v.id_of("<|im_end|>");
  const int32_t think = v.id_of("<think>");
  const Ids parsed = tokenizer.encode("<|im_start|>x<think><|im_end|>", false, true);
  EXPECT_EQ(parsed, (Ids{start, 'x', think, end}));
  const Ids plain = tokenizer.encode("<|im_start|>x<think><|im_end|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), start), 0);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), end), 0);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), think), 1);
  EXPECT_EQ(tokenizer.decode(plain), "<|im_start|>x<think><|im_end|>");
  EXPECT_EQ(tokenizer.decode(parsed), "<|im_start|>x<think><|im_end|>");
  EXPECT_EQ(tokenizer.decode(parsed, /*render_special=*/false), "x<think>");
}

TEST(SpecialTokens, LongerTokensAreFoundFirst) {
  auto v = test::byte_level_vocabulary({}, {{"a", "b"}}, "gpt-2");
  v.add("<a>", TokenType::Control);
  v.add("<a><a>", TokenType::Control);
  v.spec.scores.clear();
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.encode("<a><a><a>", false, true), (Ids{v.id_of("<a><a>"), v.id_of("<a>")}));
}

TEST(SpecialTokens, EndOfGenerationFollowsLlamaCpp) {
  auto v = chat_vocabulary();
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_TRUE(tokenizer.is_end_of_generation(v.id_of("<|im_end|>")));
  EXPECT_TRUE(tokenizer.is_end_of_generation(v.id_of("<|endoftext|>")));
  EXPECT_FALSE(tokenizer.is_end_of_generation(v.id_of("<|im_start|>")));
  EXPECT_FALSE(tokenizer.is_end_of_generation(-5));
  // Several end-of-turn texts: the lowest id is taken as EOT (all of them end generation anyway).
  EXPECT_EQ(tokenizer.eot_id(), v.id_of("<|endoftext|>"));
  EXPECT_EQ(tokenizer.end_of_generation_ids(),
            (Ids{v.id_of("<|endoftext|>"), v.id_of("<|im_end|>")}));
  // Byte-level BPE has no default BOS and does not add one.
  EXPECT_EQ(tokenizer.bos_id(), std::nullopt);
  EXPECT_FALSE(tokenizer.add_bos());
  EXPECT_THROW(tokenizer.encode("x", /*add_bos=*/true, false), Error);
}

TEST(SpecialTokens, EndOfTurnTextTypedNormalBecomesControl) {
  auto v = test::byte_level_vocabulary({}, {{"a", "b"}}, "gpt-2");
  v.add("<|im_end|>", TokenType::Normal);
  v.spec.scores.clear();
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  EXPECT_EQ(tokenizer.token_type(v.id_of("<|im_end|>")), TokenType::Control);
  EXPECT_EQ(tokenizer.encode("<|im_end|>", false, true), (Ids{v.id_of("<|im_end|>")}));
  ASSERT_EQ(tokenizer.warnings().size(), 1u);
  EXPECT_NE(tokenizer.warnings()[0].find("<|im_end|>"), std::string::npos);
}

TEST(Encode, RejectsInvalidUtf8NamingTheOffset) {
  auto v = test::sentencepiece_vocabulary({});
  const Tokenizer tokenizer = Tokenizer::from_spec(v.view());
  try {
    tokenizer.encode("abc\xC3(", false, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte offset 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tokenizer.encode("\xED\xA0\x80", false, false), Error);  // a surrogate
}

TEST(Tokenizer, CopiesShareOneState) {
  auto v = test::sentencepiece_vocabulary({"▁a"});
  const Tokenizer original = Tokenizer::from_spec(v.view());
  v.tokens.clear();  // the tokenizer owns its strings
  const Tokenizer copy = original;
  EXPECT_EQ(copy.encode("a", false, false), original.encode("a", false, false));
  EXPECT_EQ(copy.token_text(3 + 256), "▁a");
}

}  // namespace
}  // namespace quant
