// `quant run MODEL [-p PROMPT | -f FILE] [--chat] ...`: prints the prompt, then streams what the
// model generates after it. With --chat the prompt is one user message in the model's chat
// template, and the answer ends at the template's end of turn.

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "generation_setup.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "tokenizer/utf8.h"

namespace quant::cli {

namespace {

struct RunFlags {
  GenerationFlags generation;
  std::string prompt;
  std::string prompt_file;
  bool chat = false;
  std::optional<std::string> system;
  bool no_display_prompt = false;
};

void run(const RunFlags& flags) {
  std::string prompt_text = flags.prompt;
  std::string prompt_name = "prompt";
  if (!flags.prompt_file.empty()) {
    prompt_text = read_text_file(flags.prompt_file);
    prompt_name = flags.prompt_file;
  }
  // Before loading anything: the chat template would hide the offset in the user's text.
  if (const std::optional<size_t> offset = utf8::first_invalid_offset(prompt_text))
    fail("{}: invalid UTF-8 at byte offset {}", prompt_name, *offset);

  LoadedModel loaded(flags.generation);
  const Tokenizer& tokenizer = loaded.tokenizer;
  std::vector<int32_t> prompt;
  std::vector<std::string> template_stops;
  if (flags.chat) {
    const ChatTemplate chat_template = load_chat_template(loaded);
    std::vector<ChatMessage> messages;
    if (flags.system) messages.push_back({"system", *flags.system});
    messages.push_back({"user", prompt_text});
    prompt = tokenize_prompt(tokenizer, chat_template.render(messages, true), tokenizer.add_bos(),
                             true, prompt_name);
    template_stops.push_back(chat_template.end_of_turn());
  } else {
    // Special-token text in the prompt (such as <|im_start|>) becomes those tokens, as llama.cpp.
    prompt = tokenize_prompt(tokenizer, prompt_text, tokenizer.add_bos(), true, prompt_name);
  }

  Generator generator(loaded.session, tokenizer);
  const uint64_t seed = resolve_seed(flags.generation);
  const GenerationOptions options = generation_options(flags.generation, seed, template_stops);
  generator.check(prompt, options);
  if (!flags.no_display_prompt) {
    print_streamed(prompt_text);
    if (flags.chat) print_streamed("\n");
  }
  const GenerationResult result = generator.generate(prompt, options, print_streamed);
  print_streamed("\n");
  print_stats(result.stats, finish_reason_name(result.finish_reason), seed);
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  auto* cmd = app.add_subcommand(
      "run",
      "Generate text after a prompt, streaming it to stdout (stats on stderr). Sampling defaults "
      "follow llama.cpp (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repeat penalty, a "
      "random seed); --temp 0 is greedy. At most 256 tokens unless -n says otherwise. Without -p "
      "or -f the prompt is empty (BOS only).");
  auto* prompt = cmd->add_option("-p,--prompt", flags->prompt, "Prompt text");
  cmd->add_option("-f,--file", flags->prompt_file, "Read the prompt from this file")
      ->excludes(prompt);
  add_generation_flags(*cmd, flags->generation);
  auto* chat = cmd->add_flag("--chat", flags->chat,
                             "Wrap the prompt as one user message in the model's chat template "
                             "(with its default system prompt) and stop at the end of the turn");
  cmd->add_option("--system", flags->system, "System prompt for --chat")->needs(chat);
  cmd->add_flag("--no-display-prompt", flags->no_display_prompt,
                "Print only the generated text, not the prompt");
  cmd->callback([flags] { run(*flags); });
}

}  // namespace quant::cli
