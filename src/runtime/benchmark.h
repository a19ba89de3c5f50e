#pragma once
// Speed measurements in the spirit of llama-bench, for `quant bench`:
//   pp<N>  prompt processing: N random tokens through Session::prefill from an empty cache (as
//          llama-bench's pp: batched, with the vocabulary projection of the last token only);
//   tg<N>  text generation: N tokens one at a time from an empty cache, each next token the
//          greedy choice of the logits, through Session::decode_greedy (the choice is made inside
//          the timing: on the CPU, or on the device by a backend that can, like Vulkan, which
//          also queues each token's submission before the previous one is done).
// Each test runs once to warm up, then `repetitions` times; every run is one sample. Backends with
// a device timer (Backend::device_counters) add GPU time and busy fractions; --profile times one
// decode token dispatch by dispatch (Backend::forward_profiled), and with a pp test also the first
// batched submission of its prompt (Backend::prefill_profiled).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "plan/backend.h"
#include "plan/plan.h"
#include "runtime/session.h"

namespace quant {

struct BenchmarkOptions {
  uint32_t prompt_tokens = 512;     // pp test; 0 skips it
  uint32_t generated_tokens = 128;  // tg test; 0 skips it
  uint32_t repetitions = 5;         // measured runs of each test (>= 1), after one warm-up run
  uint64_t seed = 1234;             // of the random token ids
  // Also profile one decode token (see profile_position()) and, with a pp test, the first batched
  // submission of its prompt.
  bool profile = false;
};

// Mean and sample standard deviation (0 for a single sample).
struct SampleSpread {
  double mean = 0.0;
  double sd = 0.0;
};
SampleSpread spread_of(const std::vector<double>& samples);

enum class BenchmarkKind { PromptProcessing, TextGeneration };

// Device-timer figures of one test (backends with device_counters() only), per measured run.
struct DeviceTestFigures {
  SampleSpread gpu_ms_per_token;
  SampleSpread busy_percent;  // GPU time / wall time x 100
  // Counts of the measured runs together, per token.
  double submits_per_token = 0.0;
  double dispatches_per_token = 0.0;
  double barriers_per_token = 0.0;
};

struct BenchmarkTest {
  BenchmarkKind kind = BenchmarkKind::PromptProcessing;
  std::string name;  // "pp512", "tg128"
  uint32_t n_tokens = 0;
  std::vector<double> seconds;  // wall time of each measured run
  SampleSpread tokens_per_second;
  SampleSpread ms_per_token;
  // tg only: decode_weight_bytes x the mean tokens/s, in 1e9 bytes/s.
  std::optional<double> weight_gigabytes_per_second;
  std::optional<DeviceTestFigures> device;
};

// What a model file holds, as llama-bench's table shows it.
struct ModelSummary {
  std::string file_name;      // without the folder
  std::string architecture;   // general.architecture
  uint64_t tensor_bytes = 0;  // all tensors' data
  uint64_t parameters = 0;    // all tensors' elements
};
ModelSummary summarize_model(const model::Model& model);

struct BenchmarkReport {
  ModelSummary model;
  std::string backend;                  // Backend::name()
  std::optional<uint32_t> threads;      // the CPU backend's threads
  uint64_t weight_bytes_per_token = 0;  // decode_weight_bytes of the model's plan
  std::vector<BenchmarkTest> tests;     // pp first, then tg; skipped tests are absent
  uint32_t profile_position = 0;        // where `profile` was taken
  std::optional<TokenProfile> profile;  // asked for and available
  bool profile_unavailable = false;     // asked for, but the backend cannot time dispatches
  // The pp prompt's first batched submission from an empty cache: asked for (with a pp test) and
  // available; unavailable where the backend cannot time dispatches or prefills the prompt token
  // by token (plans without batch kernels, one-token prompts).
  std::optional<PrefillProfile> prefill_profile;
  bool prefill_profile_unavailable = false;
};

// A profile's dispatches of one kernel together.
struct KernelTotal {
  std::string kernel;
  uint32_t count = 0;
  double gpu_seconds = 0.0;
  uint64_t bytes = 0;
};
// Per kernel of `profile`, the most GPU time first: where a token's (or a batch's) time goes.
std::vector<KernelTotal> kernel_totals(const TokenProfile& profile);

// Weight bytes one decode token reads: every op's weights in full, except Embed, which reads one
// row of its table. A weight used by several ops (tied embeddings: Embed and the output MatVec)
// counts once per use.
uint64_t decode_weight_bytes(const plan::Plan& plan);

// The positions a session needs for `options`: each test starts from an empty cache, so the longest
// test (and the profiled token) must fit. At least 1.
uint32_t benchmark_context_length(const BenchmarkOptions& options);

// The position of the profiled token: the middle of the tg test, so its time compares with the tg
// figures (which average over positions 0..n-1); 0 without a tg test.
uint32_t profile_position(const BenchmarkOptions& options);

// Runs the tests on `session` (reset before and after each run). Throws quant::Error when the
// options do not fit (no repetitions, a context shorter than benchmark_context_length()).
BenchmarkReport run_benchmark(Session& session, const std::string& model_path,
                              const BenchmarkOptions& options);

}  // namespace quant
