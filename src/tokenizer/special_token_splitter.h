#pragma once
// Finds special tokens written in prompt text, as llama.cpp does: tokens typed control, unknown or
// user-defined are searched for, longest text first, each over the text that earlier (longer) ones
// left unclaimed. User-defined tokens (such as <tool_call> or <think>) are always matched; control
// and unknown ones (such as <|im_start|>) only when special-token parsing is on.

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocabulary.h"

namespace quant {

// One piece of a prompt: a special token, or text still to be tokenized.
struct PromptFragment {
  int32_t special_token = -1;  // >= 0 for a special token
  std::string_view text;       // the text (for a special token: where it was written)

  bool is_special() const { return special_token >= 0; }
};

class SpecialTokenSplitter {
 public:
  SpecialTokenSplitter() = default;  // matches nothing
  // Collects the candidate tokens of `vocab` (read its types after any promotion to control).
  explicit SpecialTokenSplitter(const Vocabulary& vocab);

  // Splits `text` into fragments in order; `vocab` must be the one given to the constructor.
  std::vector<PromptFragment> split(const Vocabulary& vocab, std::string_view text,
                                    bool parse_special) const;

 private:
  std::vector<int32_t> candidates_;  // longest text first, then lowest id
};

}  // namespace quant
