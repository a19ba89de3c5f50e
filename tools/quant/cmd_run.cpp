// Placeholder until its owner lands it.
#include "commands.h"
#include "common/error.h"

namespace quant::cli {

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "(not built yet)");
  cmd->callback([] { fail("'run' is not built yet"); });
}

}  // namespace quant::cli
