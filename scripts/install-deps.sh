#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need. Idempotent and quiet when all are present.
set -euo pipefail

packages=(
  cmake ninja-build g++ clang pkg-config python3 python3-pip python3-venv ca-certificates
  libgtest-dev libcli11-dev libfmt-dev nlohmann-json3-dev libcpp-httplib-dev libpcre2-dev
  libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers
  libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# >>> python venv (server tests)
# tests/server drives `quant serve` with the official `openai` client from PyPI, from a venv at .venv
# (ignored by git). Made once; quiet when it is there with its packages.
server_test_venv="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv"
if ! "$server_test_venv/bin/python" -c 'import openai, pytest, requests' 2>/dev/null; then
  echo "creating $server_test_venv (openai, pytest, requests) for the server tests"
  python3 -m venv "$server_test_venv"
  "$server_test_venv/bin/pip" install -q --disable-pip-version-check openai pytest requests
fi
# <<< python venv (server tests)
