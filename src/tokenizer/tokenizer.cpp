#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>

#include "common/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/sentencepiece.h"
#include "tokenizer/special_token_splitter.h"
#include "tokenizer/utf8.h"

namespace quant {

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // "▁" U+2581, SentencePiece's space

// Token texts llama.cpp recognises (its load() in llama-vocab.cpp) when the metadata does not say.
constexpr std::array<std::string_view, 10> kEndOfTurnTexts = {
    "<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>",         "<|endoftext|>",
    "<|end_of_text|>", "<EOT>",      "_<EOT>",  "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::string_view kEndOfMessageText = "<|eom_id|>";
// Fill-in-the-middle prefix / suffix / middle markers: control tokens, not end of generation.
constexpr std::array<std::string_view, 21> kFimMarkerTexts = {
    "<|fim_prefix|>", "<fim-prefix>",    "<fim_prefix>",   "<｜fim▁begin｜>", "<PRE>",
    "▁<PRE>",         "<|code_prefix|>", "<|fim_suffix|>", "<fim-suffix>",    "<fim_suffix>",
    "<｜fim▁hole｜>", "<SUF>",           "▁<SUF>",         "<|code_suffix|>", "<|fim_middle|>",
    "<fim-middle>",   "<fim_middle>",    "<｜fim▁end｜>",  "<MID>",           "▁<MID>",
    "<|code_middle|>"};
// Fill-in-the-middle pad / repository / file separators: they end generation.
constexpr std::array<std::string_view, 10> kFimStopTexts = {
    "<|fim_pad|>",   "<fim-pad>",  "<fim_pad>", "<PAD>",      "<|fim_repo|>",
    "<|repo_name|>", "<fim-repo>", "<REPO>",    "<reponame>", "<|file_sep|>"};
// Texts that end generation wherever they appear in a vocabulary.
constexpr std::array<std::string_view, 10> kEndOfGenerationTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",   "<|endoftext|>",
    "<|eom_id|>", "<EOT>",      "_<EOT>",  "<|end_of_text|>", "<end_of_utterance>"};

}  // namespace

struct Tokenizer::State {
  std::vector<std::string> warnings;
  TokenizerModel model;
  Vocabulary vocab;
  std::optional<PreTokenizer> pre_tokenizer;  // byte-level BPE only
  std::string pre_tokenizer_name;
  std::optional<int32_t> bos, eos, eot, eom, unknown, padding;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  std::vector<int32_t> end_of_generation;  // ascending
  SpecialTokenSplitter splitter;

  explicit State(const VocabularySpec& spec) : model(spec.model), vocab(spec, warnings) {
    const bool spm = model == TokenizerModel::SentencePiece;
    if (!spm) {
      pre_tokenizer.emplace(PreTokenizer::for_name(spec.pre_tokenizer, warnings));
      pre_tokenizer_name = pre_tokenizer->name();
    }
    // llama.cpp's defaults: SentencePiece vocabularies start <unk> <s> </s>.
    bos = resolve_id("tokenizer.ggml.bos_token_id", spec.bos_id,
                     spm ? std::optional<int32_t>(1) : std::nullopt);
    eos = resolve_id("tokenizer.ggml.eos_token_id", spec.eos_id,
                     spm ? std::optional<int32_t>(2) : std::nullopt);
    unknown = resolve_id("tokenizer.ggml.unknown_token_id", spec.unknown_id,
                         spm ? std::optional<int32_t>(0) : std::nullopt);
    padding = resolve_id("tokenizer.ggml.padding_token_id", spec.padding_id, std::nullopt);
    eot = resolve_id("tokenizer.ggml.eot_token_id", spec.eot_id, std::nullopt);
    eom = resolve_id("tokenizer.ggml.eom_token_id", spec.eom_id, std::nullopt);

    add_bos = spec.add_bos.value_or(spm || pre_tokenizer->adds_bos_by_default());
    add_eos = spec.add_eos.value_or(false);
    add_space_prefix = spm && spec.add_space_prefix.value_or(true);
    if (add_bos && !bos)
      fail(
          "tokenizer.ggml.add_bos_token is true but there is no BOS token "
          "(tokenizer.ggml.bos_token_id)");
    if (add_eos && !eos)
      fail(
          "tokenizer.ggml.add_eos_token is true but there is no EOS token "
          "(tokenizer.ggml.eos_token_id)");

    find_end_of_generation_tokens();
    splitter = SpecialTokenSplitter(vocab);
  }

  // A special id from the metadata: used when it is a token id, else the default (as llama.cpp
  // does). -1 and 0xFFFFFFFF are the usual ways to write "none" and pass silently.
  std::optional<int32_t> resolve_id(std::string_view key, std::optional<int64_t> stored,
                                    std::optional<int32_t> fallback) {
    if (fallback && !vocab.contains(*fallback)) fallback.reset();
    if (!stored) return fallback;
    if (*stored >= 0 && *stored < vocab.size()) return static_cast<int32_t>(*stored);
    if (*stored != -1 && *stored != 0xFFFFFFFF)
      warnings.push_back(fmt::format(
          "{} = {} is not a token id (the vocabulary has {}); {}", key, *stored, vocab.size(),
          fallback ? fmt::format("using {}", *fallback) : std::string("ignored")));
    return fallback;
  }

  // llama.cpp recognises end-of-turn, fill-in-the-middle and end-of-generation tokens by their text
  // and makes them control tokens (so they are parsed only as special tokens).
  void promote_to_control(int32_t id) {
    if (vocab.type(id) == TokenType::Control) return;
    warnings.push_back(
        fmt::format("token {} '{}' looks like a control token but is typed {}; treating it as "
                    "control",
                    id, vocab.text(id), static_cast<int>(vocab.type(id))));
    vocab.set_type(id, TokenType::Control);
  }

  std::optional<int32_t> first_token_of(std::span<const std::string_view> texts) const {
    std::optional<int32_t> first;
    for (const std::string_view text : texts)
      if (const auto id = vocab.find(text); id && (!first || *id < *first)) first = id;
    return first;
  }

  void find_end_of_generation_tokens() {
    if (!eot) {
      eot = first_token_of(kEndOfTurnTexts);
      if (eot) promote_to_control(*eot);
    }
    if (!eom) {
      eom = vocab.find(kEndOfMessageText);
      if (eom) promote_to_control(*eom);
    }
    for (const std::string_view text : kFimMarkerTexts)
      if (const auto id = vocab.find(text)) promote_to_control(*id);
    std::vector<int32_t> ids;
    for (const std::string_view text : kFimStopTexts)
      if (const auto id = vocab.find(text)) ids.push_back(*id);
    for (const std::string_view text : kEndOfGenerationTexts)
      if (const auto id = vocab.find(text)) ids.push_back(*id);
    for (const int32_t id : ids) promote_to_control(id);
    for (const auto& id : {eos, eot, eom})
      if (id) ids.push_back(*id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    end_of_generation = std::move(ids);
  }
};

Tokenizer::Tokenizer(std::shared_ptr<const State> state) : state_(std::move(state)) {}

Tokenizer Tokenizer::from_spec(const VocabularySpec& spec) {
  return Tokenizer(std::make_shared<State>(spec));
}

void Tokenizer::check_id(int32_t id) const {
  if (!state_->vocab.contains(id))
    fail("token id {} is outside the vocabulary (0 .. {})", id, state_->vocab.size() - 1);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  if (const auto offset = utf8::first_invalid_offset(text))
    fail("text to tokenize: invalid UTF-8 at byte offset {}", *offset);
  const State& s = *state_;
  std::vector<int32_t> ids;
  if (add_bos) {
    if (!s.bos)
      fail("cannot add BOS: the vocabulary has no BOS token (tokenizer.ggml.bos_token_id)");
    ids.push_back(*s.bos);
  }
  const std::vector<PromptFragment> fragments = s.splitter.split(s.vocab, text, parse_special);
  if (s.model == TokenizerModel::BytePairEncoding) {
    for (const PromptFragment& fragment : fragments) {
      if (fragment.is_special())
        ids.push_back(fragment.special_token);
      else
        encode_byte_level_bpe(s.vocab, *s.pre_tokenizer, fragment.text, ids);
    }
    return ids;
  }
  // SentencePiece: text that starts the prompt or follows a special token gets a leading space.
  bool after_special = true;
  std::string escaped;
  for (const PromptFragment& fragment : fragments) {
    if (fragment.is_special()) {
      ids.push_back(fragment.special_token);
      after_special = true;
      continue;
    }
    escaped.clear();
    if (s.add_space_prefix && after_special) escaped += kSpaceMarker;
    for (const char c : fragment.text) {
      if (c == ' ')
        escaped += kSpaceMarker;
      else
        escaped += c;
    }
    encode_sentencepiece(s.vocab, s.unknown, escaped, ids);
    after_special = false;
  }
  return ids;
}

std::string Tokenizer::piece(int32_t id, bool render_special) const {
  check_id(id);
  const Vocabulary& vocab = state_->vocab;
  const std::string_view text = vocab.text(id);
  switch (vocab.type(id)) {
    case TokenType::Control:
    case TokenType::Unknown:
      return render_special ? std::string(text) : std::string();
    case TokenType::UserDefined:
      return std::string(text);
    case TokenType::Unused:
      return {};
    case TokenType::Byte:
      return std::string(1, static_cast<char>(vocab.byte_value(id)));
    case TokenType::Normal:
      break;
  }
  std::string result;
  if (state_->model == TokenizerModel::SentencePiece) {
    for (size_t at = 0; at < text.size();) {
      if (text.substr(at, kSpaceMarker.size()) == kSpaceMarker) {
        result += ' ';
        at += kSpaceMarker.size();
      } else {
        result += text[at++];
      }
    }
    return result;
  }
  // Byte-level BPE: each character stands for one byte. Characters outside GPT-2's alphabet
  // (possible only in a hand-made vocabulary) are kept as they are.
  for (size_t at = 0; at < text.size();) {
    const utf8::Decoded d = utf8::decode(text.substr(at));
    const size_t length = d.status == utf8::Decoded::Status::Complete ? d.length : 1;
    const std::optional<uint8_t> byte = d.status == utf8::Decoded::Status::Complete
                                            ? byte_unicode::byte_of(d.code_point)
                                            : std::nullopt;
    if (byte)
      result += static_cast<char>(*byte);
    else
      result += text.substr(at, length);
    at += length;
  }
  return result;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  std::string text;
  for (const int32_t id : ids) text += piece(id, render_special);
  return text;
}

int32_t Tokenizer::n_vocab() const {
  return state_->vocab.size();
}
TokenizerModel Tokenizer::model() const {
  return state_->model;
}
const std::string& Tokenizer::pre_tokenizer() const {
  return state_->pre_tokenizer_name;
}

std::string_view Tokenizer::token_text(int32_t id) const {
  check_id(id);
  return state_->vocab.text(id);
}

TokenType Tokenizer::token_type(int32_t id) const {
  check_id(id);
  return state_->vocab.type(id);
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  return state_->vocab.find(text);
}

std::optional<int32_t> Tokenizer::bos_id() const {
  return state_->bos;
}
std::optional<int32_t> Tokenizer::eos_id() const {
  return state_->eos;
}
std::optional<int32_t> Tokenizer::eot_id() const {
  return state_->eot;
}
std::optional<int32_t> Tokenizer::eom_id() const {
  return state_->eom;
}
std::optional<int32_t> Tokenizer::unknown_id() const {
  return state_->unknown;
}
std::optional<int32_t> Tokenizer::padding_id() const {
  return state_->padding;
}
bool Tokenizer::add_bos() const {
  return state_->add_bos;
}
bool Tokenizer::add_eos() const {
  return state_->add_eos;
}
bool Tokenizer::add_space_prefix() const {
  return state_->add_space_prefix;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return std::binary_search(state_->end_of_generation.begin(), state_->end_of_generation.end(), id);
}

const std::vector<int32_t>& Tokenizer::end_of_generation_ids() const {
  return state_->end_of_generation;
}

const std::vector<std::string>& Tokenizer::warnings() const {
  return state_->warnings;
}

}  // namespace quant
