#pragma once
// The one model a server serves: loaded once and shared read-only by `slots` sessions, each with
// its own KV cache and generator, so that up to `slots` requests generate at the same time. A slot
// is used by one request at a time (SlotQueue hands them out); a slot's generator keeps what its
// session evaluated, so a request that starts like the slot's previous one (the same system prompt,
// the next turn of a chat) only evaluates what is new.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "runtime/session.h"
#include "server/completion_request.h"
#include "tokenizer/tokenizer.h"

namespace quant::server {

// A request turned into tokens and generator options, checked against the context.
struct PreparedRequest {
  std::vector<int32_t> prompt;
  GenerationOptions options;
};

class ServedModel {
 public:
  // Loads `path` and creates `slots` (>= 1) sessions with `session_options`. Throws quant::Error
  // for an unreadable model or an unavailable backend.
  ServedModel(const std::string& path, const SessionOptions& session_options, size_t slots);
  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

  // The name clients see in /v1/models and responses: the file name without its folder.
  const std::string& id() const { return id_; }
  size_t slot_count() const { return sessions_.size(); }
  uint32_t context_length() const { return sessions_.front()->context_length(); }
  // What was odd but usable in the model (tokenizer metadata, an unrecognised chat template).
  const std::vector<std::string>& warnings() const { return warnings_; }
  // A slot's session, to describe it before serving starts.
  Session& session(size_t slot) { return *sessions_.at(slot); }

  // Renders the chat template (chat requests), tokenizes, adds the template's end of turn to the
  // stop strings and sets `seed`. Throws ApiError 400 for an empty prompt or one longer than the
  // context (code "context_length_exceeded"). Thread-safe.
  PreparedRequest prepare(const CompletionRequest& request, uint64_t seed) const;

  // Generates on `slot`, which the caller holds (a SlotQueue lease). See Generator::generate. After
  // an exception the slot starts its next request from an empty sequence.
  GenerationResult generate(size_t slot, const PreparedRequest& request,
                            const TextCallback& on_text, const CancelCallback& cancelled);

 private:
  model::Model model_;
  Tokenizer tokenizer_;
  ChatTemplate chat_template_;
  std::string id_;
  std::vector<std::string> warnings_;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Generator>> generators_;  // generators_[i] drives sessions_[i]
};

}  // namespace quant::server
