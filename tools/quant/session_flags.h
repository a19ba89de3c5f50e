#pragma once
// The options every command that runs a model shares (--backend, --device, --threads, --ctx-size),
// declared once so their names, defaults and help text agree across commands.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "runtime/session.h"

namespace quant::cli {

struct SessionFlags {
  std::string backend = "auto";
  uint32_t device = 0;
  uint32_t threads = 0;
  uint32_t context_length = 0;
  bool exact_activations = false;

  // Adds --backend, --device, -t/--threads and --exact; with `with_context`, also -c/--ctx-size.
  void add_to(CLI::App& cmd, bool with_context);
  SessionOptions options() const;
};

// One line for stderr: "tiny.gguf: llama, 2 layers, 256 wide, vocab 512; backend cpu, context 512".
std::string describe_session(const std::string& model_path, Session& session);

}  // namespace quant::cli
