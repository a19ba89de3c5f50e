// Placeholder until its owner lands it.
#include "commands.h"
#include "common/error.h"

namespace quant::cli {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "(not built yet)");
  cmd->callback([] { fail("'info' is not built yet"); });
}

}  // namespace quant::cli
