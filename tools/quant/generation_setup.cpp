#include "generation_setup.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "common/error.h"

namespace quant::cli {

void add_generation_flags(CLI::App& cmd, GenerationFlags& flags) {
  cmd.add_option("MODEL", flags.model_path, "GGUF model file")->required();
  cmd.add_option("-n,--n-predict", flags.max_tokens,
                 "Tokens to generate at most (-1: until end of generation or a full context)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{-1}, int64_t{UINT32_MAX}).description(""));
  SamplerOptions& s = flags.sampling;
  cmd.add_option("--temp", s.temperature, "Temperature; 0 is greedy")->capture_default_str();
  cmd.add_option("--top-k", s.top_k, "Keep the k most likely tokens; 0 keeps all")
      ->capture_default_str();
  cmd.add_option("--top-p", s.top_p, "Keep the most likely tokens up to this probability; 1: all")
      ->capture_default_str();
  cmd.add_option("--min-p", s.min_p, "Drop tokens below min-p x the top probability; 0: none")
      ->capture_default_str();
  cmd.add_option("--repeat-penalty", s.repetition_penalty,
                 "Penalty for tokens among the last --repeat-last-n; 1 is off")
      ->capture_default_str();
  cmd.add_option("--repeat-last-n", s.repetition_window, "Tokens the repeat penalty looks at")
      ->capture_default_str();
  cmd.add_option("--seed", flags.seed, "Sampling seed (default: random, shown in the stats line)");
  cmd.add_flag("--ignore-eos", flags.ignore_eos, "Keep generating past end-of-generation tokens");
  cmd.add_option("--stop", flags.stop_strings, "Stop where this text appears (repeatable)")
      ->allow_extra_args(false);
  flags.session.add_to(cmd, true);
}

uint64_t resolve_seed(const GenerationFlags& flags) {
  if (flags.seed) return *flags.seed;
  std::random_device device;
  return (uint64_t{device()} << 32) | device();
}

GenerationOptions generation_options(const GenerationFlags& flags, uint64_t seed,
                                     const std::vector<std::string>& extra_stop_strings) {
  GenerationOptions options;
  options.sampling = flags.sampling;
  options.sampling.seed = seed;
  if (flags.max_tokens >= 0)
    options.max_tokens = static_cast<uint32_t>(flags.max_tokens);
  else
    options.max_tokens = std::nullopt;
  options.stop_strings = flags.stop_strings;
  for (const std::string& stop : extra_stop_strings) {
    if (!stop.empty()) options.stop_strings.push_back(stop);
  }
  options.ignore_eos = flags.ignore_eos;
  return options;
}

LoadedModel::LoadedModel(const GenerationFlags& flags)
    : model(model::Model::load(flags.model_path)),
      tokenizer(Tokenizer::from_gguf(model.file())),
      session(model, flags.session.options()) {
  for (const std::string& warning : tokenizer.warnings())
    fmt::print(stderr, "warning: {}: {}\n", flags.model_path, warning);
  fmt::print(stderr, "{}\n", describe_session(flags.model_path, session));
}

ChatTemplate load_chat_template(const LoadedModel& loaded) {
  ChatTemplateOptions options;
  if (const std::optional<int32_t> eos = loaded.tokenizer.eos_id())
    options.eos_text = loaded.tokenizer.piece(*eos);
  ChatTemplate chat_template = ChatTemplate::detect(
      loaded.model.file().get_string_or("tokenizer.chat_template", ""), options);
  if (!chat_template.warning().empty())
    fmt::print(stderr, "warning: {}\n", chat_template.warning());
  return chat_template;
}

std::vector<int32_t> tokenize_prompt(const Tokenizer& tokenizer, std::string_view text,
                                     bool add_bos, bool parse_special, std::string_view what) {
  try {
    return tokenizer.encode(text, add_bos, parse_special);
  } catch (const Error& e) {
    fail("{}: {}", what, e.what());
  }
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the file", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail("{}: read error", path);
  return text.str();
}

void print_streamed(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void print_stats(const GenerationStats& stats, std::string_view finish_reason, uint64_t seed) {
  std::string line = fmt::format(
      "quant: prompt {} tokens ({} reused, {:.1f} t/s), generated {} tokens ({:.1f} t/s)",
      stats.prompt_tokens, stats.reused_tokens, stats.prefill_tokens_per_second(),
      stats.generated_tokens, stats.decode_tokens_per_second());
  if (!finish_reason.empty()) line += fmt::format(", finish: {}", finish_reason);
  line += fmt::format(", seed {}\n", seed);
  std::fputs(line.c_str(), stderr);
}

}  // namespace quant::cli
