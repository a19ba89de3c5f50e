// `quant tokenize MODEL (--text S | -f FILE) [--ids] [--no-bos] [--no-parse-special]`: the token
// ids of a text under a model's tokenizer, like llama.cpp's llama-tokenize. Works on full models
// and on vocab-only GGUF files alike (only the tokenizer.ggml.* metadata is read).

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace quant::cli {

namespace {

struct TokenizeArgs {
  std::string model;
  std::string text;
  std::string file;
  bool ids_only = false;
  bool no_bos = false;
  bool no_parse_special = false;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the text file", path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("{}: read error", path);
  return text;
}

// A piece between quotes: valid UTF-8 as is, other bytes (part of a character split over tokens) as
// \xNN.
std::string quoted_piece(std::string_view piece) {
  std::string out = "'";
  for (size_t at = 0; at < piece.size();) {
    const utf8::Decoded d = utf8::decode(piece.substr(at));
    if (d.status == utf8::Decoded::Status::Complete) {
      out.append(piece.substr(at, d.length));
      at += d.length;
    } else {
      out += fmt::format("\\x{:02X}", static_cast<uint8_t>(piece[at]));
      at += 1;
    }
  }
  return out + "'";
}

void run_tokenize(const TokenizeArgs& args) {
  const std::string text = args.file.empty() ? args.text : read_text_file(args.file);
  const auto file = gguf::GgufFile::open(args.model);
  const Tokenizer tokenizer = Tokenizer::from_gguf(file);
  for (const std::string& warning : tokenizer.warnings())
    std::fprintf(stderr, "warning: %s\n", warning.c_str());
  const bool add_bos = tokenizer.add_bos() && !args.no_bos;
  const std::vector<int32_t> ids = tokenizer.encode(text, add_bos, !args.no_parse_special);
  if (args.ids_only) {
    std::fputs(fmt::format("[{}]\n", fmt::join(ids, ", ")).c_str(), stdout);
    return;
  }
  for (const int32_t id : ids)
    std::fputs(fmt::format("{:6} -> {}\n", id, quoted_piece(tokenizer.piece(id))).c_str(), stdout);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd =
      app.add_subcommand("tokenize", "Show the tokens a text becomes under a model's tokenizer");
  cmd->add_option("model", args->model, "GGUF model or vocab-only file")
      ->required()
      ->check(CLI::ExistingFile);
  auto* text = cmd->add_option("--text", args->text, "The text to tokenize");
  auto* file =
      cmd->add_option("-f,--file", args->file, "Read the text from this file (bytes as they are)")
          ->check(CLI::ExistingFile);
  text->excludes(file);
  cmd->add_flag("--ids", args->ids_only, "Print only the ids, as one line: [1, 2, 3]");
  cmd->add_flag("--no-bos", args->no_bos,
                "Do not add BOS, even where the model's metadata asks for it");
  cmd->add_flag("--no-parse-special", args->no_parse_special,
                "Treat control tokens written in the text (such as <|im_start|>) as plain text");
  cmd->footer(
      "Without --ids, each token is printed on its own line as `id -> 'piece'`, where the piece is "
      "the text\n"
      "the token stands for; bytes of a character split over several tokens are shown as \\xNN.\n"
      "BOS is added when the model's metadata says so (tokenizer.ggml.add_bos_token). User-defined "
      "tokens\n"
      "(such as <think>) are always matched as single tokens.\n"
      "Example: quant tokenize model.gguf --text 'Hello world' --ids");
  cmd->callback([args, text, file] {
    if (text->count() == 0 && file->count() == 0)
      fail("tokenize: give the text with --text or -f FILE");
    run_tokenize(*args);
  });
}

}  // namespace quant::cli
