// Parsing and validation of completion request bodies: what is accepted, the defaults, and that
// every kind of bad input is an ApiError 400 naming the field.

#include "server/completion_request.h"

#include <gtest/gtest.h>

#include <string>

#include "server/api_error.h"

namespace quant::server {
namespace {

CompletionRequest parse_chat(const std::string& body) {
  return parse_completion_request(body, Endpoint::ChatCompletions);
}

// The ApiError a body gets, or a failure when it is accepted.
ApiError rejection(const std::string& body, Endpoint endpoint = Endpoint::ChatCompletions) {
  try {
    parse_completion_request(body, endpoint);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "", "");
}

TEST(CompletionRequestTest, ReadsAChatRequestWithEveryField) {
  const CompletionRequest request = parse_chat(R"({
    "model": "anything", "messages": [
      {"role": "developer", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]},
      {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Again", "name": "bob"}],
    "temperature": 0.5, "top_p": 0.9, "top_k": 7, "min_p": 0.1, "repetition_penalty": 1.1,
    "repeat_last_n": 32, "frequency_penalty": 0.5, "presence_penalty": -0.5, "max_tokens": 12,
    "stop": ["\n\n", "END"], "seed": -1, "stream": true, "stream_options": {"include_usage": true},
    "n": 1, "logprobs": false, "tools": [], "user": "u1", "unknown_field": {"deep": [1, 2]}})");
  ASSERT_EQ(request.messages.size(), 4u);
  EXPECT_EQ(request.messages[0].role, "system");
  EXPECT_EQ(request.messages[0].content, "Be brief.");
  EXPECT_EQ(request.messages[1].content, "Hello, world");
  EXPECT_EQ(request.messages[3].role, "user");
  const SamplerOptions& s = request.generation.sampling;
  EXPECT_FLOAT_EQ(s.temperature, 0.5f);
  EXPECT_FLOAT_EQ(s.top_p, 0.9f);
  EXPECT_EQ(s.top_k, 7);
  EXPECT_FLOAT_EQ(s.min_p, 0.1f);
  EXPECT_FLOAT_EQ(s.repetition_penalty, 1.1f);
  EXPECT_EQ(s.repetition_window, 32);
  EXPECT_EQ(request.generation.max_tokens, 12u);
  EXPECT_EQ(request.generation.stop_strings, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(request.seed, UINT64_MAX);
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
}

TEST(CompletionRequestTest, DefaultsFollowQuantRun) {
  const CompletionRequest request = parse_chat(R"({"messages": [{"role": "user", "content": "x"}],
    "temperature": null, "max_tokens": null, "stop": null})");
  const SamplerOptions defaults;
  EXPECT_EQ(request.generation.sampling.temperature, defaults.temperature);
  EXPECT_EQ(request.generation.sampling.top_k, defaults.top_k);
  EXPECT_FALSE(request.generation.max_tokens.has_value());
  EXPECT_TRUE(request.generation.stop_strings.empty());
  EXPECT_FALSE(request.seed.has_value());
  EXPECT_FALSE(request.stream);
}

TEST(CompletionRequestTest, ReadsCompletionPrompts) {
  EXPECT_EQ(parse_completion_request(R"({"prompt": "Once upon"})", Endpoint::Completions).prompt,
            "Once upon");
  EXPECT_EQ(parse_completion_request(R"({"prompt": ["a time"]})", Endpoint::Completions).prompt,
            "a time");
  EXPECT_EQ(parse_completion_request(R"({"prompt": "", "stop": "x"})", Endpoint::Completions)
                .generation.stop_strings,
            std::vector<std::string>{"x"});
}

TEST(CompletionRequestTest, MaxCompletionTokensWinsAndHugeValuesMeanTheContext) {
  EXPECT_EQ(parse_chat(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5,
                           "max_completion_tokens": 9})")
                .generation.max_tokens,
            9u);
  EXPECT_FALSE(parse_chat(R"({"messages": [{"role": "user", "content": "x"}],
                              "max_tokens": 18446744073709551615})")
                   .generation.max_tokens.has_value());
}

struct BadBody {
  const char* name;
  std::string body;
  std::string param;  // the field the error must name
};

class BadChatBodyTest : public ::testing::TestWithParam<BadBody> {};

TEST_P(BadChatBodyTest, IsRefusedNamingTheField) {
  const ApiError error = rejection(GetParam().body);
  EXPECT_EQ(error.status(), 400);
  EXPECT_EQ(error.type(), "invalid_request_error");
  EXPECT_EQ(error.param(), GetParam().param) << error.what();
  EXPECT_FALSE(std::string(error.what()).empty());
}

const std::string kUser = R"("messages": [{"role": "user", "content": "x"}])";

INSTANTIATE_TEST_SUITE_P(
    Corpus, BadChatBodyTest,
    ::testing::Values(
        BadBody{"empty", "", ""}, BadBody{"not_json", "{nope", ""},
        BadBody{"truncated", R"({"messages": [)", ""}, BadBody{"array", "[1, 2]", ""},
        BadBody{"string", R"("hello")", ""}, BadBody{"invalid_utf8", "{\"a\": \"\xC3\x28\"}", ""},
        BadBody{"lone_surrogate", R"({"messages": "\ud800"})", ""},
        BadBody{"number_overflow", R"({"temperature": 1e999})", ""},
        BadBody{"no_messages", R"({"model": "m"})", "messages"},
        BadBody{"messages_not_array", R"({"messages": "hi"})", "messages"},
        BadBody{"messages_empty", R"({"messages": []})", "messages"},
        BadBody{"message_not_object", R"({"messages": [42]})", "messages[0]"},
        BadBody{"no_role", R"({"messages": [{"content": "x"}]})", "messages[0].role"},
        BadBody{"bad_role", R"({"messages": [{"role": "wizard", "content": "x"}]})",
                "messages[0].role"},
        BadBody{"role_not_string", R"({"messages": [{"role": 1, "content": "x"}]})",
                "messages[0].role"},
        BadBody{"no_content", R"({"messages": [{"role": "user"}]})", "messages[0].content"},
        BadBody{"content_number", R"({"messages": [{"role": "user", "content": 5}]})",
                "messages[0].content"},
        BadBody{"image_part",
                R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                "messages[0].content[0].type"},
        BadBody{"temperature_negative", "{" + kUser + R"(, "temperature": -1})", "temperature"},
        BadBody{"temperature_string", "{" + kUser + R"(, "temperature": "hot"})", "temperature"},
        BadBody{"temperature_huge", "{" + kUser + R"(, "temperature": 1e300})", "temperature"},
        BadBody{"top_p_zero", "{" + kUser + R"(, "top_p": 0})", "top_p"},
        BadBody{"top_k_negative", "{" + kUser + R"(, "top_k": -3})", "top_k"},
        BadBody{"top_k_fraction", "{" + kUser + R"(, "top_k": 2.5})", "top_k"},
        BadBody{"min_p_above_one", "{" + kUser + R"(, "min_p": 1.5})", "min_p"},
        BadBody{"penalty_zero", "{" + kUser + R"(, "repetition_penalty": 0})",
                "repetition_penalty"},
        BadBody{"presence_out_of_range", "{" + kUser + R"(, "presence_penalty": 3})",
                "presence_penalty"},
        BadBody{"max_tokens_zero", "{" + kUser + R"(, "max_tokens": 0})", "max_tokens"},
        BadBody{"max_tokens_negative", "{" + kUser + R"(, "max_tokens": -5})", "max_tokens"},
        BadBody{"max_tokens_string", "{" + kUser + R"(, "max_tokens": "10"})", "max_tokens"},
        BadBody{"stop_number", "{" + kUser + R"(, "stop": 3})", "stop"},
        BadBody{"stop_empty_string", "{" + kUser + R"(, "stop": [""]})", "stop"},
        BadBody{"stop_not_strings", "{" + kUser + R"(, "stop": ["a", 1]})", "stop[1]"},
        BadBody{"stop_too_many", "{" + kUser + R"(, "stop": ["1","2","3","4","5","6","7","8","9",
                "10","11","12","13","14","15","16","17"]})",
                "stop"},
        BadBody{"seed_fraction", "{" + kUser + R"(, "seed": 1.5})", "seed"},
        BadBody{"stream_string", "{" + kUser + R"(, "stream": "yes"})", "stream"},
        BadBody{"stream_options_array", "{" + kUser + R"(, "stream_options": []})",
                "stream_options"},
        BadBody{"n_two", "{" + kUser + R"(, "n": 2})", "n"},
        BadBody{"logprobs", "{" + kUser + R"(, "logprobs": true})", "logprobs"},
        BadBody{"model_number", "{" + kUser + R"(, "model": 7})", "model"}),
    [](const ::testing::TestParamInfo<BadBody>& param_info) { return param_info.param.name; });

TEST(CompletionRequestTest, RefusesBadCompletionPrompts) {
  EXPECT_EQ(rejection(R"({"model": "m"})", Endpoint::Completions).param(), "prompt");
  EXPECT_EQ(rejection(R"({"prompt": 12})", Endpoint::Completions).param(), "prompt");
  EXPECT_EQ(rejection(R"({"prompt": ["a", "b"]})", Endpoint::Completions).param(), "prompt");
  EXPECT_EQ(rejection(R"({"prompt": [[1, 2]]})", Endpoint::Completions).param(), "prompt[0]");
  EXPECT_EQ(rejection(R"({"prompt": "x", "echo": true})", Endpoint::Completions).param(), "echo");
}

TEST(CompletionRequestTest, SurvivesDeeplyNestedJson) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(rejection(deep).status(), 400);
  const std::string deep_field =
      "{" + kUser + ", \"extra\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(parse_chat(deep_field).messages.size(), 1u);
}

}  // namespace
}  // namespace quant::server
