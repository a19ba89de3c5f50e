#pragma once
// A check every architecture makes before binding its embeddings.

#include <string>

#include "gguf/gguf_file.h"
#include "model/hparams.h"

namespace quant::model {

// Throws quant::Error when the vocabulary (hp.n_vocab) and the rows of the embedding table
// `tensor_name` disagree, saying both numbers; a missing table is left to the weight binder to
// report.
void check_vocab_matches_embeddings(const gguf::GgufFile& file, const Hparams& hp,
                                    const std::string& tensor_name);

}  // namespace quant::model
