#!/usr/bin/env bash
# Regenerates fuzz/corpus/gguf_reader (committed; must stay well under 200 KB) from the malformed-file
# corpus of tests/gguf and the headers of a few shared tiny models.
# Usage: fuzz/make_seed_corpus.sh BUILD_DIR   (a -DQUANT_FUZZ=ON build with gguf_seed_corpus built)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:?usage: $0 BUILD_DIR}
models="$root/../shared/data/models"
out="$root/fuzz/corpus/gguf_reader"
rm -rf "$out"
"$build/fuzz/gguf_seed_corpus" "$out" \
  "$models/stories260K-f32.gguf" "$models/tiny-llama-Q4_K_M.gguf" \
  "$models/tiny-qwen3-Q8_0.gguf" "$models/tiny-qwen35-f16.gguf"
du -sh "$out"
