// Placeholder until its owner lands it.
#include "commands.h"
#include "common/error.h"

namespace quant::cli {

void add_logits_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "(not built yet)");
  cmd->callback([] { fail("'logits' is not built yet"); });
}

}  // namespace quant::cli
