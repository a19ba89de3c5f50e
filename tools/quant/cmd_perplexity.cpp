// Placeholder until its owner lands it.
#include "commands.h"
#include "common/error.h"

namespace quant::cli {

void add_perplexity_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("perplexity", "(not built yet)");
  cmd->callback([] { fail("'perplexity' is not built yet"); });
}

}  // namespace quant::cli
