// Placeholder until its owner lands it.
#include "commands.h"
#include "common/error.h"

namespace quant::cli {

void add_make_model_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-model", "(not built yet)");
  cmd->callback([] { fail("'make-model' is not built yet"); });
}

}  // namespace quant::cli
