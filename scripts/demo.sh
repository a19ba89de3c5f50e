#!/usr/bin/env bash
# Installs what is missing, builds Release, fetches the default model and runs the main job on it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_BUILD_TESTS=OFF >/dev/null
cmake --build build --target quant -j"$(nproc)"
model=$(bash scripts/fetch-default-model.sh)
echo "default model: $model"
./build/tools/quant/quant info "$model"
