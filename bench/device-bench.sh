#!/bin/bash
# The speed run on the H200 host, made in ONE device call from the repository root there:
#
#   bash bench/device-bench.sh                 (the device tool's command; carry build-device, .device)
#
# It needs `quant` built here into build-device/ (bench/build-for-device.sh, which also copies
# /work/shared/device/ into .device/). It sources .device/vulkan-env.sh, lists the devices, makes
# the synthetic models in /tmp, runs `quant bench` on each (Vulkan, and the CPU on SmolLM2 Q4_K_M)
# and profiles one SmolLM2 decode token and one batched prefill of 512 tokens. It writes under $OUT
# (at most these five files):
#   results.md    our figures beside llama.cpp's, then every step with its status
#   results.json  every row with its raw `quant bench --json` object, and every step
#   profile.txt   the --profile output;  devices.txt  `quant devices`;  log.txt  everything
#
# Robust by design: every step runs under a timeout taken from what is left of the budget (9
# minutes in all), a failed step is recorded and the run goes on, and before a model is made a tiny
# model of the same architecture and type is benchmarked on the same backend: when that fails (an
# architecture or op the engine or backend does not support yet, or results other than the CPU's)
# the big model is skipped and the table says why. results.md is rewritten after every row, so a
# run cut short still reports.
#
# Here, to test the logic: bash bench/device-bench.sh --dry-run [--gpu-backend vulkan]
# (tiny presets, small sizes, the CPU backend in place of Vulkan unless --gpu-backend says otherwise,
# output in out/device-bench-dry-run unless $OUT or --out is set).

set -u -o pipefail

usage() {
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "options: --dry-run  --gpu-backend NAME  --quant PATH  --out DIR  --models DIR  --budget SECONDS"
  echo "         --bench-cap SECONDS (one full-size bench; on a timeout it reruns with small sizes)"
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2

quant=build-device/tools/quant/quant
out=${OUT:-}
models=/tmp/quant-bench-models
budget=530     # seconds for the whole run; the device call's limit is 600
bench_cap=180  # seconds for one full-size `quant bench`
dry_run=0
gpu_backend=""
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=1 ;;
    --gpu-backend) gpu_backend=$2; shift ;;
    --quant) quant=$2; shift ;;
    --out) out=$2; shift ;;
    --models) models=$2; shift ;;
    --budget) budget=$2; shift ;;
    --bench-cap) bench_cap=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "device-bench: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

if [ "$dry_run" = 1 ]; then
  : "${gpu_backend:=cpu}"
  : "${out:=$repo/out/device-bench-dry-run}"
  cpu_threads=2
  gpu_sizes=(-p 32 -n 16 -r 2)
  cpu_sizes=(-p 32 -n 8 -r 1)
  profile_sizes=(-p 32 -n 8 -r 1)
  reduced_sizes=(-p 8 -n 4 -r 1)
else
  : "${gpu_backend:=vulkan}"
  : "${out:=$repo/out/device-bench}"
  cpu_threads=16
  gpu_sizes=(-p 512 -n 128 -r 3)
  cpu_sizes=(-p 512 -n 32 -r 2)
  profile_sizes=(-p 512 -n 16 -r 1)
  reduced_sizes=(-p 64 -n 16 -r 1)
fi

mkdir -p "$out" "$models" || exit 2
work=$(mktemp -d /tmp/quant-bench-work.XXXXXX) || exit 2
log=$out/log.txt
: >"$log"
: >"$work/rows.tsv"
: >"$work/steps.tsv"
start=$(date +%s)
deadline=$((start + budget))
reserve=10  # seconds kept for writing the results

# ---- Recording ---------------------------------------------------------------------------------

# One line of a file, made safe for a TSV field and a Markdown cell.
one_line() { tr '\t\r\n|' '   /' | cut -c1-300; }

# The error a failed command printed: quant's "error: ..." line, else its last line.
error_line() {
  local file=$1 line
  line=$(grep -m1 '^error:' "$file" 2>/dev/null || tail -n1 "$file" 2>/dev/null)
  printf '%s' "${line#error: }" | one_line
}

record_step() {  # NAME STATUS SECONDS MESSAGE
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(printf '%s' "$4" | one_line)" >>"$work/steps.tsv"
  echo "--- $1: $2 (${3}s) $4" >>"$log"
}

# step NAME CAP STDOUT_FILE COMMAND...: runs COMMAND under a timeout of CAP seconds, or less when
# the budget is nearly spent, its stdout into STDOUT_FILE and both streams into the log. Sets
# step_status (ok, failed, timeout, skipped), step_seconds and step_message; returns 0 when ok.
step() {
  local name=$1 cap=$2 stdout_file=$3
  shift 3
  local left=$((deadline - reserve - $(date +%s)))
  local limit=$((cap < left ? cap : left))
  step_seconds=0
  if [ "$limit" -lt 5 ]; then
    step_status=skipped
    step_message="no time left in the ${budget} s budget"
    record_step "$name" "$step_status" 0 "$step_message"
    return 1
  fi
  echo "=== $name (at most ${limit}s): $*" >>"$log"
  local t0 rc
  t0=$(date +%s)
  timeout -k 5 "$limit" "$@" >"$stdout_file" 2>"$work/$name.err"
  rc=$?
  step_seconds=$(($(date +%s) - t0))
  cat "$work/$name.err" >>"$log"
  case $rc in
    0) step_status=ok; step_message="" ;;
    124 | 137) step_status=timeout; step_message="stopped after ${limit} s" ;;
    *) step_status=failed; step_message="exit $rc: $(error_line "$work/$name.err")" ;;
  esac
  record_step "$name" "$step_status" "$step_seconds" "$step_message"
  [ "$rc" = 0 ]
}

add_row() {  # ID PRESET TYPE BACKEND THREADS STATUS SECONDS MESSAGE JSON REF_PP REF_TG
  local message
  message=$(printf '%s' "$8" | one_line)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" \
    "$message" "$9" "${10}" "${11}" >>"$work/rows.tsv"
}

title="quant bench on $(hostname 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC')"
[ "$dry_run" = 1 ] && title="$title: DRY RUN (tiny presets, '$gpu_backend' in place of Vulkan)"

summarize() {
  if command -v python3 >/dev/null; then
    python3 "$repo/bench/summarize_results.py" "$work" "$out" "$title" 2>>"$log" ||
      echo "summarize_results.py failed" >>"$log"
  else
    cp "$work/rows.tsv" "$work/steps.tsv" "$out/"
  fi
}

# ---- Models ------------------------------------------------------------------------------------

model_path() { echo "$models/$1-$2.gguf"; }

# The tiny preset of a preset's architecture: the probe for whether the engine runs it.
tiny_of() {
  case $1 in
    smollm2-1.7b | tiny-llama) echo tiny-llama ;;
    qwen3-4b | tiny-qwen3) echo tiny-qwen3 ;;
    qwen3.5-4b | tiny-qwen35) echo tiny-qwen35 ;;
    *) echo "$1" ;;
  esac
}

# The preset this run makes: the real one, or in a dry run its tiny stand-in.
run_preset() { if [ "$dry_run" = 1 ]; then tiny_of "$1"; else echo "$1"; fi; }

made_models=()  # what this run made, and so may delete
make_model() {  # PRESET TYPE
  local path
  path=$(model_path "$1" "$2")
  [ -f "$path" ] && return 0
  made_models+=("$path")
  step "make-$1-$2" 150 "$work/make-$1-$2.out" \
    "${quant_cmd[@]}" make-model --preset "$1" --type "$2" --progress never "$path" || {
    rm -f "$path"
    return 1
  }
}

# Deletes a model this run made (the device has 64 GiB of disk; the models take about 13 GB).
discard_model() {  # PRESET TYPE
  local path made
  path=$(model_path "$(run_preset "$1")" "$2")
  for made in "${made_models[@]}"; do [ "$made" = "$path" ] && rm -f "$path"; done
}

# The perplexity `quant perplexity --json` printed last in FILE, or nothing.
ppl_of() { sed -n 's/.*"ppl":\([0-9.eE+-]*\).*/\1/p' "$1" | tail -1; }

# parity TINY TYPE BACKEND: whether BACKEND computes the tiny model's perplexity over this README as
# the CPU does (within 2e-3, relative: on the H200 they agree to 5e-4 or better, and wrong kernels
# miss by percents), so that a table's speeds are those of right results; parity_message says why
# not.
parity() {
  local backend ppl=() name
  for backend in "$3" cpu; do
    name="parity-$1-$2-$backend"
    if ! step "$name" 60 "$work/$name.out" "${quant_cmd[@]}" perplexity "$(model_path "$1" "$2")" \
      -f "$repo/README.md" -c 64 --chunks 8 --backend "$backend" --progress never --json; then
      parity_message="$1 $2: perplexity on $backend fails: $step_message"
      return 1
    fi
    ppl+=("$(ppl_of "$work/$name.out")")
  done
  if ! awk -v a="${ppl[0]}" -v b="${ppl[1]}" \
    'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b > 0 && d <= 2e-3 * b) }'; then
    parity_message="$1 $2: perplexity ${ppl[0]} on $3 against ${ppl[1]} on the CPU (wrong results)"
    record_step "parity-$1-$2" failed 0 "$parity_message"
    return 1
  fi
  record_step "parity-$1-$2" ok 0 "perplexity ${ppl[0]} on $3, ${ppl[1]} on the CPU"
}

declare -A probe_result
# probe PRESET TYPE BACKEND: whether the engine runs a tiny model of PRESET's architecture and TYPE
# on BACKEND, with the CPU's results (parity) when BACKEND is not the CPU; probe_message says why
# not.
probe() {
  local tiny key
  tiny=$(tiny_of "$1")
  key="$tiny:$2:$3"
  if [ -z "${probe_result[$key]+set}" ]; then
    if ! make_model "$tiny" "$2"; then
      probe_result[$key]="could not make $tiny $2: $step_message"
    elif step "probe-$tiny-$2-$3" 60 "$work/probe-$tiny-$2-$3.out" \
      "${quant_cmd[@]}" bench "$(model_path "$tiny" "$2")" -p 4 -n 4 -r 1 --backend "$3"; then
      probe_result[$key]=ok
      if [ "$3" != cpu ] && ! parity "$tiny" "$2" "$3"; then probe_result[$key]=$parity_message; fi
    elif grep -qi 'unknown architecture' "$work/probe-$tiny-$2-$3.err"; then
      probe_result[$key]="architecture not supported yet: $step_message"
    else
      probe_result[$key]="$tiny $2 fails on $3: $step_message"
    fi
  fi
  probe_message=${probe_result[$key]}
  [ "$probe_message" = ok ]
}

# bench_row ID PRESET TYPE BACKEND THREADS REF_PP REF_TG SIZES...: one row of the table.
bench_row() {
  local id=$1 preset type=$3 backend=$4 threads=$5 ref_pp=$6 ref_tg=$7
  preset=$(run_preset "$2")
  shift 7
  if ! probe "$preset" "$type" "$backend"; then
    add_row "$id" "$preset" "$type" "$backend" "$threads" skipped 0 "$probe_message" "" "$ref_pp" "$ref_tg"
    return
  fi
  if ! make_model "$preset" "$type"; then
    add_row "$id" "$preset" "$type" "$backend" "$threads" "$step_status" "$step_seconds" \
      "could not make the model: $step_message" "" "$ref_pp" "$ref_tg"
    return
  fi
  local args=(bench "$(model_path "$preset" "$type")" --backend "$backend" --json)
  [ -n "$threads" ] && args+=(-t "$threads")
  local status message
  step "bench-$id" "$bench_cap" "$work/$id.json" "${quant_cmd[@]}" "${args[@]}" "$@"
  status=$step_status
  message=$step_message
  # Too slow at full size: a smaller run still gives figures (the test names show the sizes).
  if [ "$status" = timeout ] &&
    step "bench-$id-reduced" 60 "$work/$id.json" "${quant_cmd[@]}" "${args[@]}" "${reduced_sizes[@]}"; then
    status=ok
    message="full size $message; these are ${reduced_sizes[*]}"
  fi
  add_row "$id" "$preset" "$type" "$backend" "$threads" "$status" "$step_seconds" \
    "$message" "$work/$id.json" "$ref_pp" "$ref_tg"
  summarize
}

# ---- The run -----------------------------------------------------------------------------------

if [ ! -x "$quant" ]; then
  record_step setup failed 0 "no quant binary at $quant (run bench/build-for-device.sh first)"
  summarize
  exit 1
fi
# First: quant links libvulkan.so.1, which the host has only once this has run.
if [ "$dry_run" = 0 ]; then
  if [ -f .device/vulkan-env.sh ]; then
    # shellcheck source=/dev/null
    if source .device/vulkan-env.sh >>"$log" 2>&1; then
      record_step vulkan-env ok 0 ""
    else
      record_step vulkan-env failed 0 "sourcing .device/vulkan-env.sh failed (see log.txt)"
    fi
  else
    record_step vulkan-env failed 0 "no .device/vulkan-env.sh (copy /work/shared/device/ to .device/)"
  fi
fi
# The libraries bench/build-for-device.sh bundled for the host, on quant's library path only.
quant_cmd=("$quant")
device_libs=$(dirname "$quant")/device-libs
if [ -d "$device_libs" ]; then
  quant_cmd=(env "LD_LIBRARY_PATH=$(cd "$device_libs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$quant")
fi
if ! "${quant_cmd[@]}" --version >"$work/version.txt" 2>&1; then
  cat "$work/version.txt" >>"$log"
  record_step setup failed 0 "quant does not start: $(tail -n1 "$work/version.txt")"
  summarize
  exit 1
fi
cat "$work/version.txt" >>"$log"

step devices 30 "$out/devices.txt" "${quant_cmd[@]}" devices

# llama.cpp's figures (tg128 / pp512) from the issue, "VALUE API" items.
smollm=smollm2-1.7b
bench_row smollm2-q4km-gpu "$smollm" Q4_K_M "$gpu_backend" "" \
  "26800 CUDA" "655 CUDA,548 Vulkan" "${gpu_sizes[@]}"
if probe "$(run_preset "$smollm")" Q4_K_M "$gpu_backend" &&
  make_model "$(run_preset "$smollm")" Q4_K_M; then
  step profile 90 "$out/profile.txt" "${quant_cmd[@]}" bench "$(model_path "$(run_preset "$smollm")" Q4_K_M)" \
    "${profile_sizes[@]}" --backend "$gpu_backend" --profile
else
  record_step profile skipped 0 "the SmolLM2 Q4_K_M model does not run on $gpu_backend"
fi
bench_row smollm2-q4km-cpu "$smollm" Q4_K_M cpu "$cpu_threads" "711 CPU" "52 CPU" "${cpu_sizes[@]}"
discard_model "$smollm" Q4_K_M

bench_row qwen3-4b-q4km-gpu qwen3-4b Q4_K_M "$gpu_backend" "" \
  "14000 CUDA" "315 CUDA,282 Vulkan" "${gpu_sizes[@]}"
discard_model qwen3-4b Q4_K_M
bench_row smollm2-q8-gpu "$smollm" Q8_0 "$gpu_backend" "" "" "580 CUDA" "${gpu_sizes[@]}"
discard_model "$smollm" Q8_0
bench_row qwen3-4b-q8-gpu qwen3-4b Q8_0 "$gpu_backend" "" "" "299 CUDA" "${gpu_sizes[@]}"
discard_model qwen3-4b Q8_0
bench_row qwen35-4b-q4km-gpu qwen3.5-4b Q4_K_M "$gpu_backend" "" "" "" "${gpu_sizes[@]}"
discard_model qwen3.5-4b Q4_K_M

record_step total ok $(($(date +%s) - start)) "budget ${budget} s"
summarize
for made in "${made_models[@]}"; do rm -f "$made"; done
rmdir "$models" 2>/dev/null
rm -rf "$work"
