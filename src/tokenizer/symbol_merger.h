#pragma once
// The pair-merging loop shared by both BPE flavours. The text is split into single characters
// ("symbols", each a slice of the text); a caller-supplied rule gives each adjacent pair a priority
// or rejects it; the best pair (highest priority, leftmost on ties) is merged, its neighbours
// re-examined, and so on until no pair is accepted. Merged symbols stay contiguous slices, so no
// strings are built along the way.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

#include "tokenizer/utf8.h"

namespace quant {

class SymbolMerger {
 public:
  // `priority(left_text, right_text)` returns nullopt for a pair that may not merge. Larger merges
  // first.
  template <typename Priority>
  static std::vector<std::string_view> merge(std::string_view text, Priority&& priority);

 private:
  struct Symbol {
    uint32_t begin;
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    double priority;
    int32_t left;
    int32_t right;
    uint32_t
        length;  // left + right length when proposed; a mismatch later means the pair went stale
    bool operator<(const Candidate& other) const {
      return priority < other.priority || (priority == other.priority && left > other.left);
    }
  };
};

template <typename Priority>
std::vector<std::string_view> SymbolMerger::merge(std::string_view text, Priority&& priority) {
  std::vector<Symbol> symbols;
  for (size_t at = 0; at < text.size();) {
    const size_t length =
        std::min(utf8::sequence_length(static_cast<uint8_t>(text[at])), text.size() - at);
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back(
        {static_cast<uint32_t>(at), static_cast<uint32_t>(length), index - 1, index + 1});
    at += length;
  }
  if (symbols.empty()) return {};
  symbols.back().next = -1;

  const auto slice = [&](int32_t i) { return text.substr(symbols[i].begin, symbols[i].length); };
  std::priority_queue<Candidate> queue;
  const auto propose = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::optional<double> p = priority(slice(left), slice(right));
    if (p) queue.push({*p, left, right, symbols[left].length + symbols[right].length});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) propose(i - 1, i);

  while (!queue.empty()) {
    const Candidate best = queue.top();
    queue.pop();
    Symbol& left = symbols[best.left];
    Symbol& right = symbols[best.right];
    // A symbol only grows by absorbing its right neighbour, so unchanged lengths mean an unchanged
    // pair.
    if (left.length == 0 || right.length == 0 || left.length + right.length != best.length)
      continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = best.left;
    propose(left.prev, best.left);
    propose(best.left, left.next);
  }

  std::vector<std::string_view> result;
  for (int32_t i = 0; i >= 0; i = symbols[i].next) result.push_back(slice(i));
  return result;
}

}  // namespace quant
