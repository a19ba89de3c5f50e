#pragma once
// The body of POST /v1/chat/completions and POST /v1/completions, parsed and checked. Everything
// the client sends is validated here, where it enters; what passes is safe to hand to the
// generator.
//
// Accepted fields (anything else is ignored, as OpenAI clients send many optional ones):
//   model                   string; ignored: the server serves one model, whatever the name
//   messages (chat)         non-empty array of {role, content}; role is system, developer (treated
//                           as system), user or assistant; content is a string or an array of
//                           {"type": "text", "text": ...} parts (concatenated)
//   prompt (completions)    a string, or an array holding exactly one string
//   max_tokens, max_completion_tokens
//                           integer >= 1, or null; the latter wins when both are given. Absent or
//                           null: until the end of generation or of the context. Values beyond the
//                           room left in the context are not refused: generation ends when the
//                           context is full, with finish_reason "length".
//   temperature             number in [0, 2]; 0 is greedy
//   top_p                   number in (0, 1]
//   top_k                   integer >= 0 (0 keeps all tokens)
//   min_p                   number in [0, 1]
//   repetition_penalty, repeat_penalty
//                           number in (0, 10]; 1 is off (llama.cpp's multiplicative penalty)
//   repeat_last_n           integer in [0, 4096]: tokens the repetition penalty looks back at
//   frequency_penalty, presence_penalty
//                           numbers in [-2, 2], accepted and ignored: OpenAI's additive penalties
//                           have no faithful equivalent in the sampler; use repetition_penalty
//   stop                    a string or an array of at most 16 strings, each 1..1024 bytes
//   seed                    integer (negative values are taken modulo 2^64); absent: random
//   stream                  boolean
//   stream_options          {"include_usage": boolean}
//   n                       1 only;  logprobs: false only;  echo (completions): false only
// Sampling defaults follow `quant run` (llama.cpp's): temperature 0.8, top_k 40, top_p 0.95,
// min_p 0.05, no repetition penalty.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/chat_template.h"
#include "runtime/generator.h"

namespace quant::server {

enum class Endpoint {
  ChatCompletions,  // POST /v1/chat/completions
  Completions,      // POST /v1/completions
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::ChatCompletions;
  std::vector<ChatMessage> messages;  // ChatCompletions only
  std::string prompt;                 // Completions only
  // Sampling (seed aside), max_tokens and the client's stop strings.
  GenerationOptions generation;
  std::optional<uint64_t> seed;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Limits on what a request may ask for.
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 1024;

// Parses a request body for `endpoint`. Throws ApiError (400, naming the field) for a body that is
// not valid UTF-8, not JSON, not an object, or has a field of the wrong type or out of range.
CompletionRequest parse_completion_request(std::string_view body, Endpoint endpoint);

}  // namespace quant::server
