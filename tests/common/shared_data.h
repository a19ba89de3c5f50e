#pragma once
// Where tests find ../shared (the read-only reference data). Tests that need it skip, saying so,
// when it is absent: QUANT_REQUIRE_SHARED() at the top of such a test.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace quant::test {

inline std::filesystem::path shared_dir() {
  return std::filesystem::path(QUANT_SHARED_DIR);
}
inline bool shared_available() {
  return std::filesystem::is_directory(shared_dir() / "reference");
}
inline std::string shared_path(const std::string& relative) {
  return (shared_dir() / relative).string();
}
// The built `quant` binary, for end-to-end tests of the command line.
inline std::string quant_binary() {
  return (std::filesystem::path(QUANT_BINARY_DIR) / "tools/quant/quant").string();
}

// The default SmolLM2-135M-Instruct model; empty when the build was configured without it.
inline std::string default_model() {
  return QUANT_DEFAULT_MODEL;
}

}  // namespace quant::test

#define QUANT_REQUIRE_SHARED()                                                            \
  do {                                                                                    \
    if (!::quant::test::shared_available())                                               \
      GTEST_SKIP() << "skipped: shared reference data not found at " << QUANT_SHARED_DIR; \
  } while (0)

#define QUANT_REQUIRE_DEFAULT_MODEL()                                                \
  do {                                                                               \
    if (::quant::test::default_model().empty() ||                                    \
        !std::filesystem::exists(::quant::test::default_model()))                    \
      GTEST_SKIP() << "skipped: default model not configured (QUANT_DEFAULT_MODEL)"; \
  } while (0)
