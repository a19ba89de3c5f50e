// `quant make-model --preset NAME --type T OUT`: a synthetic model with random weights and the
// exact shapes, metadata and vocabulary size of a real (or tiny test) model.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <string>

#include "commands.h"
#include "common/error.h"
#include "modelgen/model_writer.h"

namespace quant::cli {

namespace {

struct MakeModelArgs {
  std::string preset;
  std::string type = "F16";
  std::string output;
  uint64_t seed = 1234;
  int threads = 0;
  std::string progress = "auto";
};

void run_make_model(const MakeModelArgs& args) {
  modelgen::MakeModelOptions options;
  options.preset = args.preset;
  const auto file_type = parse_file_type(args.type);
  if (!file_type) fail("--type {}: unknown type (use one of {})", args.type, file_type_names());
  options.file_type = *file_type;
  options.seed = args.seed;
  options.threads = args.threads;
  options.progress = *parse_progress_mode(args.progress);
  const modelgen::MakeModelSummary s = modelgen::write_synthetic_model(args.output, options);
  fmt::print("{}: {} {} (seed {}), {} tensors, {:.3f} B parameters, {:.1f} MiB, {:.1f} s\n",
             args.output, args.preset, file_type_name(options.file_type), args.seed, s.n_tensors,
             static_cast<double>(s.n_parameters) * 1e-9,
             static_cast<double>(s.file_bytes) / (1 << 20), s.seconds);
}

}  // namespace

void add_make_model_command(CLI::App& app) {
  auto args = std::make_shared<MakeModelArgs>();
  auto* cmd = app.add_subcommand(
      "make-model", "Write a synthetic model (random weights, real shapes and metadata)");
  cmd->add_option("--preset", args->preset,
                  fmt::format("Model shape: {}", fmt::join(modelgen::model_preset_names(), ", ")))
      ->required();
  cmd->add_option("--type", args->type, fmt::format("File type: {}", file_type_names()))
      ->capture_default_str();
  cmd->add_option("output", args->output, "GGUF file to write")->required();
  cmd->add_option("--seed", args->seed, "Seed of the random weights")->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Threads (default: one per hardware thread)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--progress", args->progress, "Progress bar on stderr: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd->callback([args] { run_make_model(*args); });
}

}  // namespace quant::cli
