// `quant perplexity MODEL -f FILE [-c 512] [--chunks N] [--json]`: perplexity of a text the way
// llama-perplexity measures it (see runtime/perplexity.h), with a progress bar and tokens/s.

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "common/progress.h"
#include "model/model.h"
#include "runtime/perplexity.h"
#include "runtime/session.h"
#include "session_flags.h"
#include "tokenizer/tokenizer.h"

namespace quant::cli {

namespace {

struct PerplexityArgs {
  std::string model;
  std::string text_file;
  uint32_t context = 512;
  uint32_t chunks = 0;
  bool json = false;
  std::string progress = "auto";
  SessionFlags session;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) fail("{}: read failed", path);
  return text;
}

void run_perplexity(const PerplexityArgs& args) {
  const model::Model model = model::Model::load(args.model);
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  if (!tokenizer.bos_id())
    fail("{}: the vocabulary has no BOS token, which perplexity needs", args.model);
  const std::vector<int32_t> tokens = tokenizer.encode(read_file(args.text_file), true, false);

  SessionOptions options = args.session.options();
  options.context_length = args.context;
  Session session(model, options);
  std::fprintf(stderr, "%s\n", describe_session(args.model, session).c_str());
  const PerplexityOptions ppl_options{.context = args.context, .max_chunks = args.chunks};
  const uint64_t available = tokens.size() / args.context;
  const uint64_t planned = args.chunks > 0 ? std::min<uint64_t>(available, args.chunks) : available;
  std::fprintf(stderr, "%s: %zu tokens, %llu chunks of %u\n", args.text_file.c_str(), tokens.size(),
               static_cast<unsigned long long>(planned), args.context);

  ProgressBar bar("perplexity", planned, *parse_progress_mode(args.progress));
  const auto start = std::chrono::steady_clock::now();
  const PerplexityResult result =
      compute_perplexity(session, tokens, *tokenizer.bos_id(), ppl_options,
                         [&](uint32_t, uint32_t) { bar.advance(1); });
  bar.finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double evaluated = static_cast<double>(result.n_chunks) * args.context;

  fmt::print("PPL = {:.4f} +/- {:.5f} ({} tokens scored in {} chunks of {})\n", result.ppl,
             result.ppl_error, result.tokens_scored, result.n_chunks, args.context);
  fmt::print("{:.0f} tokens evaluated in {:.2f} s: {:.1f} tokens/s\n", evaluated, seconds,
             evaluated / seconds);
  if (args.json)
    fmt::print("{{\"ppl\":{:.6f},\"ppl_error\":{:.6f},\"tokens_scored\":{}}}\n", result.ppl,
               result.ppl_error, result.tokens_scored);
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto args = std::make_shared<PerplexityArgs>();
  auto* cmd = app.add_subcommand(
      "perplexity",
      "Perplexity of a text file, as llama-perplexity computes it: windows of -c tokens from an "
      "empty cache, each starting with BOS, scored on their second half");
  cmd->add_option("model", args->model, "GGUF model")->required()->check(CLI::ExistingFile);
  cmd->add_option("-f,--file", args->text_file, "Text file (UTF-8)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-c,--ctx-size", args->context, "Tokens per window")
      ->check(CLI::Range(4u, 1u << 20))
      ->capture_default_str();
  cmd->add_option("--chunks", args->chunks, "Windows to evaluate (default: all in the text)");
  cmd->add_flag(
      "--json", args->json,
      "End the output with one JSON line: {\"ppl\":..,\"ppl_error\":..,\"tokens_scored\":..}");
  cmd->add_option("--progress", args->progress, "Progress bar on stderr: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  args->session.add_to(*cmd, false);
  cmd->callback([args] { run_perplexity(*args); });
}

}  // namespace quant::cli
