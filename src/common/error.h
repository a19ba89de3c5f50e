#pragma once
// The one error type of the project: thrown where external input (files, prompts, options,
// requests) is found wrong, caught at the boundary (the `quant` command, the server) and shown as
// one line. Internal invariants use assert, never this.

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace quant {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws quant::Error with a fmt message: fail("{}: bad magic at offset {}", path, 0).
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace quant
