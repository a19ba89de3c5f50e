#pragma once
// How byte-level BPE splits text into words before merging, as selected by tokenizer.ggml.pre. Each
// pre-tokenizer is an ordered list of regular expressions (llama.cpp's, see pre_tokenizer.cpp): the
// first splits the text, each next one splits every piece the previous produced, and text between
// matches stays a piece of its own. Matching uses PCRE2 in UTF mode with Unicode properties (\p{L},
// \p{N}, ...).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quant {

class PreTokenizer {
 public:
  // Known names (llama.cpp's, with their aliases): default; gpt-2, phi-2, mpt, olmo, jais,
  // trillion, exaone4, gigachat; starcoder, smollm, refact, command-r, codeshell, exaone,
  // minerva-7b, mellum2; llama3 (llama-bpe, llama-v3, falcon3, falcon-h1, pixtral, midm-2.0, lfm2);
  // dbrx, smaug-bpe; qwen2 (deepseek-r1-qwen, megrez, stablelm2, hunyuan, kormo); qwen35; falcon;
  // deepseek-coder; poro-chat, bloom, gpt3-finnish; tekken; gpt-4o, llama4. An empty or unknown
  // name falls back to llama.cpp's "default" rules and appends a warning.
  static PreTokenizer for_name(std::string_view name, std::vector<std::string>& warnings);

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // The rules in use ("default" after a fallback).
  const std::string& name() const { return name_; }
  // llama3-style vocabularies take a word that is itself a token whole, without merging.
  bool ignore_merges() const { return ignore_merges_; }
  // Whether this family adds BOS when tokenizer.ggml.add_bos_token is absent (as llama.cpp
  // decides).
  bool adds_bos_by_default() const { return adds_bos_by_default_; }

  // Splits valid UTF-8 `text` into consecutive non-empty words that cover it exactly; the words are
  // views into `text`, appended to `words`.
  void split(std::string_view text, std::vector<std::string_view>& words) const;

 private:
  struct Regex;
  PreTokenizer() = default;

  std::string name_;
  bool ignore_merges_ = false;
  bool adds_bos_by_default_ = false;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace quant
