#pragma once
// Admission to a fixed number of generation slots. A request first enters the queue (refused at
// once when `max_waiting` requests already wait: the server answers 429), then waits for a slot in
// FIFO order. Leaving the queue, giving up (cancellation) and returning a slot are done by the
// destructors of Ticket and Lease, so a request that fails at any point frees what it held.
//
// Thread-safe. The queue must outlive its tickets and leases.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace quant::server {

class SlotQueue {
 public:
  // A held slot; returned to the queue on destruction.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    size_t slot() const { return slot_; }

   private:
    friend class SlotQueue;
    Lease(SlotQueue& queue, size_t slot) : queue_(&queue), slot_(slot) {}
    SlotQueue* queue_;
    size_t slot_;
  };

  // A place in line; leaves the line on destruction unless it became a Lease.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

    // Blocks until this ticket is first in line and a slot is free. Returns nothing when the queue
    // was closed or `cancelled` (polled about every poll interval, on this thread) returned true;
    // the ticket has then left the line. Call at most once.
    std::optional<Lease> wait(const std::function<bool()>& cancelled = {});

   private:
    friend class SlotQueue;
    Ticket(SlotQueue& queue, uint64_t id) : queue_(&queue), id_(id) {}
    SlotQueue* queue_;
    uint64_t id_;
  };

  // `slots` >= 1; `max_waiting`: how many requests may wait for a slot at once.
  SlotQueue(size_t slots, size_t max_waiting,
            std::chrono::milliseconds poll_interval = std::chrono::milliseconds(50));
  SlotQueue(const SlotQueue&) = delete;
  SlotQueue& operator=(const SlotQueue&) = delete;

  // A place in line, or nothing when it would make more than max_waiting requests wait, or when the
  // queue is closed.
  std::optional<Ticket> enter();

  // Refuses new tickets and wakes every waiting one (their wait() returns nothing). Leases already
  // given stay valid.
  void close();

  struct Counts {
    size_t slots = 0;    // total
    size_t busy = 0;     // leased
    size_t waiting = 0;  // tickets in line that have no slot yet
  };
  Counts counts() const;

 private:
  void leave(uint64_t id);
  void leave_locked(uint64_t id);
  void give_back(size_t slot);
  size_t waiting_locked() const;

  const size_t slot_count_;
  const size_t max_waiting_;
  const std::chrono::milliseconds poll_interval_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t version_ = 0;  // bumped on every change that may let a ticket proceed
  uint64_t next_id_ = 0;
  std::deque<uint64_t> line_;       // ticket ids, first come first
  std::vector<size_t> free_slots_;  // most recently returned last
  bool closed_ = false;
};

}  // namespace quant::server
