// `quant chat MODEL [-f FILE] ...`: a multi-turn conversation in the model's chat template. Turns
// are lines read from stdin (after a "> " marker) or from FILE; /reset starts a new conversation,
// /exit (or the end of the input) ends. The KV cache is kept across turns: each turn evaluates only
// what the template appends to the conversation so far. Ctrl-C stops the answer being written.

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "generation_setup.h"
#include "interrupt_watcher.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "tokenizer/utf8.h"

namespace quant::cli {

namespace {

struct ChatFlags {
  GenerationFlags generation;
  std::optional<std::string> system;
  std::string turns_file;
};

// The conversation, and the tokens that stand for it: the prompt of the last turn and its answer.
class Conversation {
 public:
  Conversation(LoadedModel& loaded, ChatTemplate chat_template, std::optional<std::string> system,
               GenerationOptions options)
      : tokenizer_(loaded.tokenizer),
        generator_(loaded.session, loaded.tokenizer),
        template_(std::move(chat_template)),
        system_(std::move(system)),
        options_(std::move(options)) {
    if (!template_.end_of_turn().empty()) options_.stop_strings.push_back(template_.end_of_turn());
    reset();
  }

  void reset() {
    messages_.clear();
    if (system_) messages_.push_back({"system", *system_});
    tokens_.clear();
    text_.clear();
    generator_.reset();
  }

  // Adds the user's turn and streams the answer. On an error the conversation is left as it was.
  GenerationResult answer(const std::string& user, const TextCallback& on_text,
                          const CancelCallback& cancelled) {
    messages_.push_back({"user", user});
    try {
      std::string prompt_text;
      std::vector<int32_t> prompt = next_prompt(prompt_text);
      GenerationResult result = generator_.generate(prompt, options_, on_text, cancelled);
      messages_.push_back({"assistant", result.text});
      tokens_ = std::move(prompt);
      tokens_.insert(tokens_.end(), result.tokens.begin(), result.tokens.end());
      // The answer as the model wrote it (end-of-turn token and text after a stop included): what
      // the next rendering must start with for the cache to be reused.
      text_ = std::move(prompt_text) + tokenizer_.decode(result.tokens);
      return result;
    } catch (const Error&) {
      messages_.pop_back();
      throw;
    }
  }

 private:
  // The tokens of the conversation with the new user message and the opening of the answer: the
  // tokens so far and the continuation, when the template renders the history as before.
  std::vector<int32_t> next_prompt(std::string& prompt_text) const {
    if (!tokens_.empty()) {
      if (const std::optional<std::string> continuation =
              template_.render_continuation(messages_, true, text_)) {
        std::vector<int32_t> prompt = tokens_;
        const std::vector<int32_t> more = tokenizer_.encode(*continuation, false, true);
        prompt.insert(prompt.end(), more.begin(), more.end());
        prompt_text = text_ + *continuation;
        return prompt;
      }
    }
    prompt_text = template_.render(messages_, true);
    return tokenizer_.encode(prompt_text, tokenizer_.add_bos(), true);
  }

  const Tokenizer& tokenizer_;
  Generator generator_;
  ChatTemplate template_;
  std::optional<std::string> system_;
  GenerationOptions options_;
  std::vector<ChatMessage> messages_;
  std::vector<int32_t> tokens_;  // the last prompt and its answer
  std::string text_;             // their text
};

void add_to_totals(GenerationStats& totals, const GenerationStats& turn) {
  totals.prompt_tokens += turn.prompt_tokens;
  totals.reused_tokens += turn.reused_tokens;
  totals.generated_tokens += turn.generated_tokens;
  totals.prefill_seconds += turn.prefill_seconds;
  totals.decode_seconds += turn.decode_seconds;
}

void chat(const ChatFlags& flags) {
  std::ifstream turns_file;
  if (!flags.turns_file.empty()) {
    turns_file.open(flags.turns_file);
    if (!turns_file) fail("{}: cannot open the file", flags.turns_file);
  }
  const bool from_file = turns_file.is_open();
  std::istream& input = from_file ? static_cast<std::istream&>(turns_file) : std::cin;

  InterruptWatcher interrupts;  // before the backend starts its threads
  LoadedModel loaded(flags.generation);
  const uint64_t seed = resolve_seed(flags.generation);
  Conversation conversation(loaded, load_chat_template(loaded), flags.system,
                            generation_options(flags.generation, seed));
  if (!from_file)
    fmt::print(stderr,
               "quant: one line per turn; /reset starts over, /exit or end of input ends\n");

  GenerationStats totals;
  std::string line;
  for (uint64_t line_number = 1;; ++line_number) {
    if (!from_file) print_streamed("> ");
    if (!std::getline(input, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (from_file) print_streamed(fmt::format("> {}\n", line));
    if (line == "/exit") break;
    if (line == "/reset") {
      conversation.reset();
      fmt::print(stderr, "(new conversation)\n");
      continue;
    }
    if (line.empty()) continue;
    try {
      if (const std::optional<size_t> offset = utf8::first_invalid_offset(line))
        fail("{} line {}: invalid UTF-8 at byte offset {}", from_file ? flags.turns_file : "input",
             line_number, *offset);
      interrupts.begin_answer();
      const GenerationResult result = conversation.answer(
          line, print_streamed, [&interrupts] { return interrupts.interrupted(); });
      interrupts.end_answer();
      print_streamed("\n");
      add_to_totals(totals, result.stats);
      if (result.finish_reason == FinishReason::Cancelled) fmt::print(stderr, "(interrupted)\n");
      if (result.finish_reason == FinishReason::Context)
        fmt::print(stderr, "(the context is full: /reset starts a new conversation)\n");
    } catch (const Error& e) {
      interrupts.end_answer();
      if (from_file) throw;  // a script's failure shows in the exit status
      fmt::print(stderr, "error: {}\n", e.what());
    }
  }
  if (!from_file) print_streamed("\n");
  print_stats(totals, "", seed);
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto flags = std::make_shared<ChatFlags>();
  flags->generation.max_tokens = -1;  // an answer ends at the end of its turn
  auto* cmd = app.add_subcommand(
      "chat",
      "Chat with the model in its chat template, one line per turn, keeping the KV cache across "
      "turns. Type /reset to start over and /exit (or end the input) to quit; Ctrl-C stops an "
      "answer. Sampling defaults "
      "follow llama.cpp, as for `run`; answers are not limited in length unless -n says so.");
  add_generation_flags(*cmd, flags->generation);
  cmd->add_option("--system", flags->system,
                  "System prompt (default: the template's own, if it has one)");
  cmd->add_option("-f,--file", flags->turns_file,
                  "Read the user's turns from this file, one per line (empty lines are skipped, "
                  "/reset and /exit work), instead of stdin; each turn is echoed after \"> \"");
  cmd->callback([flags] { chat(*flags); });
}

}  // namespace quant::cli
