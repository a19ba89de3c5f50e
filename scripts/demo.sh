#!/usr/bin/env bash
# Installs what is missing, builds Release, fetches the default model (SmolLM2-135M-Instruct) and
# generates an answer with it (on a Vulkan GPU when there is one, else on the CPU).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_BUILD_TESTS=OFF >/dev/null
cmake --build build --target quant -j"$(nproc)"
model=$(bash scripts/fetch-default-model.sh)
echo "default model: $model"
./build/tools/quant/quant run "$model" --chat --temp 0 -n 64 -p "What is the capital of France? Answer in one sentence."
