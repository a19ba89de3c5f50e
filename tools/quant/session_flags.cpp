#include "session_flags.h"

#include <fmt/format.h>

#include <cassert>
#include <optional>

namespace quant::cli {

void SessionFlags::add_to(CLI::App& cmd, bool with_context) {
  cmd.add_option("--backend", backend, "Where to run: auto (the best available), cpu, vulkan")
      ->check(CLI::IsMember({"auto", "cpu", "vulkan"}))
      ->capture_default_str();
  cmd.add_option("--device", device,
                 "Vulkan device index, as `quant devices` lists them (the CPU backend ignores it)")
      ->capture_default_str();
  cmd.add_option("-t,--threads", threads, "CPU threads (default: one per physical core)");
  cmd.add_flag("--exact", exact_activations,
               "Keep activations in F32 in quantized mat-vecs, on the CPU and the GPU (slower; by "
               "default both quantize them to int8 blocks as llama.cpp does)");
  if (with_context)
    cmd.add_option("-c,--ctx-size", context_length,
                   "Context length in tokens (default: the model's, at most 4096)");
}

SessionOptions SessionFlags::options() const {
  const std::optional<BackendChoice> choice = parse_backend_choice(backend);
  assert(choice);  // CLI11 checked the value
  return SessionOptions{.backend = *choice,
                        .threads = threads,
                        .context_length = context_length,
                        .exact_activations = exact_activations,
                        .device = device};
}

std::string describe_session(const std::string& model_path, Session& session) {
  const model::Hparams& hp = session.model().hparams();
  return fmt::format("{}: {}, {} layers, {} wide, vocab {}; backend {}, context {}", model_path,
                     hp.architecture, hp.n_layers, hp.n_embd, hp.n_vocab, session.backend().name(),
                     session.context_length());
}

}  // namespace quant::cli
