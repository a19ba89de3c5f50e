// Expected strings are what the models' own Jinja templates produce (checked with Python's jinja2,
// trim_blocks and lstrip_blocks on, as transformers renders them), minus the leading BOS text that
// our tokenizer adds instead.
#include "runtime/chat_template.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/shared_data.h"
#include "gguf/gguf_file.h"

namespace quant {
namespace {

// SmolLM2-135M-Instruct's `tokenizer.chat_template` (newlines inside its strings are real
// newlines).
constexpr std::string_view kSmolLm2Template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' "
    "}}{% endif %}";

// Meta's Llama 2 chat template (its `\n` are Jinja escapes).
constexpr std::string_view kLlama2Template =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
    "system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] "
    "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != "
    "false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
    "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
    "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% "
    "endfor %}";

// Meta's Llama 3 instruct template.
constexpr std::string_view kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
    "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif "
    "%}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

// HuggingFaceH4/zephyr-7b-beta's template.
constexpr std::string_view kZephyrTemplate =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
    "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' "
    "+ "
    "message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ "
    "'<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and "
    "add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

// The generation-prompt part of Qwen3.5's template, which opens the think block itself.
constexpr std::string_view kQwen35PromptTemplate =
    "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n    {%- if "
    "enable_thinking is defined and enable_thinking is false %}\n        {{- "
    "'<think>\\n\\n</think>\\n\\n' }}\n    {%- else %}\n        {{- '<think>\\n' }}\n    {%- endif "
    "%}\n{%- endif %}";

const std::vector<ChatMessage> kSystemUserAssistant = {
    {"system", "You are terse."}, {"user", "Hi"}, {"assistant", "Hello!"}};
const std::vector<ChatMessage> kFourTurns = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};

TEST(ChatTemplate, ChatMLRendersAThreeMessageConversation) {
  const ChatTemplate t = ChatTemplate::detect(kSmolLm2Template);
  EXPECT_EQ(t.format(), ChatFormat::ChatML);
  EXPECT_EQ(t.warning(), "");
  EXPECT_EQ(t.render(kSystemUserAssistant, false),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n");
}

TEST(ChatTemplate, ChatMLAddsTheTemplatesDefaultSystemPrompt) {
  const ChatTemplate t = ChatTemplate::detect(kSmolLm2Template);
  EXPECT_EQ(t.default_system_prompt(),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const std::vector<ChatMessage> messages = {
      {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "What is 2+2?"}};
  EXPECT_EQ(
      t.render(messages, true),
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>"
      "\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, SmolLm2ModelTemplateIsChatMLWithItsSystemPrompt) {
  QUANT_REQUIRE_DEFAULT_MODEL();
  const auto file = gguf::GgufFile::open(test::default_model());
  const ChatTemplate t = ChatTemplate::detect(file.get_string("tokenizer.chat_template"));
  EXPECT_EQ(t.format(), ChatFormat::ChatML);
  EXPECT_FALSE(t.has_thinking());
  EXPECT_EQ(t.default_system_prompt(),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
}

class Qwen3Template : public ::testing::Test {
 protected:
  ChatTemplate load(bool enable_thinking) {
    const auto file =
        gguf::GgufFile::open(test::shared_path("data/tokenizers/qwen3/ggml-vocab-qwen3.gguf"));
    ChatTemplateOptions options;
    options.enable_thinking = enable_thinking;
    return ChatTemplate::detect(file.get_string("tokenizer.chat_template"), options);
  }
};

TEST_F(Qwen3Template, IsChatMLWithThinking) {
  QUANT_REQUIRE_SHARED();
  const ChatTemplate t = load(true);
  EXPECT_EQ(t.format(), ChatFormat::ChatML);
  EXPECT_TRUE(t.has_thinking());
  EXPECT_EQ(t.default_system_prompt(), "");
  EXPECT_EQ(t.end_of_turn(), "<|im_end|>");
  // A final answer after the last question gets a (here empty) think block.
  EXPECT_EQ(t.render(kSystemUserAssistant, false),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n");
  EXPECT_EQ(t.render(std::vector<ChatMessage>{{"user", "2+2?"}}, true),
            "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
}

TEST_F(Qwen3Template, DisabledThinkingEndsThePromptInAnEmptyBlock) {
  QUANT_REQUIRE_SHARED();
  EXPECT_EQ(load(false).render(std::vector<ChatMessage>{{"user", "2+2?"}}, true),
            "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST_F(Qwen3Template, KeepsReasoningOnlyAfterTheLastQuestion) {
  QUANT_REQUIRE_SHARED();
  const ChatTemplate t = load(true);
  const ChatMessage answer{"assistant", "<think>\nadd them\n</think>\n\n4"};
  EXPECT_EQ(t.render(std::vector<ChatMessage>{{"user", "2+2?"}, answer}, false),
            "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nadd them\n"
            "</think>\n\n4<|im_end|>\n");
  EXPECT_EQ(
      t.render(std::vector<ChatMessage>{{"user", "2+2?"}, answer, {"user", "times 3?"}}, true),
      "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\n"
      "times 3?<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Qwen35PromptOpensTheThinkBlock) {
  EXPECT_EQ(ChatTemplate::detect(kQwen35PromptTemplate).render({}, true),
            "<|im_start|>assistant\n<think>\n");
  ChatTemplateOptions no_thinking;
  no_thinking.enable_thinking = false;
  EXPECT_EQ(ChatTemplate::detect(kQwen35PromptTemplate, no_thinking).render({}, true),
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatTemplate, Llama3) {
  const ChatTemplate t = ChatTemplate::detect(kLlama3Template);
  EXPECT_EQ(t.format(), ChatFormat::Llama3);
  EXPECT_EQ(t.end_of_turn(), "<|eot_id|>");
  const std::vector<ChatMessage> messages = {
      {"system", "Be brief."}, {"user", " Hi "}, {"assistant", "Hello"}};
  EXPECT_EQ(t.render(messages, true),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Llama2) {
  const ChatTemplate t = ChatTemplate::detect(kLlama2Template);
  EXPECT_EQ(t.format(), ChatFormat::Llama2);
  EXPECT_EQ(t.render(kFourTurns, true),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]");
}

TEST(ChatTemplate, Zephyr) {
  const ChatTemplate t = ChatTemplate::detect(kZephyrTemplate);
  EXPECT_EQ(t.format(), ChatFormat::Zephyr);
  EXPECT_EQ(t.render(kFourTurns, true),
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n<|user|>\nBye"
            "</s>\n<|assistant|>\n");
}

TEST(ChatTemplate, UnknownTemplatesFallBackToChatMLWithAWarning) {
  for (std::string_view text : {std::string_view(""), std::string_view("{{ messages }}")}) {
    const ChatTemplate t = ChatTemplate::detect(text);
    EXPECT_EQ(t.format(), ChatFormat::ChatML);
    EXPECT_NE(t.warning(), "") << "template '" << text << "'";
    EXPECT_EQ(t.render(std::vector<ChatMessage>{{"user", "Hi"}}, true),
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  }
}

TEST(ChatTemplate, ContinuationIsTheNewTurnAfterWhatWasEvaluated) {
  const ChatTemplate t = ChatTemplate::detect(kSmolLm2Template);
  std::vector<ChatMessage> messages = {{"system", "S"}, {"user", "Hi"}};
  // What the KV cache holds after the first turn: the prompt, the answer and its end-of-turn token.
  const std::string evaluated = t.render(messages, true) + "Hello!" + t.end_of_turn();
  messages.push_back({"assistant", "Hello!"});
  messages.push_back({"user", "Bye"});
  EXPECT_EQ(t.render_continuation(messages, true, evaluated),
            "\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.render_continuation(messages, true, "<|im_start|>system\nOther"), std::nullopt);
}

TEST_F(Qwen3Template, ContinuationFailsWhenTheHistoryIsRewritten) {
  QUANT_REQUIRE_SHARED();
  const ChatTemplate t = load(true);
  std::vector<ChatMessage> messages = {{"user", "2+2?"}};
  const std::string answer = "<think>\nadd them\n</think>\n\n4";
  const std::string evaluated = t.render(messages, true) + answer + t.end_of_turn();
  messages.push_back({"assistant", answer});
  messages.push_back({"user", "times 3?"});
  EXPECT_EQ(t.render_continuation(messages, true, evaluated), std::nullopt);
}

}  // namespace
}  // namespace quant
