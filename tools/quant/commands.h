#pragma once
// Every subcommand of `quant` lives in its own cmd_<name>.cpp and registers itself on the app here.
// A command's callback throws quant::Error for bad input; main() prints it as one line and exits 1.

#include <CLI/CLI.hpp>

namespace quant::cli {

void add_info_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_make_model_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_devices_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_bench_command(CLI::App& app);

}  // namespace quant::cli
