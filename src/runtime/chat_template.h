#pragma once
// Chat templates. A model's `tokenizer.chat_template` is a Jinja program; we do not run it.
// detect() recognises which family it belongs to from marker strings, and C++ code renders that
// family:
//
//   ChatML  `<|im_start|>role\ncontent<|im_end|>\n`, prompt `<|im_start|>assistant\n` (SmolLM2,
//   Qwen2.5,
//           Qwen3, Qwen3.5). Two variants are read from the template text:
//           - a default system prompt (SmolLM2's "You are a helpful AI assistant named SmolLM,
//           ...")
//             is put first when the conversation has no system message;
//           - thinking (Qwen3): assistant turns before the last user message lose their
//             `<think>...</think>` block; an assistant turn after it gets
//             `<think>\n...\n</think>\n\n`; with enable_thinking = false the prompt ends in an
//             empty block `<think>\n\n</think>\n\n`; templates whose prompt opens a block
//             themselves (Qwen3.5, Qwen3 "Thinking") end the prompt in `<think>\n` instead.
//   Llama3  `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` (contents trimmed).
//   Llama2  `[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...`, with the
//           variants llama.cpp also reads from the template (system tags, BOS inside the history,
//           spaces around answers, trimmed contents).
//   Zephyr  `<|role|>\ncontent<end>\n`, prompt `<|assistant|>\n`; <end> is `<|end|>` (Phi-3) or
//           `<|endoftext|>` when the template names it, else the model's EOS text.
//
// An empty or unrecognised template falls back to ChatML and sets warning() for the caller to
// print. The rendered text never contains the leading BOS: the tokenizer adds it when the model
// asks for one. It does contain special-token text (`<|im_start|>`, `</s>`), so tokenize it with
// special-token parsing on. Tools, tool calls and Llama 3.1's date header are not rendered.

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace quant {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFormat { ChatML, Llama3, Llama2, Zephyr };

struct ChatTemplateOptions {
  // For templates with thinking (Qwen3): false asks for an answer without a thinking block.
  bool enable_thinking = true;
  // The model's EOS token text; ends turns in Zephyr templates that say `eos_token`.
  std::string eos_text = "</s>";
};

class ChatTemplate {
 public:
  // `template_text` is the value of `tokenizer.chat_template` (may be empty).
  static ChatTemplate detect(std::string_view template_text,
                             const ChatTemplateOptions& options = {});

  ChatFormat format() const { return format_; }
  std::string_view name() const;  // "chatml", "llama3", "llama2", "zephyr"
  // Non-empty when the template was not recognised (ChatML is used instead).
  const std::string& warning() const { return warning_; }
  // The text that closes an assistant turn: a stop string for generation.
  const std::string& end_of_turn() const { return end_of_turn_; }
  // ChatML's default system prompt read from the template, or empty.
  const std::string& default_system_prompt() const { return default_system_prompt_; }
  bool has_thinking() const { return thinking_; }

  // The whole conversation; with add_generation_prompt, followed by the opening of the assistant's
  // answer.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  // For multi-turn chat that keeps the KV cache: `rendered_before` is the text already evaluated
  // (an earlier render() plus the answer generated after it, end-of-turn text included if it was
  // fed). Returns what to append so that the whole equals render(messages, add_generation_prompt),
  // or nullopt when that rendering does not start with `rendered_before`: the template is not
  // prefix-stable for this history (a Qwen3 answer's think block is dropped once a new user
  // message follows), and the caller must evaluate the full rendering again (or reuse only the
  // longest common token prefix).
  std::optional<std::string> render_continuation(std::span<const ChatMessage> messages,
                                                 bool add_generation_prompt,
                                                 std::string_view rendered_before) const;

 private:
  std::string render_chatml(std::span<const ChatMessage> messages,
                            bool add_generation_prompt) const;
  void render_chatml_assistant(std::string& out, std::string_view content, bool after_last_query,
                               bool is_last) const;
  std::string render_llama3(std::span<const ChatMessage> messages,
                            bool add_generation_prompt) const;
  std::string render_llama2(std::span<const ChatMessage> messages) const;
  std::string render_zephyr(std::span<const ChatMessage> messages,
                            bool add_generation_prompt) const;

  ChatFormat format_ = ChatFormat::ChatML;
  std::string warning_;
  std::string end_of_turn_;
  // ChatML
  std::string default_system_prompt_;
  bool thinking_ = false;               // Qwen3 think-block handling of the history
  std::string generation_prompt_tail_;  // after `<|im_start|>assistant\n`: "", "<think>\n", ...
  // Llama2 variants
  bool llama2_system_tags_ = false;
  bool llama2_bos_in_history_ = false;
  bool llama2_spaced_answers_ = false;
  bool llama2_trim_ = false;
};

}  // namespace quant
