#include "server/completion_request.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "server/api_error.h"
#include "tokenizer/utf8.h"

namespace quant::server {

namespace {

using nlohmann::json;

json parse_object(std::string_view body) {
  if (body.empty()) fail_request("", "the request body is empty: expected a JSON object");
  if (const std::optional<size_t> offset = utf8::first_invalid_offset(body))
    fail_request("", "the request body is not valid UTF-8 (at byte offset {})", *offset);
  json value;
  try {
    value = json::parse(body);
  } catch (const json::exception& e) {
    // parse_error (syntax) or out_of_range (a number too large for a double).
    fail_request("", "the request body is not valid JSON: {}", e.what());
  }
  if (!value.is_object())
    fail_request("", "the request body must be a JSON object, not {}", value.type_name());
  return value;
}

// The field `name` of `object`, or nullptr when it is absent or null (OpenAI clients send null for
// "not given").
const json* find_field(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

double read_number(const json& value, const std::string& param, double min, double max,
                   bool min_exclusive = false) {
  if (!value.is_number())
    fail_request(param, "'{}' must be a number, not {}", param, value.type_name());
  const double number = value.get<double>();
  const bool above_min = min_exclusive ? number > min : number >= min;
  if (!std::isfinite(number) || !above_min || number > max)
    fail_request(param, "'{}' is {}, outside {}{}, {}]", param, number, min_exclusive ? "(" : "[",
                 min, max);
  return number;
}

// An integer field as int64; unsigned values beyond int64 come back as its maximum (callers clamp).
int64_t read_integer(const json& value, const std::string& param) {
  if (!value.is_number_integer())
    fail_request(param, "'{}' must be an integer, not {}", param,
                 value.is_number() ? "a fractional number" : value.type_name());
  if (value.is_number_unsigned()) {
    const uint64_t number = value.get<uint64_t>();
    return number > uint64_t{std::numeric_limits<int64_t>::max()}
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(number);
  }
  return value.get<int64_t>();
}

int64_t read_integer_in(const json& value, const std::string& param, int64_t min, int64_t max) {
  const int64_t number = read_integer(value, param);
  if (number < min || number > max)
    fail_request(param, "'{}' is {}, outside [{}, {}]", param, number, min, max);
  return number;
}

bool read_bool(const json& value, const std::string& param) {
  if (!value.is_boolean())
    fail_request(param, "'{}' must be a boolean, not {}", param, value.type_name());
  return value.get<bool>();
}

const std::string& read_string(const json& value, const std::string& param) {
  if (!value.is_string())
    fail_request(param, "'{}' must be a string, not {}", param, value.type_name());
  return value.get_ref<const std::string&>();
}

// A message's content: a string, or text parts concatenated.
std::string read_content(const json& value, const std::string& param) {
  if (value.is_string()) return value.get<std::string>();
  if (!value.is_array())
    fail_request(param, "'{}' must be a string or an array of text parts, not {}", param,
                 value.type_name());
  std::string content;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string part_param = fmt::format("{}[{}]", param, i);
    const json& part = value[i];
    if (!part.is_object())
      fail_request(part_param, "'{}' must be an object, not {}", part_param, part.type_name());
    const json* type = find_field(part, "type");
    if (type == nullptr || !type->is_string() || *type != "text")
      fail_request(part_param + ".type",
                   "'{}.type' must be \"text\": only text parts are supported", part_param);
    const json* text = find_field(part, "text");
    if (text == nullptr) fail_request(part_param + ".text", "'{}.text' is missing", part_param);
    content += read_string(*text, part_param + ".text");
  }
  return content;
}

std::vector<ChatMessage> read_messages(const json& body) {
  const json* messages = find_field(body, "messages");
  if (messages == nullptr) fail_request("messages", "'messages' is missing");
  if (!messages->is_array())
    fail_request("messages", "'messages' must be an array, not {}", messages->type_name());
  if (messages->empty()) fail_request("messages", "'messages' is empty: give at least one message");
  std::vector<ChatMessage> result;
  result.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) {
    const std::string param = fmt::format("messages[{}]", i);
    const json& message = (*messages)[i];
    if (!message.is_object())
      fail_request(param, "'{}' must be an object, not {}", param, message.type_name());
    const json* role = find_field(message, "role");
    if (role == nullptr) fail_request(param + ".role", "'{}.role' is missing", param);
    std::string role_name = read_string(*role, param + ".role");
    if (role_name == "developer") role_name = "system";
    if (role_name != "system" && role_name != "user" && role_name != "assistant")
      fail_request(param + ".role",
                   "'{}.role' is \"{}\": expected system, developer, user or assistant", param,
                   role_name);
    const json* content = find_field(message, "content");
    if (content == nullptr) fail_request(param + ".content", "'{}.content' is missing", param);
    result.push_back({std::move(role_name), read_content(*content, param + ".content")});
  }
  return result;
}

std::string read_prompt(const json& body) {
  const json* prompt = find_field(body, "prompt");
  if (prompt == nullptr) fail_request("prompt", "'prompt' is missing");
  if (prompt->is_array()) {
    if (prompt->size() != 1)
      fail_request("prompt", "'prompt' as an array must hold exactly one string (it has {} items)",
                   prompt->size());
    return read_string((*prompt)[0], "prompt[0]");
  }
  return read_string(*prompt, "prompt");
}

std::vector<std::string> read_stop(const json& value) {
  std::vector<std::string> stops;
  if (value.is_string()) {
    stops.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    if (value.size() > kMaxStopStrings)
      fail_request("stop", "'stop' has {} strings, more than {}", value.size(), kMaxStopStrings);
    for (size_t i = 0; i < value.size(); ++i)
      stops.push_back(read_string(value[i], fmt::format("stop[{}]", i)));
  } else {
    fail_request("stop", "'stop' must be a string or an array of strings, not {}",
                 value.type_name());
  }
  for (const std::string& stop : stops) {
    if (stop.empty() || stop.size() > kMaxStopStringBytes)
      fail_request("stop", "each stop string must be 1 to {} bytes long (one is {})",
                   kMaxStopStringBytes, stop.size());
  }
  return stops;
}

std::optional<uint32_t> read_max_tokens(const json& body) {
  const char* name = "max_completion_tokens";
  const json* value = find_field(body, name);
  if (value == nullptr) {
    name = "max_tokens";
    value = find_field(body, name);
  }
  if (value == nullptr) return std::nullopt;
  const int64_t max_tokens = read_integer(*value, name);
  if (max_tokens < 1) fail_request(name, "'{}' is {}: it must be at least 1", name, max_tokens);
  // Larger than any context: the context bounds generation anyway.
  if (max_tokens > int64_t{std::numeric_limits<uint32_t>::max()}) return std::nullopt;
  return static_cast<uint32_t>(max_tokens);
}

void read_sampling(const json& body, SamplerOptions& sampling) {
  if (const json* v = find_field(body, "temperature"))
    sampling.temperature = static_cast<float>(read_number(*v, "temperature", 0.0, 2.0));
  if (const json* v = find_field(body, "top_p"))
    sampling.top_p = static_cast<float>(read_number(*v, "top_p", 0.0, 1.0, true));
  if (const json* v = find_field(body, "top_k"))
    sampling.top_k =
        static_cast<int32_t>(read_integer_in(*v, "top_k", 0, std::numeric_limits<int32_t>::max()));
  if (const json* v = find_field(body, "min_p"))
    sampling.min_p = static_cast<float>(read_number(*v, "min_p", 0.0, 1.0));
  for (const char* name : {"repeat_penalty", "repetition_penalty"}) {
    if (const json* v = find_field(body, name))
      sampling.repetition_penalty = static_cast<float>(read_number(*v, name, 0.0, 10.0, true));
  }
  if (const json* v = find_field(body, "repeat_last_n"))
    sampling.repetition_window =
        static_cast<int32_t>(read_integer_in(*v, "repeat_last_n", 0, 4096));
  // Accepted so that OpenAI clients work, checked, and ignored (see the header).
  for (const char* name : {"frequency_penalty", "presence_penalty"}) {
    if (const json* v = find_field(body, name)) read_number(*v, name, -2.0, 2.0);
  }
}

// Fields that ask for something this server does not do: refused rather than silently ignored.
void refuse_unsupported(const json& body, Endpoint endpoint) {
  if (const json* n = find_field(body, "n")) {
    if (read_integer(*n, "n") != 1) fail_request("n", "'n' must be 1: one choice per request");
  }
  if (const json* logprobs = find_field(body, "logprobs")) {
    const bool asked = logprobs->is_boolean() ? logprobs->get<bool>() : true;
    if (asked) fail_request("logprobs", "'logprobs' is not supported");
  }
  if (endpoint == Endpoint::Completions) {
    if (const json* echo = find_field(body, "echo"); echo && read_bool(*echo, "echo"))
      fail_request("echo", "'echo' is not supported");
  }
}

}  // namespace

CompletionRequest parse_completion_request(std::string_view body, Endpoint endpoint) {
  const json object = parse_object(body);
  CompletionRequest request;
  request.endpoint = endpoint;
  if (const json* model = find_field(object, "model")) read_string(*model, "model");
  if (endpoint == Endpoint::ChatCompletions)
    request.messages = read_messages(object);
  else
    request.prompt = read_prompt(object);

  refuse_unsupported(object, endpoint);
  request.generation.max_tokens = read_max_tokens(object);
  read_sampling(object, request.generation.sampling);
  if (const json* stop = find_field(object, "stop"))
    request.generation.stop_strings = read_stop(*stop);
  if (const json* seed = find_field(object, "seed")) {
    if (!seed->is_number_integer())
      fail_request("seed", "'seed' must be an integer, not {}", seed->type_name());
    // Two's complement: a negative seed is a seed too.
    request.seed = seed->is_number_unsigned() ? seed->get<uint64_t>()
                                              : static_cast<uint64_t>(seed->get<int64_t>());
  }
  if (const json* stream = find_field(object, "stream"))
    request.stream = read_bool(*stream, "stream");
  if (const json* options = find_field(object, "stream_options")) {
    if (!options->is_object())
      fail_request("stream_options", "'stream_options' must be an object, not {}",
                   options->type_name());
    if (const json* usage = find_field(*options, "include_usage"))
      request.include_usage = read_bool(*usage, "stream_options.include_usage");
  }
  return request;
}

}  // namespace quant::server
