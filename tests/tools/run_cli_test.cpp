// `quant run` and `quant chat` as a user runs them: the built binary, its stdout, stderr and exit
// status. stories260K gives exact text (llama.cpp's greedy continuation); the default model
// (SmolLM2-135M-Instruct) checks the chat template path end to end.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "tools/tool_test_support.h"

namespace quant::test {
namespace {

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// `word` quoted for /bin/sh.
std::string shell_word(const std::string& word) {
  std::string quoted = "'";
  for (const char c : word) {
    if (c == '\'') {
      quoted.append("'\\''");
    } else {
      quoted.push_back(c);
    }
  }
  quoted.push_back('\'');
  return quoted;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class RunCliTest : public ::testing::Test {
 protected:
  // Runs `quant args...` with stdin empty, capturing stdout and stderr apart.
  Outcome quant(const std::vector<std::string>& args) const {
    const std::string err_path = scratch_.file("stderr.txt");
    std::string command = shell_word(quant_binary());
    for (const std::string& arg : args) command.append(" ").append(shell_word(arg));
    command.append(" </dev/null 2>").append(shell_word(err_path));
    Outcome outcome;
    std::FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return outcome;
    char buffer[4096];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) outcome.out.append(buffer, n);
    const int status = ::pclose(pipe);
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    outcome.err = read_all(err_path);
    return outcome;
  }

  std::string write_file(const std::string& name, const std::string& content) const {
    const std::string path = scratch_.file(name);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static std::string stories() { return shared_path("data/models/stories260K-f32.gguf"); }
  static std::string expected_greedy_text() {
    return read_all(shared_path("reference/logits/stories260K-f32.greedy200-from-bos.txt"));
  }

  ScratchDir scratch_;
};

bool is_one_line(const std::string& text) {
  return !text.empty() && text.back() == '\n' && std::count(text.begin(), text.end(), '\n') == 1;
}

TEST_F(RunCliTest, GreedyFromBosPrintsTheReferenceText) {
  QUANT_REQUIRE_SHARED();
  const Outcome r = quant({"run", stories(), "--temp", "0", "-n", "200", "-c", "512", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected_greedy_text() + "\n");
  // The stats line names what happened.
  EXPECT_NE(r.err.find("generated 200 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("finish: length"), std::string::npos) << r.err;
}

TEST_F(RunCliTest, PromptIsPrintedThenContinued) {
  QUANT_REQUIRE_SHARED();
  const std::string expected = expected_greedy_text();
  const std::string prompt = "Once upon a time";
  const Outcome r = quant({"run", stories(), "-p", prompt, "--temp", "0", "-n", "30", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(r.out.ends_with("\n"));
  const std::string text = r.out.substr(0, r.out.size() - 1);
  EXPECT_GT(text.size(), prompt.size() + 20);
  EXPECT_TRUE(expected.starts_with(text)) << text;

  const Outcome hidden = quant({"run", stories(), "-p", prompt, "--temp", "0", "-n", "30", "-t",
                                "2", "--no-display-prompt"});
  ASSERT_EQ(hidden.exit_code, 0) << hidden.err;
  EXPECT_EQ(prompt + hidden.out, r.out);
}

TEST_F(RunCliTest, PromptFromFileAndStopStrings) {
  QUANT_REQUIRE_SHARED();
  const std::string expected = expected_greedy_text();
  const std::string stop = "girl named";
  const Outcome r = quant({"run", stories(), "-f", write_file("prompt.txt", "Once upon a time"),
                           "--temp", "0", "--stop", "no such text", "--stop", stop, "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected.substr(0, expected.find(stop)) + "\n");
  EXPECT_NE(r.err.find("finish: stop"), std::string::npos) << r.err;
}

TEST_F(RunCliTest, InvalidUtf8PromptIsAOneLineError) {
  QUANT_REQUIRE_SHARED();
  const Outcome r = quant({"run", stories(), "-p", "abc\xC3", "-n", "4"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("invalid UTF-8 at byte offset 3"), std::string::npos) << r.err;

  const std::string file = write_file("bad.txt", "ok \xFF no");
  const Outcome from_file = quant({"run", stories(), "-f", file, "-n", "4"});
  EXPECT_NE(from_file.exit_code, 0);
  EXPECT_TRUE(is_one_line(from_file.err)) << from_file.err;
  EXPECT_NE(from_file.err.find(file), std::string::npos) << from_file.err;
}

TEST_F(RunCliTest, PromptLongerThanTheContextIsAnError) {
  QUANT_REQUIRE_SHARED();
  const Outcome r = quant(
      {"run", stories(), "-p", "Once upon a time, there was a little girl", "-c", "8", "-n", "4"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("more than the context of 8"), std::string::npos) << r.err;
}

TEST_F(RunCliTest, BadSamplingOptionIsAnError) {
  QUANT_REQUIRE_SHARED();
  const Outcome r = quant({"run", stories(), "-p", "Once", "--top-p", "1.5", "-n", "4"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("top_p"), std::string::npos) << r.err;
}

TEST_F(RunCliTest, RunChatAnswersWithTheDefaultModel) {
  QUANT_REQUIRE_DEFAULT_MODEL();
  const std::string question = "What is the capital of France?";
  const Outcome r = quant(
      {"run", default_model(), "--chat", "-p", question, "--temp", "0", "-n", "6", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(r.out.starts_with(question + "\n")) << r.out;
  const std::string answer = r.out.substr(question.size() + 1);
  EXPECT_GT(answer.size(), 2u) << r.out;
  // No template markup leaks into the answer.
  EXPECT_EQ(answer.find("<|im"), std::string::npos) << answer;
}

TEST_F(RunCliTest, ChatReadsTurnsFromAFile) {
  QUANT_REQUIRE_DEFAULT_MODEL();
  const std::string turns = write_file("turns.txt", "Hello!\n\nWhat is 2 + 2?\n/exit\nIgnored.\n");
  const Outcome r =
      quant({"chat", default_model(), "-f", turns, "--temp", "0", "-n", "5", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t first = r.out.find("> Hello!\n");
  const size_t second = r.out.find("> What is 2 + 2?\n");
  ASSERT_EQ(first, 0u) << r.out;
  ASSERT_NE(second, std::string::npos) << r.out;
  EXPECT_GT(second, first + std::string("> Hello!\n").size() + 1) << "no first answer: " << r.out;
  EXPECT_GT(r.out.size(), second + std::string("> What is 2 + 2?\n").size() + 1)
      << "no second answer: " << r.out;
  EXPECT_EQ(r.out.find("Ignored."), std::string::npos) << r.out;
  // The second turn reuses the first one's tokens.
  EXPECT_EQ(r.err.find("(0 reused"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace quant::test
