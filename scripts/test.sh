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

# >>> sanitizer build (gguf)
# The GGUF reader/writer tests (malformed-file corpus included) again under ASan + UBSan, built with clang.
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQUANT_WERROR=ON -DQUANT_SANITIZE=address,undefined -DQUANT_VULKAN=OFF >/dev/null
cmake --build build-asan -j"$jobs" --target gguf_test gguf_malformed_test
ctest --test-dir build-asan --output-on-failure -j"$jobs" -R '^gguf_'
# <<< sanitizer build (gguf)

# >>> CPU-only build
# Without Vulkan the same `quant` must build with no Vulkan dependency and run on the CPU.
cmake -S . -B build-cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_WERROR=ON -DQUANT_VULKAN=OFF \
  -DQUANT_BUILD_TESTS=OFF >/dev/null
cmake --build build-cpu -j"$jobs" --target quant
if ldd build-cpu/tools/quant/quant | grep -q libvulkan; then
  echo "error: the CPU-only quant links libvulkan" >&2
  exit 1
fi
build-cpu/tools/quant/quant devices | grep -q "without Vulkan"
if [ -d ../shared/data/models ]; then
  build-cpu/tools/quant/quant run ../shared/data/models/stories260K-f32.gguf -p "Once upon a time" \
    -n 16 --temp 0 -c 512 | grep -q "there was a little girl"
fi
echo "CPU-only build: ok"
# <<< CPU-only build

ctest --test-dir build --output-on-failure -j"$jobs"
