#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cassert>

#include "common/error.h"
#include "tokenizer/utf8.h"

namespace quant {

namespace {

// The regular expressions, written as llama.cpp's llama-vocab.cpp writes them (which adapts the
// tokenizer.json originals: "(?i:'s|...)" became explicit "[sS]" classes).
constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";
constexpr std::string_view kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kQwen35 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kTekken =
    R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

struct Recipe {
  std::vector<std::string_view> names;  // the first is the canonical one
  std::vector<std::string_view> regexes;
  bool ignore_merges = false;
  bool adds_bos_by_default = false;
};

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> table = {
      {{"default"}, {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", "[0-9][0-9][0-9]"}},
      {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "exaone4", "gigachat"}, {kGpt2}},
      {{"starcoder", "smollm", "refact", "command-r", "codeshell", "exaone", "minerva-7b",
        "mellum2"},
       {R"re(\p{N})re", kGpt2}},
      {{"llama3", "llama-bpe", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       {kLlama3},
       true,
       true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}},
      {{"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "hunyuan", "kormo"}, {kQwen2}},
      {{"qwen35"}, {kQwen35}},
      {{"falcon"}, {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, "[0-9][0-9][0-9]"}},
      {{"deepseek-coder"},
       {"[\r\n]", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", "[一-龥ࠀ-一가-퟿]+",
        R"re(\p{N})re"}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {R"re( ?[^(\s|.,!?…。，、।۔،)]+)re"}},
      {{"tekken"}, {kTekken}, true, true},
      {{"gpt-4o", "llama4"}, {kGpt4o}},
  };
  return table;
}

// llama.cpp's whitespace set (Unicode White_Space). PCRE2's own \s leaves out U+0085, so every \s
// and \S is spelled out with this list before compiling.
constexpr std::string_view kWhitespaceRanges =
    R"re(\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})re";

std::string spell_out_whitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[++i];
      if (escaped == 's') {
        out += in_class ? std::string(kWhitespaceRanges) : fmt::format("[{}]", kWhitespaceRanges);
      } else if (escaped == 'S') {
        assert(!in_class && "\\S inside a character class is not used by any pre-tokenizer");
        out += fmt::format("[^{}]", kWhitespaceRanges);
      } else {
        out += c;
        out += escaped;
      }
      continue;
    }
    if (c == '[') in_class = true;
    if (c == ']') in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

struct PreTokenizer::Regex {
  struct CodeDeleter {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
  };
  std::unique_ptr<pcre2_code, CodeDeleter> code;

  explicit Regex(std::string_view source) {
    const std::string pattern = spell_out_whitespace(source);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr));
    if (!code) {
      std::array<PCRE2_UCHAR, 256> message{};
      pcre2_get_error_message(error_code, message.data(), message.size());
      fail("pre-tokenizer regex '{}' does not compile at offset {}: {}", source, error_offset,
           reinterpret_cast<const char*>(message.data()));
    }
    // The JIT is only a speed-up; the interpreter gives the same matches when it is unavailable.
    pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE);
  }

  // Appends the pieces of `text`: every match, and every stretch between matches.
  void split(std::string_view text, pcre2_match_data* match,
             std::vector<std::string_view>& out) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t piece_start = 0;  // end of the last piece emitted
    size_t search_from = 0;
    while (search_from < text.size()) {
      const int rc = pcre2_match(code.get(), subject, text.size(), search_from, PCRE2_NO_UTF_CHECK,
                                 match, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) fail("pre-tokenizer regex failed with PCRE2 error {}", rc);
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
      const size_t begin = ovector[0];
      const size_t end = ovector[1];
      if (begin == end) {  // an empty match splits nothing; look again one character further
        if (begin == text.size()) break;
        search_from = begin + utf8::sequence_length(static_cast<uint8_t>(text[begin]));
        continue;
      }
      if (begin > piece_start) out.push_back(text.substr(piece_start, begin - piece_start));
      out.push_back(text.substr(begin, end - begin));
      piece_start = search_from = end;
    }
    if (piece_start < text.size()) out.push_back(text.substr(piece_start));
  }
};

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

PreTokenizer PreTokenizer::for_name(std::string_view name, std::vector<std::string>& warnings) {
  const Recipe* chosen = nullptr;
  for (const Recipe& recipe : recipes())
    for (const std::string_view alias : recipe.names)
      if (alias == name) chosen = &recipe;
  if (!chosen) {
    chosen = &recipes().front();
    warnings.push_back(
        name.empty()
            ? std::string("tokenizer.ggml.pre is missing; using the 'default' pre-tokenizer")
            : fmt::format("tokenizer.ggml.pre: unknown pre-tokenizer '{}'; using the "
                          "'default' one, so tokens may differ from the model's own",
                          name));
  }
  PreTokenizer result;
  result.name_ = chosen->names.front();
  result.ignore_merges_ = chosen->ignore_merges;
  result.adds_bos_by_default_ = chosen->adds_bos_by_default;
  for (const std::string_view source : chosen->regexes)
    result.regexes_.push_back(std::make_unique<Regex>(source));
  return result;
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& words) const {
  struct MatchDataDeleter {
    void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
  };
  // Only the whole match is needed, never the groups.
  const std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(
      pcre2_match_data_create(1, nullptr));
  if (!match) throw std::bad_alloc();

  std::vector<std::string_view> pieces{text};
  std::vector<std::string_view> next;
  for (const auto& regex : regexes_) {
    next.clear();
    for (const std::string_view piece : pieces) regex->split(piece, match.get(), next);
    pieces.swap(next);
  }
  words.insert(words.end(), pieces.begin(), pieces.end());
}

}  // namespace quant
