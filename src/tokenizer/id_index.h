#pragma once
// An open-addressing hash index from keys to dense ids (token ids, merge ranks). The keys
// themselves stay with the caller, which supplies each key's hash and an equality test against an
// id; the index stores only (hash tag, id) pairs in one flat array. For a 150,000-token vocabulary
// that builds several times faster than a node-based std::unordered_map, which spends its time in
// allocations and cache misses (and frees 300,000 nodes again on destruction).

#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

namespace quant {

class IdIndex {
 public:
  // Room for `count` ids at a load factor of at most one half.
  explicit IdIndex(size_t count = 0) {
    const size_t capacity = std::bit_ceil(std::max<size_t>(2 * count, 16));
    slots_.assign(capacity, Slot{0, kEmpty});
    mask_ = capacity - 1;
  }

  // The id whose key `equals(id)` accepts, among those stored under `hash`.
  template <typename Equals>
  std::optional<int32_t> find(uint64_t hash, Equals&& equals) const {
    const auto tag = static_cast<uint32_t>(hash >> 32);
    for (size_t at = hash & mask_;; at = (at + 1) & mask_) {
      const Slot& slot = slots_[at];
      if (slot.id == kEmpty) return std::nullopt;
      if (slot.tag == tag && equals(slot.id)) return slot.id;
    }
  }

  // Hints that `hash` will be looked up or inserted soon: bulk inserts prefetch a few keys ahead,
  // which hides most of the cache misses of scattered slots.
  void prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[hash & mask_]); }

  // Stores `id` under `hash` unless an equal key is already there; returns that earlier id if so.
  // The index must not be over-filled beyond the count it was made for.
  template <typename Equals>
  std::optional<int32_t> insert(uint64_t hash, int32_t id, Equals&& equals) {
    const auto tag = static_cast<uint32_t>(hash >> 32);
    for (size_t at = hash & mask_;; at = (at + 1) & mask_) {
      Slot& slot = slots_[at];
      if (slot.id == kEmpty) {
        slot = Slot{tag, id};
        return std::nullopt;
      }
      if (slot.tag == tag && equals(slot.id)) return slot.id;
    }
  }

 private:
  static constexpr int32_t kEmpty = -1;
  struct Slot {
    uint32_t tag;  // high bits of the hash: most mismatches are rejected without comparing keys
    int32_t id;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace quant
