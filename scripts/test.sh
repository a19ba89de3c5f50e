#!/usr/bin/env bash
# Installs what is missing, builds everything with warnings as errors and runs the whole test suite.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc)

bash scripts/install-deps.sh
model=$(bash scripts/fetch-default-model.sh)
echo "default model: $model"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_WERROR=ON \
  -DQUANT_DEFAULT_MODEL="$model" >/dev/null
cmake --build build -j"$jobs"

ctest --test-dir build --output-on-failure -j"$jobs"
