// Placeholder until its owner lands it.
#include "commands.h"
#include "common/error.h"

namespace quant::cli {

void add_quantize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "(not built yet)");
  cmd->callback([] { fail("'quantize' is not built yet"); });
}

}  // namespace quant::cli
