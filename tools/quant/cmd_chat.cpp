// Placeholder until its owner lands it.
#include "commands.h"
#include "common/error.h"

namespace quant::cli {

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "(not built yet)");
  cmd->callback([] { fail("'chat' is not built yet"); });
}

}  // namespace quant::cli
