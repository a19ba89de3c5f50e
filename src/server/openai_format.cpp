#include "server/openai_format.h"

#include <cassert>

namespace quant::server {

namespace {

bool is_chat(const ResponseIdentity& identity) {
  return identity.endpoint == Endpoint::ChatCompletions;
}

Json header_json(const ResponseIdentity& identity, std::string_view object) {
  return Json{{"id", identity.id},
              {"object", object},
              {"created", identity.created},
              {"model", identity.model}};
}

Json null_when_empty(const std::string& text) {
  return text.empty() ? Json(nullptr) : Json(text);
}

}  // namespace

std::string_view openai_finish_reason(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
    case FinishReason::Context:
      return "length";
    case FinishReason::Cancelled:
      break;
  }
  assert(false && "a cancelled generation has no OpenAI finish reason");
  return "stop";
}

Json usage_json(const GenerationStats& stats) {
  return Json{{"prompt_tokens", stats.prompt_tokens},
              {"completion_tokens", stats.generated_tokens},
              {"total_tokens", uint64_t{stats.prompt_tokens} + stats.generated_tokens}};
}

Json completion_json(const ResponseIdentity& identity, const GenerationResult& result) {
  Json choice{{"index", 0}};
  if (is_chat(identity))
    choice["message"] = Json{{"role", "assistant"}, {"content", result.text}};
  else
    choice["text"] = result.text;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = openai_finish_reason(result.finish_reason);
  Json body = header_json(identity, is_chat(identity) ? "chat.completion" : "text_completion");
  body["choices"] = Json::array({std::move(choice)});
  body["usage"] = usage_json(result.stats);
  return body;
}

Json chunk_json(const ResponseIdentity& identity, std::string_view text, bool with_role,
                std::optional<FinishReason> finish) {
  Json choice{{"index", 0}};
  if (is_chat(identity)) {
    Json delta = Json::object();
    if (with_role) delta["role"] = "assistant";
    if (!text.empty() || with_role) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish ? Json(openai_finish_reason(*finish)) : Json(nullptr);
  Json body =
      header_json(identity, is_chat(identity) ? "chat.completion.chunk" : "text_completion");
  body["choices"] = Json::array({std::move(choice)});
  return body;
}

Json usage_chunk_json(const ResponseIdentity& identity, const GenerationStats& stats) {
  Json body =
      header_json(identity, is_chat(identity) ? "chat.completion.chunk" : "text_completion");
  body["choices"] = Json::array();
  body["usage"] = usage_json(stats);
  return body;
}

Json models_json(const std::string& model_id, int64_t created) {
  return Json{
      {"object", "list"},
      {"data",
       Json::array({Json{
           {"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "quant"}}})}};
}

Json error_json(const ApiError& error) {
  return Json{{"error", Json{{"message", error.what()},
                             {"type", error.type()},
                             {"param", null_when_empty(error.param())},
                             {"code", null_when_empty(error.code())}}}};
}

std::string to_text(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string sse_event(const Json& value) {
  return "data: " + to_text(value) + "\n\n";
}

}  // namespace quant::server
