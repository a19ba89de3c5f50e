// `quant`: one binary, one subcommand per job.

#include <cstdio>
#include <exception>

#include "commands.h"
#include "common/error.h"

int main(int argc, char** argv) {
  CLI::App app{"quant: GGUF language-model inference on the CPU and on GPUs through Vulkan"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "quant 0.1.0");
  quant::cli::add_info_command(app);
  quant::cli::add_quantize_command(app);
  quant::cli::add_make_model_command(app);
  quant::cli::add_tokenize_command(app);
  quant::cli::add_run_command(app);
  quant::cli::add_chat_command(app);
  quant::cli::add_logits_command(app);
  quant::cli::add_perplexity_command(app);
  quant::cli::add_devices_command(app);
  quant::cli::add_serve_command(app);
  quant::cli::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const quant::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  }
  return 0;
}
