#pragma once
// The OpenAI-compatible HTTP server over one ServedModel:
//
//   POST /v1/chat/completions   chat messages -> the model's chat template -> an answer
//   POST /v1/completions        a prompt string -> its continuation
//   GET  /v1/models             the one model served
//   GET  /health                {"status": "ok", slot and queue counts}; 503 while shutting down
//
// Requests are parsed and checked (completion_request.h) before they wait for anything, so bad
// input is answered at once with 400 and an OpenAI error object. A valid request takes a place in
// the slot queue (429 when max_waiting requests already wait), waits for a slot in FIFO order and
// generates on it. `"stream": true` answers with server-sent events, one chunk per piece of text,
// ending with `data: [DONE]`; a streaming client that disconnects ends its generation at the next
// write (within a token or two) and frees its slot. A non-streamed request whose client goes away
// runs to its end, bounded by max_tokens and the context: this HTTP library does not tell a handler
// that its connection closed.
//
// Limits: bodies over max_body_bytes get 413; a client must send its request within 5 s and accept
// each write within 5 s; an idle keep-alive connection is closed after 5 s. The HTTP library has
// one thread per open connection, slots + max_waiting + 8 of them: connections beyond that wait in
// the library's own (unbounded) accept queue.
//
// stop() (from a signal thread) makes the server refuse new connections, cancels waiting and
// running generations (a streamed answer ends with an error event, a non-streamed one gets 503) and
// lets run() return once the in-flight requests have been answered.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/completion_request.h"
#include "server/openai_format.h"
#include "server/served_model.h"
#include "server/slot_queue.h"

namespace httplib {
class DataSink;
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace quant::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (bind() says which)
  size_t max_waiting = 64;
  size_t max_body_bytes = size_t{4} << 20;
};

class HttpServer {
 public:
  // `model` must outlive the server; its slot count is the number of parallel generations.
  HttpServer(ServedModel& model, const ServerOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket and returns its port. Throws quant::Error when that fails.
  uint16_t bind();
  // Serves until stop(); returns once in-flight requests are answered. Call after bind().
  void run();
  // Thread-safe and idempotent; may come before run() starts.
  void stop();

 private:
  struct StreamJob;

  void add_routes();
  void handle_health(httplib::Response& response) const;
  void handle_completion(const httplib::Request& request, httplib::Response& response,
                         Endpoint endpoint);
  void respond_whole(httplib::Response& response, const PreparedRequest& prepared,
                     SlotQueue::Ticket ticket, const ResponseIdentity& identity);
  void respond_streamed(httplib::Response& response, std::shared_ptr<StreamJob> job);
  // Waits for a slot and streams the answer; returns false when the connection should be dropped.
  bool stream_answer(StreamJob& job, httplib::DataSink& sink);
  bool cancelled() const { return stopping_.load(); }

  ServedModel& model_;
  ServerOptions options_;
  SlotQueue queue_;
  std::unique_ptr<httplib::Server> http_;
  std::string id_prefix_;  // random per server start, so response ids differ across restarts
  int64_t started_at_;     // Unix seconds, the model's "created"
  std::atomic<uint64_t> next_id_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listening_{false};  // run() is about to listen, or listens
  std::atomic<bool> finished_{false};   // run() returned
};

}  // namespace quant::server
