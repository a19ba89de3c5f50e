#include "server/http_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "common/error.h"
#include "server/api_error.h"

namespace quant::server {

namespace {

using Clock = std::chrono::steady_clock;

// HTTP threads beyond slots + queue: /health, /v1/models and refusals stay answerable when every
// slot and queue place is taken.
constexpr size_t kSpareThreads = 8;
constexpr time_t kTimeoutSeconds = 5;  // read, write and keep-alive
constexpr size_t kRequestsPerConnection = 1000;

ApiError queue_full_error() {
  return ApiError(429, "rate_limit_error",
                  "the server is busy: every slot is generating and the queue is full; retry later",
                  "", "queue_full");
}

ApiError shutting_down_error() {
  return ApiError(503, "server_error", "the server is shutting down", "", "shutting_down");
}

void send_error(httplib::Response& response, const ApiError& error) {
  response.status = error.status();
  if (error.status() == 429) response.set_header("Retry-After", "1");
  response.set_content(to_text(error_json(error)), "application/json");
}

uint64_t random_seed() {
  std::random_device device;
  return (uint64_t{device()} << 32) | device();
}

int64_t unix_seconds() {
  return static_cast<int64_t>(std::time(nullptr));
}

std::string random_hex(size_t digits) {
  std::random_device device;
  std::string text;
  while (text.size() < digits) text += fmt::format("{:08x}", device());
  text.resize(digits);
  return text;
}

// The answer to what the router or the HTTP library refused before any handler ran.
ApiError library_error(const httplib::Request& request, int status, size_t max_body_bytes) {
  switch (status) {
    case 404:
      return ApiError(404, "invalid_request_error",
                      fmt::format("no such endpoint: {} {}", request.method, request.path), "",
                      "not_found");
    case 413:
      return ApiError(413, "invalid_request_error",
                      fmt::format("the request body is larger than {} bytes", max_body_bytes), "",
                      "payload_too_large");
    default:
      return ApiError(status, status >= 500 ? "server_error" : "invalid_request_error",
                      fmt::format("the request was refused with HTTP status {}", status));
  }
}

// One line on stderr. Never throws: a failing log must not fail a request.
void log_line(const std::string& line) {
  std::fputs(line.c_str(), stderr);
}

// Client-controlled text (method, path) for the log: bytes outside printable ASCII become '?', so a
// request cannot forge log lines or send terminal escapes.
std::string printable(std::string_view text, size_t max_length = 200) {
  std::string result(text.substr(0, max_length));
  for (char& c : result) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return result;
}

void log_completion(const ResponseIdentity& identity, const GenerationResult& result,
                    Clock::time_point start) {
  const GenerationStats& stats = result.stats;
  log_line(
      fmt::format("{}: prompt {} tokens ({} reused), generated {} ({:.1f} t/s), {}, {:.2f} s\n",
                  identity.id, stats.prompt_tokens, stats.reused_tokens, stats.generated_tokens,
                  stats.decode_tokens_per_second(), finish_reason_name(result.finish_reason),
                  std::chrono::duration<double>(Clock::now() - start).count()));
}

}  // namespace

// What a streamed answer carries from the handler to the content provider, which the HTTP library
// runs after the handler returns (and after it sent the 200 and the headers).
struct HttpServer::StreamJob {
  PreparedRequest prepared;
  SlotQueue::Ticket ticket;
  ResponseIdentity identity;
  bool include_usage = false;
  Clock::time_point start;
};

HttpServer::HttpServer(ServedModel& model, const ServerOptions& options)
    : model_(model),
      options_(options),
      queue_(model.slot_count(), options.max_waiting),
      http_(std::make_unique<httplib::Server>()),
      id_prefix_(random_hex(8)),
      started_at_(unix_seconds()) {
  const size_t threads = model.slot_count() + options.max_waiting + kSpareThreads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options.max_body_bytes);
  http_->set_read_timeout(kTimeoutSeconds);
  http_->set_write_timeout(kTimeoutSeconds);
  http_->set_keep_alive_timeout(kTimeoutSeconds);
  http_->set_keep_alive_max_count(kRequestsPerConnection);
  add_routes();
}

HttpServer::~HttpServer() = default;

void HttpServer::add_routes() {
  httplib::Server& http = *http_;
  http.Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    handle_health(response);
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(to_text(models_json(model_.id(), started_at_)), "application/json");
  });
  http.Post("/v1/chat/completions",
            [this](const httplib::Request& request, httplib::Response& response) {
              handle_completion(request, response, Endpoint::ChatCompletions);
            });
  http.Post("/v1/completions",
            [this](const httplib::Request& request, httplib::Response& response) {
              handle_completion(request, response, Endpoint::Completions);
            });
  for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
    http.Get(path, [](const httplib::Request& request, httplib::Response& response) {
      send_error(response, ApiError(405, "invalid_request_error",
                                    fmt::format("{} takes POST, not GET", request.path), "",
                                    "method_not_allowed"));
    });
  }
  // Statuses the library sets itself (no route, body too large, unparsable request) get an error
  // object too; responses that already have one are left alone.
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        send_error(response, library_error(request, response.status, options_.max_body_bytes));
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
        send_error(response, ApiError(500, "server_error", "internal error"));
      });
  http.set_logger([](const httplib::Request& request, const httplib::Response& response) {
    log_line(fmt::format("{} {} {}\n", printable(request.method), printable(request.path),
                         response.status));
  });
}

void HttpServer::handle_health(httplib::Response& response) const {
  const SlotQueue::Counts counts = queue_.counts();
  if (stopping_) response.status = 503;
  response.set_content(to_text(Json{{"status", stopping_ ? "shutting down" : "ok"},
                                    {"slots", counts.slots},
                                    {"slots_busy", counts.busy},
                                    {"requests_waiting", counts.waiting}}),
                       "application/json");
}

void HttpServer::handle_completion(const httplib::Request& request, httplib::Response& response,
                                   Endpoint endpoint) {
  const Clock::time_point start = Clock::now();
  try {
    const CompletionRequest parsed = parse_completion_request(request.body, endpoint);
    PreparedRequest prepared;
    try {
      prepared = model_.prepare(parsed, parsed.seed ? *parsed.seed : random_seed());
    } catch (const ApiError&) {
      throw;
    } catch (const Error& e) {
      // The chat template or the tokenizer refused what the client sent.
      fail_request(endpoint == Endpoint::ChatCompletions ? "messages" : "prompt", "{}", e.what());
    }
    std::optional<SlotQueue::Ticket> ticket = queue_.enter();
    if (!ticket) throw stopping_ ? shutting_down_error() : queue_full_error();
    const bool chat = endpoint == Endpoint::ChatCompletions;
    ResponseIdentity identity{
        .endpoint = endpoint,
        .id = fmt::format("{}-{}{}", chat ? "chatcmpl" : "cmpl", id_prefix_, next_id_++),
        .created = unix_seconds(),
        .model = model_.id()};
    if (parsed.stream) {
      respond_streamed(response,
                       std::make_shared<StreamJob>(StreamJob{.prepared = std::move(prepared),
                                                             .ticket = std::move(*ticket),
                                                             .identity = std::move(identity),
                                                             .include_usage = parsed.include_usage,
                                                             .start = start}));
    } else {
      respond_whole(response, prepared, std::move(*ticket), identity);
    }
  } catch (const ApiError& e) {
    send_error(response, e);
  } catch (const std::bad_alloc&) {
    send_error(response, ApiError(503, "server_error", "out of memory"));
  }
}

void HttpServer::respond_whole(httplib::Response& response, const PreparedRequest& prepared,
                               SlotQueue::Ticket ticket, const ResponseIdentity& identity) {
  const Clock::time_point start = Clock::now();
  std::optional<SlotQueue::Lease> lease = ticket.wait([this] { return cancelled(); });
  if (!lease) throw shutting_down_error();
  GenerationResult result;
  try {
    result = model_.generate(lease->slot(), prepared, {}, [this] { return cancelled(); });
  } catch (const Error& e) {
    throw ApiError(500, "server_error", fmt::format("generation failed: {}", e.what()));
  }
  if (result.finish_reason == FinishReason::Cancelled) throw shutting_down_error();
  log_completion(identity, result, start);
  response.set_content(to_text(completion_json(identity, result)), "application/json");
}

void HttpServer::respond_streamed(httplib::Response& response, std::shared_ptr<StreamJob> job) {
  response.set_header("Cache-Control", "no-cache");
  response.set_chunked_content_provider("text/event-stream",
                                        [this, job](size_t, httplib::DataSink& sink) {
                                          // Nothing may escape into the library's worker thread.
                                          try {
                                            return stream_answer(*job, sink);
                                          } catch (...) {
                                            return false;
                                          }
                                        });
}

bool HttpServer::stream_answer(StreamJob& job, httplib::DataSink& sink) {
  const ResponseIdentity& identity = job.identity;
  bool write_failed = false;
  const auto send = [&](std::string_view event) {
    if (!write_failed && !sink.write(event.data(), event.size())) write_failed = true;
  };
  // A disconnected client shows as a failed write.
  const auto client_gone = [&] { return write_failed || !sink.is_writable(); };
  const auto end_with_error = [&](const ApiError& error) {
    send(sse_event(error_json(error)));
    send(kSseDone);
    sink.done();
    return !write_failed;
  };

  std::optional<SlotQueue::Lease> lease =
      job.ticket.wait([&] { return cancelled() || client_gone(); });
  if (!lease) return client_gone() ? false : end_with_error(shutting_down_error());
  if (identity.endpoint == Endpoint::ChatCompletions)
    send(sse_event(chunk_json(identity, "", true, std::nullopt)));
  GenerationResult result;
  try {
    result = model_.generate(
        lease->slot(), job.prepared,
        [&](std::string_view text) {
          send(sse_event(chunk_json(identity, text, false, std::nullopt)));
        },
        [&] { return cancelled() || client_gone(); });
  } catch (const Error& e) {
    return end_with_error(
        ApiError(500, "server_error", fmt::format("generation failed: {}", e.what())));
  }
  lease.reset();  // the slot is free before the last writes
  log_completion(identity, result, job.start);
  if (result.finish_reason == FinishReason::Cancelled)
    return client_gone() ? false : end_with_error(shutting_down_error());
  send(sse_event(chunk_json(identity, "", false, result.finish_reason)));
  if (job.include_usage) send(sse_event(usage_chunk_json(identity, result.stats)));
  send(kSseDone);
  sink.done();
  return !write_failed;
}

uint16_t HttpServer::bind() {
  if (options_.port == 0) {
    const int port = http_->bind_to_any_port(options_.host);
    if (port <= 0) fail("cannot listen on {} (any port)", options_.host);
    return static_cast<uint16_t>(port);
  }
  if (!http_->bind_to_port(options_.host, options_.port))
    fail("cannot listen on {}:{} (in use, or not an address of this machine)", options_.host,
         options_.port);
  return options_.port;
}

void HttpServer::run() {
  listening_ = true;
  if (!stopping_) http_->listen_after_bind();
  finished_ = true;
}

void HttpServer::stop() {
  stopping_ = true;
  queue_.close();
  // listen_after_bind() may not have begun yet: the library's stop() does nothing until it runs.
  while (listening_ && !finished_ && !http_->is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  http_->stop();
}

}  // namespace quant::server
