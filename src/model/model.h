#pragma once
// A loaded model: the mapped GGUF file, its hyperparameters and the per-token plan its
// architecture's builder made. Weights are used in place from the mapping; nothing is converted at
// load.

#include <string>

#include "gguf/gguf_file.h"
#include "model/hparams.h"
#include "plan/plan.h"

namespace quant::model {

class Model {
 public:
  // Opens `path` and builds the plan. Throws quant::Error for an unreadable file, an unknown
  // architecture (naming the supported ones), missing or misshapen tensors and inconsistent
  // metadata.
  static Model load(const std::string& path);
  // The same for an already opened file.
  explicit Model(gguf::GgufFile file);

  const gguf::GgufFile& file() const { return file_; }
  const Hparams& hparams() const { return hparams_; }
  // Valid as long as this Model lives (its weights view the mapping); moving the Model keeps it
  // valid.
  const plan::Plan& plan() const { return plan_; }

 private:
  gguf::GgufFile file_;
  Hparams hparams_;
  plan::Plan plan_;
};

}  // namespace quant::model
