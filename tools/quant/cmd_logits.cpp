// `quant logits MODEL (--tokens 1,2,3 | -p TEXT) --out FILE`: the raw logits after each token, fed
// one at a time, for comparing engines and backends with other implementations.

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "model/model.h"
#include "runtime/session.h"
#include "session_flags.h"
#include "tokenizer/tokenizer.h"

namespace quant::cli {

namespace {

static_assert(std::endian::native == std::endian::little,
              "logits are written as little-endian F32");

struct LogitsArgs {
  std::string model;
  std::string tokens;
  std::string prompt;
  std::string out;
  SessionFlags session;
};

// "1, 2,3" -> {1, 2, 3}.
std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> ids;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    std::string_view item(text.data() + at, comma - at);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int32_t id = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || error != std::errc() || end != item.data() + item.size())
      fail("--tokens: '{}' is not a token id (expected comma-separated integers)", item);
    ids.push_back(id);
    at = comma + 1;
  }
  return ids;
}

void run_logits(const LogitsArgs& args) {
  const model::Model model = model::Model::load(args.model);
  std::vector<int32_t> tokens;
  if (!args.tokens.empty()) {
    tokens = parse_token_list(args.tokens);
  } else {
    const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
    tokens = tokenizer.encode(args.prompt, tokenizer.add_bos(), true);
    if (tokens.empty()) fail("-p: the prompt gives no tokens");
  }
  SessionOptions options = args.session.options();
  if (options.context_length == 0) options.context_length = static_cast<uint32_t>(tokens.size());
  Session session(model, options);
  std::fprintf(stderr, "%s\n", describe_session(args.model, session).c_str());

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(args.out.c_str(), "wb"),
                                                      &std::fclose);
  if (!out) fail("{}: cannot open for writing", args.out);
  for (const int32_t token : tokens) {
    const std::span<const float> logits = session.forward(token);
    if (std::fwrite(logits.data(), sizeof(float), logits.size(), out.get()) != logits.size())
      fail("{}: write failed", args.out);
  }
  if (std::fclose(out.release()) != 0) fail("{}: write failed", args.out);
  std::fprintf(stderr, "wrote %zu x %u logits (float32, little-endian) to %s\n", tokens.size(),
               session.n_vocab(), args.out.c_str());
}

}  // namespace

void add_logits_command(CLI::App& app) {
  auto args = std::make_shared<LogitsArgs>();
  auto* cmd = app.add_subcommand(
      "logits",
      "Write the logits after each token (fed one at a time) as float32 rows of n_vocab values");
  cmd->add_option("model", args->model, "GGUF model")->required()->check(CLI::ExistingFile);
  auto* tokens = cmd->add_option("--tokens", args->tokens, "Token ids, comma-separated: 1,2,3");
  auto* prompt = cmd->add_option(
      "-p,--prompt", args->prompt,
      "Text to tokenize (BOS added as the model's metadata says; control tokens such as "
      "<|im_start|> written in the text are parsed)");
  tokens->excludes(prompt);
  cmd->add_option("-o,--out", args->out, "Output file")->required();
  args->session.add_to(*cmd, true);
  cmd->callback([args, tokens, prompt] {
    if (tokens->count() == 0 && prompt->count() == 0) fail("give --tokens or -p");
    run_logits(*args);
  });
}

}  // namespace quant::cli
