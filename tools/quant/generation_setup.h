#pragma once
// What `quant run` and `quant chat` share: the model, sampling and backend flags, loading the model
// with its tokenizer and a session, the chat template, and the stats line.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "session_flags.h"
#include "tokenizer/tokenizer.h"

namespace quant::cli {

struct GenerationFlags {
  std::string model_path;
  int64_t max_tokens = 256;  // -n; -1: until the end of generation or of the context
  SamplerOptions sampling;   // the seed is set from `seed`
  std::optional<uint64_t> seed;
  bool ignore_eos = false;
  std::vector<std::string> stop_strings;
  SessionFlags session;  // --backend, --device, --threads, --ctx-size
};

// Registers MODEL and the sampling and session flags on `cmd`, with `flags`' values as defaults.
void add_generation_flags(CLI::App& cmd, GenerationFlags& flags);

// The seed to use: the one given, else a random one (shown in the stats line to repeat a run).
uint64_t resolve_seed(const GenerationFlags& flags);

// The generator's options from the flags, with `seed` and any `extra_stop_strings` (a chat
// template's end-of-turn text).
GenerationOptions generation_options(const GenerationFlags& flags, uint64_t seed,
                                     const std::vector<std::string>& extra_stop_strings = {});

// A model, its tokenizer and a session on it; not movable (the session refers to the model).
struct LoadedModel {
  explicit LoadedModel(const GenerationFlags& flags);
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;

  model::Model model;
  Tokenizer tokenizer;
  Session session;
};

// The model's chat template (tokenizer.chat_template); prints its warning, if any, on stderr.
ChatTemplate load_chat_template(const LoadedModel& loaded);

// Tokenizes prompt text; `what` names the text ("prompt", a file) in the error for invalid UTF-8.
std::vector<int32_t> tokenize_prompt(const Tokenizer& tokenizer, std::string_view text,
                                     bool add_bos, bool parse_special, std::string_view what);

// Reads a whole text file; throws quant::Error naming it when it cannot be read.
std::string read_text_file(const std::string& path);

// Writes a piece of generated text to stdout at once.
void print_streamed(std::string_view text);

// One line on stderr: tokens, speeds, finish reason and seed.
void print_stats(const GenerationStats& stats, std::string_view finish_reason, uint64_t seed);

}  // namespace quant::cli
