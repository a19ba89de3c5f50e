// The OpenAI shapes of responses, chunks and errors.

#include "server/openai_format.h"

#include <gtest/gtest.h>

namespace quant::server {
namespace {

ResponseIdentity chat_identity() {
  return ResponseIdentity{.endpoint = Endpoint::ChatCompletions,
                          .id = "chatcmpl-1",
                          .created = 1700000000,
                          .model = "m.gguf"};
}

GenerationResult result_of(std::string text, FinishReason reason, uint32_t prompt,
                           uint32_t generated) {
  GenerationResult result;
  result.text = std::move(text);
  result.finish_reason = reason;
  result.stats.prompt_tokens = prompt;
  result.stats.generated_tokens = generated;
  return result;
}

TEST(OpenAiFormatTest, ChatCompletion) {
  const Json body =
      completion_json(chat_identity(), result_of("Hello", FinishReason::Context, 10, 4));
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["id"], "chatcmpl-1");
  EXPECT_EQ(body["model"], "m.gguf");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(body["usage"]["completion_tokens"], 4);
  EXPECT_EQ(body["usage"]["total_tokens"], 14);
}

TEST(OpenAiFormatTest, TextCompletion) {
  ResponseIdentity identity = chat_identity();
  identity.endpoint = Endpoint::Completions;
  const Json body = completion_json(identity, result_of(" upon", FinishReason::Stop, 2, 1));
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["text"], " upon");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(body["choices"][0].contains("message"));
}

TEST(OpenAiFormatTest, ChatChunks) {
  const Json first = chunk_json(chat_identity(), "", true, {});
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  const Json piece = chunk_json(chat_identity(), "Hi", false, {});
  EXPECT_EQ(piece["choices"][0]["delta"], Json({{"content", "Hi"}}));
  const Json last = chunk_json(chat_identity(), "", false, FinishReason::Length);
  EXPECT_EQ(last["choices"][0]["delta"], Json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  GenerationStats stats;
  stats.prompt_tokens = 3;
  const Json usage = usage_chunk_json(chat_identity(), stats);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 3);
}

TEST(OpenAiFormatTest, ServerSentEventsAndErrors) {
  EXPECT_EQ(sse_event(Json{{"a", 1}}), "data: {\"a\":1}\n\n");
  const Json error = error_json(ApiError(400, "invalid_request_error", "bad", "messages"));
  EXPECT_EQ(error["error"]["message"], "bad");
  EXPECT_EQ(error["error"]["type"], "invalid_request_error");
  EXPECT_EQ(error["error"]["param"], "messages");
  EXPECT_TRUE(error["error"]["code"].is_null());
  EXPECT_EQ(to_text(Json("\xff")), "\"\xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace quant::server
