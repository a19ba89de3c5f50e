#include "runtime/benchmark.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <span>
#include <type_traits>
#include <variant>

#include "backend/cpu/cpu_backend.h"
#include "common/error.h"

namespace quant {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `count` token ids drawn uniformly from the vocabulary: valid input that no tokenizer shapes.
std::vector<int32_t> random_tokens(uint32_t count, uint32_t n_vocab, std::mt19937_64& random) {
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab) - 1);
  std::vector<int32_t> tokens(count);
  for (int32_t& token : tokens) token = pick(random);
  return tokens;
}

// One run of a test: wall time, and the device counters' growth when the backend has them.
struct RunSample {
  double seconds = 0.0;
  std::optional<DeviceCounters> device;
};

std::optional<DeviceCounters> counters_difference(const std::optional<DeviceCounters>& before,
                                                  const std::optional<DeviceCounters>& after) {
  if (!before || !after) return std::nullopt;
  return DeviceCounters{.gpu_seconds = after->gpu_seconds - before->gpu_seconds,
                        .submits = after->submits - before->submits,
                        .dispatches = after->dispatches - before->dispatches,
                        .barriers = after->barriers - before->barriers};
}

// Runs `work` on `session` from an empty cache and measures it.
template <typename Work>
RunSample measure(Session& session, const Work& work) {
  session.reset();
  const std::optional<DeviceCounters> before = session.backend().device_counters();
  const Clock::time_point start = Clock::now();
  work();
  RunSample sample;
  sample.seconds = seconds_since(start);
  sample.device = counters_difference(before, session.backend().device_counters());
  session.reset();
  return sample;
}

std::optional<DeviceTestFigures> device_figures(const std::vector<RunSample>& runs,
                                                uint32_t n_tokens) {
  std::vector<double> gpu_ms_per_token;
  std::vector<double> busy_percent;
  DeviceCounters sum;
  for (const RunSample& run : runs) {
    if (!run.device) return std::nullopt;
    gpu_ms_per_token.push_back(run.device->gpu_seconds * 1e3 / n_tokens);
    busy_percent.push_back(run.seconds > 0.0 ? run.device->gpu_seconds / run.seconds * 100.0 : 0.0);
    sum.submits += run.device->submits;
    sum.dispatches += run.device->dispatches;
    sum.barriers += run.device->barriers;
  }
  const double tokens = static_cast<double>(n_tokens) * static_cast<double>(runs.size());
  return DeviceTestFigures{.gpu_ms_per_token = spread_of(gpu_ms_per_token),
                           .busy_percent = spread_of(busy_percent),
                           .submits_per_token = static_cast<double>(sum.submits) / tokens,
                           .dispatches_per_token = static_cast<double>(sum.dispatches) / tokens,
                           .barriers_per_token = static_cast<double>(sum.barriers) / tokens};
}

// One warm-up run, then `repetitions` measured runs of `work`, summarized.
template <typename Work>
BenchmarkTest run_test(Session& session, BenchmarkKind kind, uint32_t n_tokens,
                       uint32_t repetitions, const Work& work) {
  BenchmarkTest test;
  test.kind = kind;
  test.name = fmt::format("{}{}", kind == BenchmarkKind::PromptProcessing ? "pp" : "tg", n_tokens);
  test.n_tokens = n_tokens;
  measure(session, work);
  std::vector<RunSample> runs;
  std::vector<double> tokens_per_second;
  std::vector<double> ms_per_token;
  for (uint32_t i = 0; i < repetitions; ++i) {
    runs.push_back(measure(session, work));
    const double seconds = runs.back().seconds;
    test.seconds.push_back(seconds);
    tokens_per_second.push_back(seconds > 0.0 ? n_tokens / seconds : 0.0);
    ms_per_token.push_back(seconds * 1e3 / n_tokens);
  }
  test.tokens_per_second = spread_of(tokens_per_second);
  test.ms_per_token = spread_of(ms_per_token);
  test.device = device_figures(runs, n_tokens);
  return test;
}

uint64_t weight_bytes_read(const plan::Plan& plan, const plan::OpKind& kind) {
  auto bytes = [&](plan::WeightId id) -> uint64_t { return plan.weight(id).data.size(); };
  return std::visit(
      [&]<typename Op>(const Op& op) -> uint64_t {
        if constexpr (std::is_same_v<Op, plan::Embed>) {
          const plan::WeightRef& table = plan.weight(op.table);
          return table.n_rows() == 0 ? 0 : table.data.size() / table.n_rows();
        } else if constexpr (std::is_same_v<Op, plan::RmsNorm> ||
                             std::is_same_v<Op, plan::MatVec> ||
                             std::is_same_v<Op, plan::CausalConv1dSilu>) {
          return bytes(op.weight);
        } else if constexpr (std::is_same_v<Op, plan::GatedDeltaNet>) {
          return bytes(op.a) + bytes(op.dt_bias);
        } else {
          // Add, Rope, KvStore, Attention, SwiGLU, SliceHeads, SigmoidGate: no weights.
          return 0;
        }
      },
      kind);
}

}  // namespace

SampleSpread spread_of(const std::vector<double>& samples) {
  if (samples.empty()) return {};
  double sum = 0.0;
  for (const double x : samples) sum += x;
  const double mean = sum / static_cast<double>(samples.size());
  if (samples.size() == 1) return {.mean = mean, .sd = 0.0};
  double squares = 0.0;
  for (const double x : samples) squares += (x - mean) * (x - mean);
  return {.mean = mean, .sd = std::sqrt(squares / static_cast<double>(samples.size() - 1))};
}

ModelSummary summarize_model(const model::Model& model) {
  ModelSummary summary;
  summary.file_name = std::filesystem::path(model.file().path()).filename().string();
  summary.architecture = model.hparams().architecture;
  for (const gguf::TensorInfo& tensor : model.file().tensors()) {
    summary.tensor_bytes += tensor.n_bytes;
    summary.parameters += tensor.n_elements;
  }
  return summary;
}

std::vector<KernelTotal> kernel_totals(const TokenProfile& profile) {
  std::map<std::string, KernelTotal> by_kernel;
  for (const DispatchTiming& d : profile.dispatches) {
    KernelTotal& total = by_kernel[d.kernel];
    total.kernel = d.kernel;
    ++total.count;
    total.gpu_seconds += d.gpu_seconds;
    total.bytes += d.bytes;
  }
  std::vector<KernelTotal> totals;
  for (auto& [kernel, total] : by_kernel) totals.push_back(std::move(total));
  // Stable: kernels of equal time stay in name order, so the table does not shuffle between runs.
  std::stable_sort(totals.begin(), totals.end(), [](const KernelTotal& a, const KernelTotal& b) {
    return a.gpu_seconds > b.gpu_seconds;
  });
  return totals;
}

uint64_t decode_weight_bytes(const plan::Plan& plan) {
  uint64_t total = 0;
  for (const plan::Op& op : plan.ops) total += weight_bytes_read(plan, op.kind);
  return total;
}

uint32_t benchmark_context_length(const BenchmarkOptions& options) {
  return std::max({options.prompt_tokens, options.generated_tokens, profile_position(options) + 1});
}

uint32_t profile_position(const BenchmarkOptions& options) {
  return options.generated_tokens / 2;
}

BenchmarkReport run_benchmark(Session& session, const std::string& model_path,
                              const BenchmarkOptions& options) {
  if (options.repetitions == 0) fail("bench: the repetitions must be at least 1");
  if (session.context_length() < benchmark_context_length(options))
    fail("bench: the context of {} positions is shorter than the {} the tests need",
         session.context_length(), benchmark_context_length(options));
  BenchmarkReport report;
  report.model = summarize_model(session.model());
  if (!model_path.empty())
    report.model.file_name = std::filesystem::path(model_path).filename().string();
  report.backend = std::string(session.backend().name());
  if (const auto* cpu = dynamic_cast<const cpu::CpuBackend*>(&session.backend()))
    report.threads = cpu->threads();
  report.weight_bytes_per_token = decode_weight_bytes(session.model().plan());

  std::mt19937_64 random(options.seed);
  const uint32_t n_vocab = session.n_vocab();
  const std::vector<int32_t> prompt = random_tokens(options.prompt_tokens, n_vocab, random);
  if (!prompt.empty()) {
    report.tests.push_back(run_test(session, BenchmarkKind::PromptProcessing, options.prompt_tokens,
                                    options.repetitions, [&] { session.prefill(prompt); }));
  }
  if (options.generated_tokens > 0) {
    const int32_t first = random_tokens(1, n_vocab, random).front();
    BenchmarkTest test = run_test(
        session, BenchmarkKind::TextGeneration, options.generated_tokens, options.repetitions, [&] {
          session.decode_greedy(first, options.generated_tokens, [](int32_t) { return true; });
        });
    test.weight_gigabytes_per_second =
        static_cast<double>(report.weight_bytes_per_token) * test.tokens_per_second.mean * 1e-9;
    report.tests.push_back(std::move(test));
  }
  if (options.profile) {
    report.profile_position = profile_position(options);
    session.reset();
    const std::vector<int32_t> context = random_tokens(report.profile_position, n_vocab, random);
    if (!context.empty()) session.prefill(context);
    // Straight to the backend: the session has no profiled step, and it is reset right after.
    report.profile = session.backend().forward_profiled(random_tokens(1, n_vocab, random).front(),
                                                        session.position());
    report.profile_unavailable = !report.profile;
    session.reset();
  }
  if (options.profile && !prompt.empty()) {
    // The pp test's own prompt from an empty cache: the submission the pp test makes first.
    report.prefill_profile = session.backend().prefill_profiled(prompt, 0);
    report.prefill_profile_unavailable = !report.prefill_profile;
    session.reset();
  }
  return report;
}

}  // namespace quant
