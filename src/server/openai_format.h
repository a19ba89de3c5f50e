#pragma once
// The JSON the server sends, in the OpenAI API's shapes: completion responses, streamed chunks
// (server-sent events ending with `data: [DONE]`), the model list and error objects.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/generator.h"
#include "server/api_error.h"
#include "server/completion_request.h"

namespace quant::server {

using Json = nlohmann::ordered_json;  // keys in the order written, as OpenAI sends them

// What every response and chunk of one request repeats.
struct ResponseIdentity {
  Endpoint endpoint = Endpoint::ChatCompletions;
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

// "stop" for an end-of-generation token or a stop string; "length" for max_tokens or a full
// context. A cancelled generation has no OpenAI finish reason: the caller answers it otherwise.
std::string_view openai_finish_reason(FinishReason reason);

// {"prompt_tokens", "completion_tokens", "total_tokens"}; completion tokens are the sampled tokens,
// the one that ended generation included.
Json usage_json(const GenerationStats& stats);

// The whole answer: "chat.completion" or "text_completion".
Json completion_json(const ResponseIdentity& identity, const GenerationResult& result);

// One streamed chunk. Chat: `delta` holds the role in the first chunk (`with_role`) and `text` when
// non-empty; completions: `text`. `finish` is null until the last chunk.
Json chunk_json(const ResponseIdentity& identity, std::string_view text, bool with_role,
                std::optional<FinishReason> finish);
// The chunk stream_options.include_usage asks for after the last one: no choices, the usage.
Json usage_chunk_json(const ResponseIdentity& identity, const GenerationStats& stats);

// GET /v1/models.
Json models_json(const std::string& model_id, int64_t created);

// {"error": {"message", "type", "param", "code"}}, null for an empty param or code.
Json error_json(const ApiError& error);

// Compact JSON text; invalid UTF-8 (which should never reach here) becomes U+FFFD, never an
// exception.
std::string to_text(const Json& value);
// `data: <json>\n\n`.
std::string sse_event(const Json& value);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace quant::server
