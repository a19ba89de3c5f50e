#include "runtime/chat_template.h"

#include <fmt/format.h>

namespace quant {

namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kEmptyThinkBlock = "<think>\n\n</think>\n\n";

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Python's str.strip() / Jinja's |trim: whitespace off both ends.
std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view lstrip_newlines(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}

std::string_view rstrip_newlines(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

// Templates write a newline inside a Jinja string either as a real newline or as the escape `\n`
// (and quotes as `\'`); markers are searched in a copy where both read the same.
std::string unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      const char next = text[i + 1];
      if (next == 'n' || next == '\'' || next == '"') {
        out += next == 'n' ? '\n' : next;
        ++i;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

// A ChatML template with a built-in system prompt writes it as one literal:
// '<|im_start|>system\nYou are ...<|im_end|>\n'. A system turn built from the messages has a quote,
// `+` or `{` right after the header instead, so only plain text up to `<|im_end|>` counts.
std::string find_default_system_prompt(std::string_view text) {
  constexpr std::string_view header = "<|im_start|>system\n";
  for (size_t at = text.find(header); at != std::string_view::npos;
       at = text.find(header, at + 1)) {
    const size_t start = at + header.size();
    const size_t end = text.find("<|im_end|>", start);
    if (end == std::string_view::npos || end == start) continue;
    const std::string_view prompt = text.substr(start, end - start);
    if (prompt.find_first_of("'\"{}+") == std::string_view::npos) return std::string(prompt);
  }
  return {};
}

// The index of the last message that is a user's question (a user message wrapping a tool response
// does not count), or the last index when there is none: as the Qwen3 template computes it.
size_t last_query_index(std::span<const ChatMessage> messages) {
  for (size_t i = messages.size(); i-- > 0;) {
    const std::string_view content = messages[i].content;
    const bool tool_response =
        content.starts_with("<tool_response>") && content.ends_with("</tool_response>");
    if (messages[i].role == "user" && !tool_response) return i;
  }
  return messages.empty() ? 0 : messages.size() - 1;
}

// What a ChatML template puts after `<|im_start|>assistant\n`: an empty think block when thinking
// can be and is switched off (Qwen3, Qwen3.5), `<think>\n` when the template opens the block itself
// (Qwen3.5, Qwen3 "Thinking"), else nothing.
std::string_view chatml_generation_prompt_tail(std::string_view text, bool enable_thinking) {
  if (!enable_thinking && contains(text, "enable_thinking")) return kEmptyThinkBlock;
  for (std::string_view opening :
       {"'<think>\n'", "\"<think>\n\"", "assistant\n<think>\n'", "assistant\n<think>\n\""}) {
    if (contains(text, opening)) return "<think>\n";
  }
  return {};
}

}  // namespace

ChatTemplate ChatTemplate::detect(std::string_view template_text,
                                  const ChatTemplateOptions& options) {
  const std::string text = unescape(template_text);
  ChatTemplate t;
  if (contains(text, "<|im_start|>")) {
    t.format_ = ChatFormat::ChatML;
  } else if (contains(text, "<|start_header_id|>") && contains(text, "<|end_header_id|>")) {
    t.format_ = ChatFormat::Llama3;
  } else if (contains(text, "[INST]")) {
    t.format_ = ChatFormat::Llama2;
  } else if (contains(text, "<|user|>") && contains(text, "<|assistant|>")) {
    t.format_ = ChatFormat::Zephyr;
  } else {
    t.format_ = ChatFormat::ChatML;
    t.warning_ = text.empty() ? "the model has no chat template; using ChatML"
                              : fmt::format("unrecognised chat template ({} bytes); using ChatML",
                                            template_text.size());
  }

  switch (t.format_) {
    case ChatFormat::ChatML:
      t.end_of_turn_ = "<|im_end|>";
      t.default_system_prompt_ = find_default_system_prompt(text);
      // Qwen3's history rule keys on the last user query.
      t.thinking_ = contains(text, "last_query_index") && contains(text, kThinkClose);
      t.generation_prompt_tail_ = chatml_generation_prompt_tail(text, options.enable_thinking);
      break;
    case ChatFormat::Llama3:
      t.end_of_turn_ = "<|eot_id|>";
      break;
    case ChatFormat::Llama2:
      t.end_of_turn_ = "</s>";
      t.llama2_system_tags_ = contains(text, "<<SYS>>");
      t.llama2_bos_in_history_ = contains(text, "bos_token + '[INST]");
      t.llama2_spaced_answers_ = contains(text, "' ' + eos_token");
      t.llama2_trim_ = contains(text, "content.strip()") || contains(text, "content|trim");
      break;
    case ChatFormat::Zephyr:
      t.end_of_turn_ = contains(text, "<|end|>")         ? "<|end|>"
                       : contains(text, "<|endoftext|>") ? "<|endoftext|>"
                                                         : options.eos_text;
      break;
  }
  return t;
}

std::string_view ChatTemplate::name() const {
  switch (format_) {
    case ChatFormat::ChatML:
      return "chatml";
    case ChatFormat::Llama3:
      return "llama3";
    case ChatFormat::Llama2:
      return "llama2";
    case ChatFormat::Zephyr:
      return "zephyr";
  }
  return "chatml";
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages,
                                 bool add_generation_prompt) const {
  switch (format_) {
    case ChatFormat::ChatML:
      return render_chatml(messages, add_generation_prompt);
    case ChatFormat::Llama3:
      return render_llama3(messages, add_generation_prompt);
    case ChatFormat::Llama2:
      return render_llama2(messages);
    case ChatFormat::Zephyr:
      return render_zephyr(messages, add_generation_prompt);
  }
  return render_chatml(messages, add_generation_prompt);
}

std::optional<std::string> ChatTemplate::render_continuation(
    std::span<const ChatMessage> messages, bool add_generation_prompt,
    std::string_view rendered_before) const {
  std::string full = render(messages, add_generation_prompt);
  if (!std::string_view(full).starts_with(rendered_before)) return std::nullopt;
  return full.substr(rendered_before.size());
}

std::string ChatTemplate::render_chatml(std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) const {
  std::string out;
  if (!default_system_prompt_.empty() && !messages.empty() && messages[0].role != "system") {
    out += "<|im_start|>system\n" + default_system_prompt_ + "<|im_end|>\n";
  }
  const size_t last_query = last_query_index(messages);
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (thinking_ && m.role == "assistant") {
      render_chatml_assistant(out, m.content, i > last_query, i + 1 == messages.size());
    } else {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    }
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n" + generation_prompt_tail_;
  return out;
}

// Qwen3: an answer's reasoning is what precedes `</think>` (after `<think>`), its content what
// follows. Before the last user query only the content is shown; after it the reasoning is kept in
// a think block when it is the final turn (an empty block then) or has reasoning to show.
void ChatTemplate::render_chatml_assistant(std::string& out, std::string_view content,
                                           bool after_last_query, bool is_last) const {
  std::string_view reasoning;
  const size_t close = content.find(kThinkClose);
  if (close != std::string_view::npos) {
    std::string_view before = rstrip_newlines(content.substr(0, close));
    const size_t open = before.rfind(kThinkOpen);
    if (open != std::string_view::npos) before.remove_prefix(open + kThinkOpen.size());
    reasoning = lstrip_newlines(before);
    content = lstrip_newlines(content.substr(content.rfind(kThinkClose) + kThinkClose.size()));
  }
  out += "<|im_start|>assistant\n";
  if (after_last_query && (is_last || !reasoning.empty())) {
    out += "<think>\n";
    out += reasoning;
    out += "\n</think>\n\n";
    out += lstrip_newlines(content);
  } else {
    out += content;
  }
  out += "<|im_end|>\n";
}

std::string ChatTemplate::render_llama3(std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) const {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
    out += trim(m.content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Llama 2 has no generation prompt: after `[/INST]` the answer follows directly.
std::string ChatTemplate::render_llama2(std::span<const ChatMessage> messages) const {
  std::string out = "[INST] ";  // the first turn's BOS comes from the tokenizer
  bool inside_turn = true;
  for (const ChatMessage& m : messages) {
    const std::string_view content = llama2_trim_ ? trim(m.content) : std::string_view(m.content);
    if (!inside_turn) {
      out += llama2_bos_in_history_ ? "<s>[INST] " : "[INST] ";
      inside_turn = true;
    }
    if (m.role == "system") {
      // Without <<SYS>> tags the template has no system slot: the text leads the first user turn.
      out += llama2_system_tags_ ? fmt::format("<<SYS>>\n{}\n<</SYS>>\n\n", content)
                                 : fmt::format("{}\n", content);
    } else if (m.role == "assistant") {
      const std::string_view space = llama2_spaced_answers_ ? " " : "";
      out += fmt::format("{}{}{}</s>", space, content, space);
      inside_turn = false;
    } else {
      out += fmt::format("{} [/INST]", content);
    }
  }
  return out;
}

std::string ChatTemplate::render_zephyr(std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) const {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|" + m.role + "|>\n" + m.content + end_of_turn_ + "\n";
  }
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

}  // namespace quant
