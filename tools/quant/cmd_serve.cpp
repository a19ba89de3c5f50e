// `quant serve MODEL [--host H] [--port P] [--parallel N] [--queue N] ...`: an OpenAI-compatible
// HTTP server (src/server/http_server.h) until Ctrl-C or SIGTERM, which stop it gracefully (exit
// 0).

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "server/http_server.h"
#include "server/served_model.h"
#include "server/shutdown_signals.h"
#include "session_flags.h"

namespace quant::cli {

namespace {

struct ServeFlags {
  std::string model_path;
  server::ServerOptions server;
  uint32_t parallel = 1;
  SessionFlags session;
};

void serve(const ServeFlags& flags) {
  // First: the mask it sets must be inherited by every thread (backend workers, HTTP threads).
  server::ShutdownSignals signals;
  server::ServedModel model(flags.model_path, flags.session.options(), flags.parallel);
  for (const std::string& warning : model.warnings())
    fmt::print(stderr, "warning: {}: {}\n", flags.model_path, warning);
  fmt::print(stderr, "{}\n", describe_session(flags.model_path, model.session(0)));

  server::HttpServer http(model, flags.server);
  const uint16_t port = http.bind();
  fmt::print(stderr, "quant serve: {} slot(s), queue {}; listening on http://{}:{}\n",
             flags.parallel, flags.server.max_waiting, flags.server.host, port);
  signals.start([&http] {
    std::fputs("quant serve: shutting down (again to force)\n", stderr);
    http.stop();
  });
  http.run();
  signals.stop();
  fmt::print(stderr, "quant serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand(
      "serve",
      "Serve the model over HTTP with the OpenAI API: POST /v1/chat/completions, POST "
      "/v1/completions (both with \"stream\": true as server-sent events), GET /v1/models, GET "
      "/health. Requests beyond --parallel wait in a FIFO queue of --queue places (429 when full). "
      "Sampling defaults follow `quant run`; frequency_penalty and presence_penalty are accepted "
      "and ignored (use repetition_penalty); max_tokens beyond the context ends at the context "
      "(finish_reason \"length\"). Each slot has its own session and -t threads. Ctrl-C or SIGTERM "
      "stops it: in-flight requests are cancelled, idle keep-alive connections may hold it up to "
      "5 s; a second signal ends it at once.");
  cmd->add_option("MODEL", flags->model_path, "GGUF model file")->required();
  cmd->add_option("--host", flags->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", flags->server.port, "Port to listen on; 0 picks a free one")
      ->capture_default_str();
  cmd->add_option("--parallel", flags->parallel,
                  "Requests generated at the same time, each in its own session (KV cache)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  cmd->add_option("--queue", flags->server.max_waiting,
                  "Requests that may wait for a slot; more are answered 429")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{4096}));
  flags->session.add_to(*cmd, true);
  cmd->callback([flags] { serve(*flags); });
}

}  // namespace quant::cli
