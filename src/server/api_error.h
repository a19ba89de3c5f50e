#pragma once
// An error the server answers to a client: an HTTP status and the fields of an OpenAI error object,
// {"error": {"message", "type", "param", "code"}}. Request parsing and validation throw it; the
// HTTP layer turns it into the response. It is a quant::Error, so code that only knows quant::Error
// still sees a one-line message.

#include <fmt/format.h>

#include <string>
#include <utility>

#include "common/error.h"

namespace quant::server {

class ApiError : public Error {
 public:
  // `type`: "invalid_request_error", "server_error", ...; `param`: the offending request field
  // ("messages[2].role"), empty when none; `code`: a machine-readable reason
  // ("context_length_exceeded"), empty when none.
  ApiError(int status, std::string type, std::string message, std::string param = {},
           std::string code = {})
      : Error(message),
        status_(status),
        type_(std::move(type)),
        param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string type_;
  std::string param_;
  std::string code_;
};

// Throws a 400 invalid_request_error about request field `param`.
template <typename... Args>
[[noreturn]] void fail_request(std::string param, fmt::format_string<Args...> format,
                               Args&&... args) {
  throw ApiError(400, "invalid_request_error", fmt::format(format, std::forward<Args>(args)...),
                 std::move(param));
}

}  // namespace quant::server
