#include "server/slot_queue.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace quant::server {

SlotQueue::Lease::Lease(Lease&& other) noexcept
    : queue_(std::exchange(other.queue_, nullptr)), slot_(other.slot_) {}

SlotQueue::Lease::~Lease() {
  if (queue_ != nullptr) queue_->give_back(slot_);
}

SlotQueue::Ticket::Ticket(Ticket&& other) noexcept
    : queue_(std::exchange(other.queue_, nullptr)), id_(other.id_) {}

SlotQueue::Ticket::~Ticket() {
  if (queue_ != nullptr) queue_->leave(id_);
}

std::optional<SlotQueue::Lease> SlotQueue::Ticket::wait(const std::function<bool()>& cancelled) {
  assert(queue_ != nullptr);  // wait() once
  SlotQueue& queue = *queue_;
  std::unique_lock lock(queue.mutex_);
  for (;;) {
    if (queue.closed_) break;
    if (queue.line_.front() == id_ && !queue.free_slots_.empty()) {
      const size_t slot = queue.free_slots_.back();
      queue.free_slots_.pop_back();
      queue.line_.pop_front();
      queue_ = nullptr;  // no longer in line
      // The next in line may take another free slot.
      ++queue.version_;
      queue.changed_.notify_all();
      return Lease(queue, slot);
    }
    const uint64_t seen = queue.version_;
    if (cancelled) {
      // Not under the lock: the callback may take its time (or write to a socket).
      lock.unlock();
      const bool stop = cancelled();
      lock.lock();
      if (stop) break;
    }
    queue.changed_.wait_for(lock, queue.poll_interval_, [&] { return queue.version_ != seen; });
  }
  queue_ = nullptr;
  queue.leave_locked(id_);
  return std::nullopt;
}

SlotQueue::SlotQueue(size_t slots, size_t max_waiting, std::chrono::milliseconds poll_interval)
    : slot_count_(slots), max_waiting_(max_waiting), poll_interval_(poll_interval) {
  assert(slots >= 1);
  // Slot 0 is handed out first.
  for (size_t slot = slots; slot-- > 0;) free_slots_.push_back(slot);
}

std::optional<SlotQueue::Ticket> SlotQueue::enter() {
  std::lock_guard lock(mutex_);
  if (closed_) return std::nullopt;
  // Tickets ahead that will take the free slots do not count as waiting.
  if (line_.size() + 1 > free_slots_.size() + max_waiting_) return std::nullopt;
  const uint64_t id = next_id_++;
  line_.push_back(id);
  return Ticket(*this, id);
}

void SlotQueue::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  ++version_;
  changed_.notify_all();
}

SlotQueue::Counts SlotQueue::counts() const {
  std::lock_guard lock(mutex_);
  return Counts{
      .slots = slot_count_, .busy = slot_count_ - free_slots_.size(), .waiting = waiting_locked()};
}

size_t SlotQueue::waiting_locked() const {
  return line_.size() > free_slots_.size() ? line_.size() - free_slots_.size() : 0;
}

void SlotQueue::leave(uint64_t id) {
  std::lock_guard lock(mutex_);
  leave_locked(id);
}

void SlotQueue::leave_locked(uint64_t id) {
  const auto it = std::find(line_.begin(), line_.end(), id);
  if (it == line_.end()) return;
  line_.erase(it);
  ++version_;
  changed_.notify_all();
}

void SlotQueue::give_back(size_t slot) {
  std::lock_guard lock(mutex_);
  assert(std::find(free_slots_.begin(), free_slots_.end(), slot) == free_slots_.end());
  free_slots_.push_back(slot);
  ++version_;
  changed_.notify_all();
}

}  // namespace quant::server
