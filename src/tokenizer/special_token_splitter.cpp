#include "tokenizer/special_token_splitter.h"

#include <algorithm>

namespace quant {

SpecialTokenSplitter::SpecialTokenSplitter(const Vocabulary& vocab) {
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.type(id);
    if (type == TokenType::Control || type == TokenType::UserDefined || type == TokenType::Unknown)
      candidates_.push_back(id);
  }
  std::stable_sort(candidates_.begin(), candidates_.end(), [&](int32_t a, int32_t b) {
    return vocab.text(a).size() > vocab.text(b).size();
  });
}

std::vector<PromptFragment> SpecialTokenSplitter::split(const Vocabulary& vocab,
                                                        std::string_view text,
                                                        bool parse_special) const {
  std::vector<PromptFragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({-1, text});
  std::vector<PromptFragment> next;
  for (const int32_t id : candidates_) {
    if (!parse_special && vocab.type(id) != TokenType::UserDefined) continue;
    const std::string_view token = vocab.text(id);
    next.clear();
    for (const PromptFragment& fragment : fragments) {
      if (fragment.is_special()) {
        next.push_back(fragment);
        continue;
      }
      std::string_view rest = fragment.text;
      for (size_t found = rest.find(token); found != std::string_view::npos;
           found = rest.find(token)) {
        if (found > 0) next.push_back({-1, rest.substr(0, found)});
        next.push_back({id, rest.substr(found, token.size())});
        rest.remove_prefix(found + token.size());
      }
      if (!rest.empty()) next.push_back({-1, rest});
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace quant
