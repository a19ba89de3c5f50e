#include "backend/vulkan/vulkan_backend.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "common/error.h"

namespace quant::vulkan {

namespace {

// Uploads go through a staging buffer of this size (weights larger than it go in pieces).
constexpr uint64_t kStagingBytes = 16ull << 20;

// The timings of the last submission of `profiled`, recorded with Timestamps::EveryCommand.
TokenProfile submission_profile(const CommandSequence& profiled) {
  TokenProfile profile;
  profile.totals = {profiled.last_seconds(), 1, profiled.dispatch_count(),
                    profiled.barrier_count()};
  const std::vector<double> seconds = profiled.last_command_seconds();
  const std::vector<CommandInfo>& infos = profiled.command_infos();
  for (size_t i = 0; i < infos.size() && i < seconds.size(); ++i)
    profile.dispatches.push_back(
        {infos[i].kernel, infos[i].label, infos[i].layer, seconds[i], infos[i].bytes});
  return profile;
}

}  // namespace

VulkanBackend::VulkanBackend(const plan::Plan& plan, const VulkanBackendOptions& options) {
  context_ = std::make_unique<Context>(
      ContextOptions{.device_index = options.device_index, .validation = options.validation});
  pipelines_ = std::make_unique<Pipelines>(*context_, options.pipelines);
  transfer_ = std::make_unique<Transfer>(*context_, kStagingBytes);
  compiled_ = std::make_unique<CompiledPlan>(*pipelines_, *transfer_, plan, options.context_length);
  const uint32_t single = attention_single_dispatch_positions(*pipelines_);
  if (options.context_length > single) short_positions_ = single;
  token_recording(token_, short_token_, short_positions_, true, Timestamps::Bracket);
  const uint32_t batch_tokens = std::min(options.prefill_batch_tokens, options.context_length);
  if (batch_tokens > 1 && batch_unsupported_reason(*compiled_, *pipelines_).empty())
    batch_ = std::make_unique<CompiledBatch>(*pipelines_, *compiled_, batch_tokens);
}

// The members' destructors run in reverse order: sequences, buffers and pipelines before the
// context.
void VulkanBackend::check_position(int32_t token, uint32_t pos) const {
  if (token < 0 || static_cast<uint32_t>(token) >= compiled_->plan().n_vocab)
    fail("Vulkan backend: token {} is outside the vocabulary (0..{})", token,
         compiled_->plan().n_vocab - 1);
  if (pos >= compiled_->context_length())
    fail("Vulkan backend: position {} is past the context length {}", pos,
         compiled_->context_length());
}

CommandSequence& VulkanBackend::token_recording(std::unique_ptr<CommandSequence>& whole,
                                                std::unique_ptr<CommandSequence>& short_one,
                                                uint32_t pos, bool logits, Timestamps timestamps) {
  const bool short_positions = pos < short_positions_;
  std::unique_ptr<CommandSequence>& recording = short_positions ? short_one : whole;
  if (!recording) {
    // A profile holds a timestamp per command: as many as the decode recording has commands.
    const auto commands = static_cast<uint32_t>(token_ ? token_->command_infos().size() : 0);
    recording = std::make_unique<CommandSequence>(*pipelines_, timestamps, commands);
    recording->begin();
    compiled_->record(*recording, nullptr, logits, short_positions ? short_positions_ : 0);
    recording->end();
  }
  return *recording;
}

std::span<const float> VulkanBackend::forward(int32_t token, uint32_t pos) {
  check_position(token, pos);
  compiled_->set_step(token, pos);
  submit(token_recording(token_, short_token_, pos, true, Timestamps::Bracket));
  return compiled_->logits();
}

std::span<const float> VulkanBackend::prefill(std::span<const int32_t> tokens, uint32_t pos) {
  if (tokens.empty()) fail("Vulkan backend: prefill needs at least one token");
  for (size_t i = 0; i < tokens.size(); ++i)
    check_position(tokens[i], pos + static_cast<uint32_t>(i));
  if (!batch_ || tokens.size() == 1) return prefill_token_by_token(tokens, pos);
  for (size_t first = 0; first < tokens.size(); first += batch_->capacity()) {
    const size_t n_tokens = std::min<size_t>(batch_->capacity(), tokens.size() - first);
    CommandSequence& recording =
        batch_recording(static_cast<uint32_t>(n_tokens), first + n_tokens == tokens.size());
    batch_->set_inputs(tokens.subspan(first, n_tokens), pos + static_cast<uint32_t>(first));
    submit(recording);
  }
  return compiled_->logits();
}

CommandSequence& VulkanBackend::batch_recording(uint32_t n_tokens, bool logits) {
  const auto key = std::make_pair(n_tokens, logits);
  if (auto found = batch_recordings_.find(key); found != batch_recordings_.end())
    return *found->second;
  std::erase_if(batch_recordings_,
                [&](const auto& entry) { return entry.first.first != batch_->capacity(); });
  auto recording = std::make_unique<CommandSequence>(*pipelines_, Timestamps::Bracket);
  recording->begin();
  batch_->record(*recording, n_tokens, logits);
  recording->end();
  return *batch_recordings_.emplace(key, std::move(recording)).first->second;
}

std::span<const float> VulkanBackend::prefill_token_by_token(std::span<const int32_t> tokens,
                                                             uint32_t pos) {
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const uint32_t at = pos + static_cast<uint32_t>(i);
    compiled_->set_step(tokens[i], at);
    submit(token_recording(prompt_token_, short_prompt_token_, at, false, Timestamps::Bracket));
  }
  return forward(tokens.back(), pos + static_cast<uint32_t>(tokens.size() - 1));
}

void VulkanBackend::decode_greedy(int32_t token, uint32_t pos, uint32_t count,
                                  const GreedyCallback& on_token) {
  if (count == 0) return;
  check_position(token, pos);
  if (count > compiled_->context_length() - pos)
    fail("Vulkan backend: {} greedy tokens from position {} pass the context length {}", count, pos,
         compiled_->context_length());
  // Plans with recurrent states feed no token past a stop: one token per submission, one
  // submission in flight.
  const bool stateless = compiled_->plan().states.empty();
  if (!greedy_)
    greedy_ = std::make_unique<GreedyChain>(*pipelines_, *transfer_, *compiled_, short_positions_,
                                            stateless ? GreedyChain::kTokensPerSubmission : 1);
  const uint32_t depth = stateless ? GreedyChain::kSubmissions : 1;
  const uint32_t per_submission = greedy_->tokens_per_submission();
  struct Submission {
    CommandSequence* sequence;
    uint32_t tokens;
  };
  std::deque<Submission> in_flight;  // oldest first: its first token is token handed_out
  uint32_t submitted = 0;
  uint32_t handed_out = 0;
  const auto drain = [&] {
    for (; !in_flight.empty(); in_flight.pop_front()) finish(*in_flight.front().sequence);
  };
  greedy_->set_first_token(token);
  try {
    bool more = true;
    while (more && handed_out < count) {
      while (submitted < count && in_flight.size() < depth) {
        const uint32_t tokens = std::min(per_submission, count - submitted);
        CommandSequence& sequence = greedy_->prepare(submitted, pos + submitted, tokens);
        sequence.submit();
        in_flight.push_back({&sequence, tokens});
        submitted += tokens;
      }
      const Submission oldest = in_flight.front();
      finish(*oldest.sequence);
      in_flight.pop_front();
      for (uint32_t i = 0; i < oldest.tokens && more; ++i) {
        const ArgmaxResult choice = greedy_->result(handed_out++);
        if (!std::isfinite(choice.value))
          fail("greedy choice: the largest logit is {}", choice.value);
        more = on_token(static_cast<int32_t>(choice.index));
      }
    }
  } catch (...) {
    drain();
    throw;
  }
  drain();
}

void VulkanBackend::submit(CommandSequence& sequence) {
  sequence.submit();
  finish(sequence);
}

void VulkanBackend::finish(CommandSequence& sequence) {
  sequence.wait();
  counters_.gpu_seconds += sequence.last_seconds();
  counters_.submits += 1;
  counters_.dispatches += sequence.dispatch_count();
  counters_.barriers += sequence.barrier_count();
}

std::optional<DeviceCounters> VulkanBackend::device_counters() const {
  if (!token_->timestamps()) return std::nullopt;
  return counters_;
}

std::optional<TokenProfile> VulkanBackend::forward_profiled(int32_t token, uint32_t pos) {
  if (!token_->timestamps()) return std::nullopt;
  check_position(token, pos);
  CommandSequence& profiled =
      token_recording(profiled_token_, short_profiled_token_, pos, true, Timestamps::EveryCommand);
  compiled_->set_step(token, pos);
  submit(profiled);
  return submission_profile(profiled);
}

std::optional<PrefillProfile> VulkanBackend::prefill_profiled(std::span<const int32_t> tokens,
                                                              uint32_t pos) {
  if (!token_->timestamps() || !batch_ || tokens.size() < 2) return std::nullopt;
  const auto n_tokens = static_cast<uint32_t>(std::min<size_t>(batch_->capacity(), tokens.size()));
  for (uint32_t i = 0; i < n_tokens; ++i) check_position(tokens[i], pos + i);
  const bool logits = n_tokens == tokens.size();
  // A timestamp per command: as many as prefill()'s recording of this batch has commands. The
  // profiled recording is made for this one submission, not kept: a benchmark profiles once.
  const auto commands =
      static_cast<uint32_t>(batch_recording(n_tokens, logits).command_infos().size());
  CommandSequence profiled(*pipelines_, Timestamps::EveryCommand, commands);
  profiled.begin();
  batch_->record(profiled, n_tokens, logits);
  profiled.end();
  batch_->set_inputs(tokens.first(n_tokens), pos);
  submit(profiled);
  return PrefillProfile{.n_tokens = n_tokens, .submission = submission_profile(profiled)};
}

void VulkanBackend::reset() {
  compiled_->reset_states(*transfer_);
}

std::span<const float> VulkanBackend::forward_observed(int32_t token, uint32_t pos,
                                                       const PlanObserver& observer) {
  check_position(token, pos);
  if (!observed_token_) {
    observation_ = std::make_unique<Buffer>(*context_, compiled_->observation_bytes(),
                                            MemoryRole::Staging, "observed op outputs");
    observed_token_ = std::make_unique<CommandSequence>(*pipelines_);
    observed_token_->begin();
    compiled_->record(*observed_token_, observation_.get());
    observed_token_->end();
  }
  compiled_->set_step(token, pos);
  submit(*observed_token_);
  const plan::Plan& plan = compiled_->plan();
  const uint8_t* base = observation_->mapped().data();
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    std::optional<uint64_t> offset = compiled_->observation_offset(i);
    if (!offset) continue;
    const plan::BufferId output = *plan::output_of(plan.ops[i]);
    observer(plan.ops[i],
             {reinterpret_cast<const float*>(base + *offset), plan.buffer(output).n_floats});
  }
  return compiled_->logits();
}

}  // namespace quant::vulkan
