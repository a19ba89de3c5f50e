// Placeholder until its owner lands it.
#include "commands.h"
#include "common/error.h"

namespace quant::cli {

void add_devices_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "(not built yet)");
  cmd->callback([] { fail("'devices' is not built yet"); });
}

}  // namespace quant::cli
