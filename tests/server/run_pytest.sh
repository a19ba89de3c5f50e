#!/bin/sh
# run_pytest.sh PYTHON TEST_DIR [pytest arguments...]: runs the server's pytest suite with PYTHON (the
# .venv's), or exits 77 (ctest: skipped) when that Python or its packages are missing.
python=$1
dir=$2
shift 2
if [ ! -x "$python" ] || ! "$python" -c 'import openai, pytest, requests' 2>/dev/null; then
  echo "skipped: $python with openai, pytest and requests not found (run scripts/install-deps.sh)"
  exit 77
fi
# -B: no __pycache__ in the source tree.
exec "$python" -B -m pytest "$@" "$dir"
