#include "server/served_model.h"

#include <algorithm>
#include <cassert>
#include <filesystem>
#include <optional>

#include "server/api_error.h"

namespace quant::server {

namespace {

ChatTemplate detect_chat_template(const model::Model& model, const Tokenizer& tokenizer) {
  ChatTemplateOptions options;
  if (const std::optional<int32_t> eos = tokenizer.eos_id())
    options.eos_text = tokenizer.piece(*eos);
  return ChatTemplate::detect(model.file().get_string_or("tokenizer.chat_template", ""), options);
}

}  // namespace

ServedModel::ServedModel(const std::string& path, const SessionOptions& session_options,
                         size_t slots)
    : model_(model::Model::load(path)),
      tokenizer_(Tokenizer::from_gguf(model_.file())),
      chat_template_(detect_chat_template(model_, tokenizer_)),
      id_(std::filesystem::path(path).filename().string()),
      warnings_(tokenizer_.warnings()) {
  assert(slots >= 1);
  if (!chat_template_.warning().empty()) warnings_.push_back(chat_template_.warning());
  for (size_t slot = 0; slot < slots; ++slot) {
    sessions_.push_back(std::make_unique<Session>(model_, session_options));
    generators_.push_back(std::make_unique<Generator>(*sessions_.back(), tokenizer_));
  }
}

PreparedRequest ServedModel::prepare(const CompletionRequest& request, uint64_t seed) const {
  PreparedRequest prepared;
  prepared.options = request.generation;
  prepared.options.sampling.seed = seed;
  const bool chat = request.endpoint == Endpoint::ChatCompletions;
  const std::string text = chat ? chat_template_.render(request.messages, true) : request.prompt;
  // Special-token text (<|im_start|>) becomes those tokens, as in `quant run`: the chat template
  // needs it, and a raw prompt may use it.
  prepared.prompt = tokenizer_.encode(text, tokenizer_.add_bos(), true);
  const char* param = chat ? "messages" : "prompt";
  if (prepared.prompt.empty())
    fail_request(param, "the prompt is empty, and this model adds no BOS token to start from");
  if (prepared.prompt.size() > context_length())
    throw ApiError(400, "invalid_request_error",
                   fmt::format("the prompt has {} tokens, more than the context of {}",
                               prepared.prompt.size(), context_length()),
                   param, "context_length_exceeded");
  if (chat) {
    const std::string& end_of_turn = chat_template_.end_of_turn();
    std::vector<std::string>& stops = prepared.options.stop_strings;
    if (!end_of_turn.empty() && std::find(stops.begin(), stops.end(), end_of_turn) == stops.end())
      stops.push_back(end_of_turn);
  }
  return prepared;
}

GenerationResult ServedModel::generate(size_t slot, const PreparedRequest& request,
                                       const TextCallback& on_text,
                                       const CancelCallback& cancelled) {
  Generator& generator = *generators_.at(slot);
  try {
    return generator.generate(request.prompt, request.options, on_text, cancelled);
  } catch (...) {
    // The session may have evaluated part of what the generator has not recorded.
    generator.reset();
    throw;
  }
}

}  // namespace quant::server
