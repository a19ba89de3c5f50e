// `quant bench MODEL [-p 512] [-n 128] [-r 5] [--backend B] [-t N] [--json] [--profile]`: prompt
// processing and text generation speed in the spirit of llama-bench (see runtime/benchmark.h), as
// a table on stdout, or with --json one JSON object.

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "model/model.h"
#include "runtime/benchmark.h"
#include "runtime/session.h"
#include "session_flags.h"

namespace quant::cli {

namespace {

using nlohmann::ordered_json;

struct BenchArgs {
  std::string model;
  BenchmarkOptions benchmark;
  uint32_t batch_size = SessionOptions{}.max_batch;
  bool json = false;
  SessionFlags session;
};

// ---- The table ----------------------------------------------------------------------------------

struct Column {
  std::string header;
  bool right_aligned = true;
};

// A Markdown table as llama-bench prints it: padded cells, alignment marks under the header.
void print_table(const std::vector<Column>& columns,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const Column& column : columns) widths.push_back(column.header.size());
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line = "|";
    for (size_t i = 0; i < cells.size(); ++i)
      line += columns[i].right_aligned ? fmt::format(" {:>{}} |", cells[i], widths[i])
                                       : fmt::format(" {:<{}} |", cells[i], widths[i]);
    fmt::print("{}\n", line);
  };
  std::vector<std::string> headers;
  std::vector<std::string> rules;
  for (size_t i = 0; i < columns.size(); ++i) {
    headers.push_back(columns[i].header);
    rules.push_back(columns[i].right_aligned ? std::string(widths[i] - 1, '-') + ":"
                                             : std::string(widths[i], '-'));
  }
  print_row(headers);
  print_row(rules);
  for (const auto& row : rows) print_row(row);
}

// GiB as llama-bench prints sizes, MiB below one GiB so that small models do not show as 0.00.
std::string model_size(uint64_t bytes) {
  const double x = static_cast<double>(bytes);
  if (bytes >= (1ull << 30)) return fmt::format("{:.2f} GiB", x / (1ull << 30));
  return fmt::format("{:.2f} MiB", x / (1ull << 20));
}

std::string parameter_count(uint64_t n) {
  const double x = static_cast<double>(n);
  if (n >= 1000000000) return fmt::format("{:.2f} B", x * 1e-9);
  if (n >= 1000000) return fmt::format("{:.2f} M", x * 1e-6);
  return fmt::format("{:.2f} K", x * 1e-3);
}

std::string plus_minus(const SampleSpread& s, int decimals) {
  return fmt::format("{:.{}f} ± {:.{}f}", s.mean, decimals, s.sd, decimals);
}

void print_report_table(const BenchmarkReport& report) {
  const bool device = std::any_of(report.tests.begin(), report.tests.end(),
                                  [](const BenchmarkTest& t) { return t.device.has_value(); });
  std::vector<Column> columns = {{"model", false}, {"size"}, {"params"}, {"backend", false},
                                 {"threads"},      {"test"}, {"t/s"},    {"ms/tok"},
                                 {"GB/s"}};
  if (device) {
    columns.push_back({"GPU ms/tok"});
    columns.push_back({"GPU busy %"});
  }
  std::vector<std::vector<std::string>> rows;
  for (const BenchmarkTest& test : report.tests) {
    std::vector<std::string> row = {report.model.file_name,
                                    model_size(report.model.tensor_bytes),
                                    parameter_count(report.model.parameters),
                                    report.backend,
                                    report.threads ? fmt::format("{}", *report.threads) : "-",
                                    test.name,
                                    plus_minus(test.tokens_per_second, 2),
                                    plus_minus(test.ms_per_token, 3),
                                    test.weight_gigabytes_per_second
                                        ? fmt::format("{:.1f}", *test.weight_gigabytes_per_second)
                                        : "-"};
    if (device) {
      row.push_back(test.device ? plus_minus(test.device->gpu_ms_per_token, 3) : "-");
      row.push_back(test.device ? plus_minus(test.device->busy_percent, 1) : "-");
    }
    rows.push_back(std::move(row));
  }
  print_table(columns, rows);
  fmt::print("\nweights read per decode token: {:.1f} MB (GB/s = that x tg t/s)\n",
             static_cast<double>(report.weight_bytes_per_token) * 1e-6);
  for (const BenchmarkTest& test : report.tests) {
    if (!test.device) continue;
    fmt::print("{}: per token {:.2f} submits, {:.1f} dispatches, {:.1f} barriers\n", test.name,
               test.device->submits_per_token, test.device->dispatches_per_token,
               test.device->barriers_per_token);
  }
}

// ---- The profile --------------------------------------------------------------------------------

std::string gigabytes_per_second(uint64_t bytes, double seconds) {
  return seconds > 0.0 ? fmt::format("{:.1f}", static_cast<double>(bytes) / seconds * 1e-9) : "-";
}

// The GPU time of the profile's dispatches together: what the per-kernel shares are of.
double dispatch_seconds(const TokenProfile& profile) {
  double seconds = 0.0;
  for (const DispatchTiming& d : profile.dispatches) seconds += d.gpu_seconds;
  return seconds;
}

// Every dispatch of `profile` in submission order.
void print_dispatches(const TokenProfile& profile) {
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < profile.dispatches.size(); ++i) {
    const DispatchTiming& d = profile.dispatches[i];
    rows.push_back({fmt::format("{}", i), d.layer >= 0 ? fmt::format("{}", d.layer) : "-", d.op,
                    d.kernel, fmt::format("{:.2f}", d.gpu_seconds * 1e6),
                    fmt::format("{:.3f}", static_cast<double>(d.bytes) * 1e-6),
                    gigabytes_per_second(d.bytes, d.gpu_seconds)});
  }
  print_table({{"#"}, {"layer"}, {"op", false}, {"kernel", false}, {"GPU us"}, {"MB"}, {"GB/s"}},
              rows);
}

// The per-kernel totals of `profile`, the most time first: where the time goes.
void print_kernel_totals(const TokenProfile& profile) {
  const double total_seconds = dispatch_seconds(profile);
  std::vector<std::vector<std::string>> rows;
  for (const KernelTotal& total : kernel_totals(profile))
    rows.push_back({total.kernel, fmt::format("{}", total.count),
                    fmt::format("{:.2f}", total.gpu_seconds * 1e6),
                    total_seconds > 0.0
                        ? fmt::format("{:.1f}", total.gpu_seconds / total_seconds * 100.0)
                        : "-",
                    gigabytes_per_second(total.bytes, total.gpu_seconds)});
  print_table({{"kernel", false}, {"count"}, {"GPU us"}, {"% of GPU time"}, {"GB/s"}}, rows);
}

// A profiled submission's dispatch table, then its per-kernel totals.
void print_dispatches_and_kernels(const TokenProfile& profile) {
  print_dispatches(profile);
  fmt::print("\nby kernel:\n\n");
  print_kernel_totals(profile);
}

void print_decode_profile(const BenchmarkReport& report) {
  const TokenProfile& profile = *report.profile;
  fmt::print("\nprofile of one decode token at position {}:\n\n", report.profile_position);
  print_dispatches_and_kernels(profile);
  const DeviceCounters& t = profile.totals;
  fmt::print(
      "\ntoken: {} dispatches, {} barriers, {} submits; GPU {:.3f} ms (dispatches {:.3f} ms); "
      "weights {:.1f} MB at {} GB/s of GPU time\n",
      t.dispatches, t.barriers, t.submits, t.gpu_seconds * 1e3, dispatch_seconds(profile) * 1e3,
      static_cast<double>(report.weight_bytes_per_token) * 1e-6,
      gigabytes_per_second(report.weight_bytes_per_token, t.gpu_seconds));
}

void print_prefill_profile(const BenchmarkReport& report) {
  if (report.prefill_profile_unavailable) {
    fmt::print(
        "\nprefill profile: none; the {} backend has no batched prefill for this plan and prompt "
        "(it goes token by token)\n",
        report.backend);
    return;
  }
  if (!report.prefill_profile) return;
  const PrefillProfile& prefill = *report.prefill_profile;
  const TokenProfile& profile = prefill.submission;
  fmt::print("\nprofile of one batched prefill of {} tokens at position 0:\n\n", prefill.n_tokens);
  print_dispatches_and_kernels(profile);
  const DeviceCounters& t = profile.totals;
  fmt::print(
      "\nbatch: {} tokens, {} dispatches, {} barriers, {} submits; GPU {:.3f} ms (dispatches "
      "{:.3f} ms), {:.3f} ms per token\n",
      prefill.n_tokens, t.dispatches, t.barriers, t.submits, t.gpu_seconds * 1e3,
      dispatch_seconds(profile) * 1e3, t.gpu_seconds * 1e3 / prefill.n_tokens);
}

void print_profile(const BenchmarkReport& report) {
  if (report.profile_unavailable) {
    fmt::print("\nprofile: not available on the {} backend (it has no device timer)\n",
               report.backend);
    return;
  }
  if (report.profile) print_decode_profile(report);
  print_prefill_profile(report);
}

// ---- JSON ---------------------------------------------------------------------------------------

ordered_json spread_json(const SampleSpread& s) {
  return {{"mean", s.mean}, {"sd", s.sd}};
}

ordered_json counters_json(const DeviceCounters& c) {
  return {{"gpu_seconds", c.gpu_seconds},
          {"submits", c.submits},
          {"dispatches", c.dispatches},
          {"barriers", c.barriers}};
}

// A profile's totals, its dispatches in submission order, and its kernels' totals.
ordered_json profile_json(const TokenProfile& profile) {
  ordered_json dispatches = ordered_json::array();
  for (const DispatchTiming& d : profile.dispatches)
    dispatches.push_back({{"kernel", d.kernel},
                          {"op", d.op},
                          {"layer", d.layer},
                          {"gpu_seconds", d.gpu_seconds},
                          {"bytes", d.bytes}});
  ordered_json kernels = ordered_json::array();
  for (const KernelTotal& total : kernel_totals(profile))
    kernels.push_back({{"kernel", total.kernel},
                       {"count", total.count},
                       {"gpu_seconds", total.gpu_seconds},
                       {"bytes", total.bytes}});
  return {{"totals", counters_json(profile.totals)},
          {"dispatches", std::move(dispatches)},
          {"kernels", std::move(kernels)}};
}

ordered_json test_json(const BenchmarkTest& test) {
  ordered_json j = {
      {"name", test.name},
      {"kind", test.kind == BenchmarkKind::PromptProcessing ? "pp" : "tg"},
      {"n_tokens", test.n_tokens},
      {"seconds", test.seconds},
      {"tokens_per_second", spread_json(test.tokens_per_second)},
      {"ms_per_token", spread_json(test.ms_per_token)},
  };
  if (test.weight_gigabytes_per_second)
    j["weight_gigabytes_per_second"] = *test.weight_gigabytes_per_second;
  if (test.device)
    j["device"] = {{"gpu_ms_per_token", spread_json(test.device->gpu_ms_per_token)},
                   {"busy_percent", spread_json(test.device->busy_percent)},
                   {"submits_per_token", test.device->submits_per_token},
                   {"dispatches_per_token", test.device->dispatches_per_token},
                   {"barriers_per_token", test.device->barriers_per_token}};
  return j;
}

ordered_json report_json(const BenchmarkReport& report, const BenchArgs& args) {
  ordered_json j = {
      {"model",
       {{"file", report.model.file_name},
        {"architecture", report.model.architecture},
        {"size_bytes", report.model.tensor_bytes},
        {"parameters", report.model.parameters}}},
      {"backend", report.backend},
      {"threads", report.threads ? ordered_json(*report.threads) : ordered_json(nullptr)},
      {"options",
       {{"prompt_tokens", args.benchmark.prompt_tokens},
        {"generated_tokens", args.benchmark.generated_tokens},
        {"repetitions", args.benchmark.repetitions},
        {"seed", args.benchmark.seed},
        {"batch_size", args.batch_size}}},
      {"weight_bytes_per_token", report.weight_bytes_per_token},
  };
  ordered_json tests = ordered_json::array();
  for (const BenchmarkTest& test : report.tests) tests.push_back(test_json(test));
  j["tests"] = std::move(tests);
  if (args.benchmark.profile) {
    ordered_json profile = {{"position", report.profile_position},
                            {"available", report.profile.has_value()}};
    if (report.profile) profile.update(profile_json(*report.profile));
    j["profile"] = std::move(profile);
  }
  if (args.benchmark.profile && args.benchmark.prompt_tokens > 0) {
    ordered_json prefill = {{"available", report.prefill_profile.has_value()}};
    if (report.prefill_profile) {
      prefill["n_tokens"] = report.prefill_profile->n_tokens;
      prefill.update(profile_json(report.prefill_profile->submission));
    }
    j["prefill_profile"] = std::move(prefill);
  }
  return j;
}

void run_bench(const BenchArgs& args) {
  const model::Model model = model::Model::load(args.model);
  SessionOptions options = args.session.options();
  options.context_length = benchmark_context_length(args.benchmark);
  options.max_batch = args.batch_size;
  Session session(model, options);
  fmt::print(stderr, "{}\n", describe_session(args.model, session));
  const BenchmarkReport report = run_benchmark(session, args.model, args.benchmark);
  if (args.json) {
    fmt::print("{}\n", report_json(report, args).dump(2));
    return;
  }
  print_report_table(report);
  print_profile(report);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand(
      "bench", "Measure prompt processing (pp) and text generation (tg) speed, like llama-bench");
  cmd->add_option("MODEL", args->model, "GGUF model file")->required();
  BenchmarkOptions& b = args->benchmark;
  cmd->add_option("-p,--n-prompt", b.prompt_tokens, "Prompt tokens of the pp test (0: no pp test)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", b.generated_tokens,
                  "Tokens of the tg test, decoded greedily (0: no tg test)")
      ->capture_default_str();
  cmd->add_option("-r,--repetitions", b.repetitions, "Measured runs of each test, after a warm-up")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--seed", b.seed, "Seed of the random token ids")->capture_default_str();
  cmd->add_option("-b,--batch-size", args->batch_size, "Tokens per batched step of the pp test")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--profile", b.profile,
                "Also time one decode token and, with a pp test, the first batched prefill "
                "submission of its prompt, dispatch by dispatch, with totals per kernel (backends "
                "with a device timer)");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of the table");
  args->session.add_to(*cmd, false);
  cmd->callback([args] { run_bench(*args); });
}

}  // namespace quant::cli
