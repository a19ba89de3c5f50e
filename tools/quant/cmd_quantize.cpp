// `quant quantize IN OUT --type T`: re-encode a GGUF model's tensors with llama-quantize's type
// mix.

#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.h"
#include "common/error.h"
#include "quantize/quantizer.h"

namespace quant::cli {

namespace {

struct QuantizeArgs {
  std::string input;
  std::string output;
  std::string type;
  int threads = 0;
  std::string progress = "auto";
};

void run_quantize(const QuantizeArgs& args) {
  QuantizeOptions options;
  const auto file_type = parse_file_type(args.type);
  if (!file_type) fail("--type {}: unknown type (use one of {})", args.type, file_type_names());
  options.file_type = *file_type;
  options.threads = args.threads;
  options.progress = *parse_progress_mode(args.progress);
  const QuantizeSummary s = quantize_file(args.input, args.output, options);

  std::string types;
  for (const auto& [type, count] : s.tensors_per_type) {
    types += fmt::format("{}{} {}", types.empty() ? "" : ", ", type_traits(type).name, count);
  }
  const double bits_per_weight = s.n_elements == 0 ? 0.0
                                                   : static_cast<double>(s.bytes_out) * 8.0 /
                                                         static_cast<double>(s.n_elements);
  fmt::print("{}: {} tensors ({}), {:.1f} MiB -> {:.1f} MiB, {:.2f} bits per weight, {:.1f} s\n",
             args.output, s.n_tensors, types, static_cast<double>(s.bytes_in) / (1 << 20),
             static_cast<double>(s.bytes_out) / (1 << 20), bits_per_weight, s.seconds);
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand(
      "quantize",
      "Rewrite a GGUF model with quantized tensors (llama-quantize's per-tensor types)");
  cmd->add_option("input", args->input, "GGUF model to read")->required()->check(CLI::ExistingFile);
  cmd->add_option("output", args->output, "GGUF file to write")->required();
  cmd->add_option("--type", args->type, fmt::format("Target file type: {}", file_type_names()))
      ->required();
  cmd->add_option("-t,--threads", args->threads, "Threads (default: one per hardware thread)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--progress", args->progress, "Progress bar on stderr: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd->callback([args] { run_quantize(*args); });
}

}  // namespace quant::cli
