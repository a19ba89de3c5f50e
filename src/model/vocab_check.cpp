#include "model/vocab_check.h"

#include "common/error.h"

namespace quant::model {

void check_vocab_matches_embeddings(const gguf::GgufFile& file, const Hparams& hp,
                                    const std::string& tensor_name) {
  const gguf::TensorInfo* table = file.find_tensor(tensor_name);
  if (table == nullptr || table->dims.size() != 2) return;
  if (table->dims[1] != hp.n_vocab)
    fail("{}: the vocabulary has {} tokens but '{}' has {} rows", file.path(), hp.n_vocab,
         tensor_name, table->dims[1]);
}

}  // namespace quant::model
