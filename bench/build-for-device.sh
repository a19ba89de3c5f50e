#!/bin/bash
# Builds `quant` here for the H200 host: a Release build into the ignored build-device/, with the
# project's CPU baseline (QUANT_CPU_BASELINE, x86-64-v3: never -march=native, the host's CPU
# differs) and no tests. Debian 12's glibc (2.36) is older than the host's (2.39), so the binary runs
# there. Then copies /work/shared/device/ (the Vulkan loader packages and vulkan-env.sh) into the
# ignored .device/, which bench/device-bench.sh sources on the host.
#
# The host's image lacks some libraries quant links (Debian's libcpp-httplib.so.0.11 at least), so
# every shared library quant needs, except glibc's, the C++ runtime (the host's is newer) and the
# Vulkan loader (.device/ brings it), is copied next to the binary into
# build-device/tools/quant/device-libs/; device-bench.sh puts that folder on quant's library path.
#
# The device call then carries both: carry ["build-device", ".device"], command
# "bash bench/device-bench.sh".

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cmake -S . -B build-device -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_BUILD_TESTS=OFF
cmake --build build-device --target quant

shared_device=/work/shared/device
if [ -d "$shared_device" ]; then
  mkdir -p .device
  cp -r "$shared_device/." .device/
else
  echo "build-for-device: no $shared_device; put a copy of it in .device/ by hand" >&2
fi

libs=build-device/tools/quant/device-libs
rm -rf "$libs"
mkdir -p "$libs"
ldd build-device/tools/quant/quant | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' |
  while read -r name path; do
    case $name in
      libc.so.* | libm.so.* | libstdc++.so.* | libgcc_s.so.* | libvulkan.so.* | ld-linux*) ;;
      *) cp -L "$path" "$libs/$name" ;;
    esac
  done

if build-device/tools/quant/quant devices | grep -q 'built without Vulkan'; then
  echo "build-for-device: warning: this quant has no Vulkan backend (Vulkan headers or glslc missing)" >&2
fi
du -sh build-device/tools/quant/quant "$libs" .device 2>/dev/null || true
