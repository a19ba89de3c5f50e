// The slot queue: admission limit, FIFO order, slots returned by leases, cancellation and close.

#include "server/slot_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace quant::server {
namespace {

using namespace std::chrono_literals;

TEST(SlotQueueTest, GivesFreeSlotsAtOnceAndRefusesBeyondTheQueue) {
  SlotQueue queue(2, 1);
  std::optional<SlotQueue::Ticket> a = queue.enter();
  std::optional<SlotQueue::Ticket> b = queue.enter();
  std::optional<SlotQueue::Ticket> c = queue.enter();  // the one place in line
  ASSERT_TRUE(a && b && c);
  EXPECT_FALSE(queue.enter().has_value());
  EXPECT_EQ(queue.counts().waiting, 1u);

  std::optional<SlotQueue::Lease> lease_a = a->wait();
  std::optional<SlotQueue::Lease> lease_b = b->wait();
  ASSERT_TRUE(lease_a && lease_b);
  EXPECT_NE(lease_a->slot(), lease_b->slot());
  EXPECT_EQ(queue.counts().busy, 2u);
  EXPECT_FALSE(queue.enter().has_value());

  const size_t freed = lease_a->slot();
  lease_a.reset();
  std::optional<SlotQueue::Lease> lease_c = c->wait();
  ASSERT_TRUE(lease_c);
  EXPECT_EQ(lease_c->slot(), freed);
  EXPECT_EQ(queue.counts().waiting, 0u);
}

TEST(SlotQueueTest, ADroppedTicketLeavesTheLine) {
  SlotQueue queue(1, 1);
  std::optional<SlotQueue::Ticket> first = queue.enter();
  std::optional<SlotQueue::Lease> lease = first->wait();
  {
    std::optional<SlotQueue::Ticket> waiting = queue.enter();
    ASSERT_TRUE(waiting);
    EXPECT_FALSE(queue.enter().has_value());
  }
  EXPECT_TRUE(queue.enter().has_value());  // its place was given back (and this one dropped too)
}

TEST(SlotQueueTest, ServesWaitersInArrivalOrder) {
  SlotQueue queue(1, 8, 5ms);
  std::optional<SlotQueue::Lease> holder = queue.enter()->wait();
  std::vector<int> served;
  std::mutex served_mutex;
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    // Enter in order i, wait on separate threads that start in any order.
    auto ticket = std::make_shared<SlotQueue::Ticket>(std::move(*queue.enter()));
    threads.emplace_back([&, i, ticket] {
      std::optional<SlotQueue::Lease> lease = ticket->wait();
      ASSERT_TRUE(lease);
      std::lock_guard lock(served_mutex);
      served.push_back(i);
    });
  }
  std::this_thread::sleep_for(20ms);
  holder.reset();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(served, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(SlotQueueTest, CancellationWhileWaitingFreesThePlace) {
  SlotQueue queue(1, 1, 5ms);
  std::optional<SlotQueue::Lease> holder = queue.enter()->wait();
  std::optional<SlotQueue::Ticket> ticket = queue.enter();
  std::atomic<bool> cancel{false};
  std::thread waiter([&] { EXPECT_FALSE(ticket->wait([&] { return cancel.load(); })); });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(queue.counts().waiting, 1u);
  cancel = true;
  waiter.join();
  EXPECT_EQ(queue.counts().waiting, 0u);
  EXPECT_TRUE(queue.enter().has_value());
}

TEST(SlotQueueTest, CloseWakesWaitersAndRefusesNewcomers) {
  SlotQueue queue(1, 4, 1s);  // a long poll: close() itself must wake the waiter
  std::optional<SlotQueue::Lease> holder = queue.enter()->wait();
  std::optional<SlotQueue::Ticket> ticket = queue.enter();
  const auto start = std::chrono::steady_clock::now();
  std::thread waiter([&] { EXPECT_FALSE(ticket->wait()); });
  std::this_thread::sleep_for(20ms);
  queue.close();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  EXPECT_FALSE(queue.enter().has_value());
  holder.reset();  // a lease given before close() stays valid and returns its slot
  EXPECT_EQ(queue.counts().busy, 0u);
}

TEST(SlotQueueTest, ManyThreadsNeverShareASlot) {
  constexpr size_t kSlots = 3;
  SlotQueue queue(kSlots, 64, 1ms);
  std::atomic<int> in_slot[kSlots] = {};
  std::atomic<int> refused{0};
  std::atomic<bool> overlap{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::optional<SlotQueue::Ticket> ticket = queue.enter();
        if (!ticket) {
          ++refused;
          continue;
        }
        std::optional<SlotQueue::Lease> lease = ticket->wait();
        ASSERT_TRUE(lease);
        if (in_slot[lease->slot()].fetch_add(1) != 0) overlap = true;
        std::this_thread::yield();
        in_slot[lease->slot()].fetch_sub(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_FALSE(overlap);
  EXPECT_EQ(refused, 0);  // 16 threads never exceed 3 slots + 64 places
  const SlotQueue::Counts counts = queue.counts();
  EXPECT_EQ(counts.busy, 0u);
  EXPECT_EQ(counts.waiting, 0u);
}

}  // namespace
}  // namespace quant::server
