#!/usr/bin/env bash
# vLLM on one GPU: completion latency of a replayed typing session, with and without n-gram
# speculative decoding, and with many editors typing at once. Unattended; about 5-8 minutes on
# an H100 with a cached model (three vLLM starts of ~1 min each, replays of ~30 s), hard limit
# 9.5 minutes.
#
#   benchmarks/gpu_vllm.sh [MODEL]          MODEL: HF id or local checkpoint directory
#                                           (default Qwen/Qwen2.5-Coder-1.5B)
# Environment: PYTHON (an interpreter with codeslm and vllm; default python3), PORT (8765),
# KEYSTROKES (80), MAX_TOKENS (32), EDITORS (32: the concurrent case), GPU_UTIL (0.35),
# MAX_MODEL_LEN (4096), OUT (a new dir).
# Three cases: one editor typing (baseline), the same with n-gram speculation (ngram), and
# EDITORS editors typing at once in different files (editors; targets on one GPU for the 1.5B:
# TTFT p50 <= 60 ms alone, end-to-end p95 <= 250 ms with 32 editors).
# VLLM_CPU=1 runs the same script through vLLM's CPU build (codeslm's own vLLM environment,
# `python3 -m codeslm.runtime.vllm_env install`; default model qwen2.5-coder-0.5b, 8
# keystrokes, 4 editors): a check that every vLLM step of this script works, not a GPU figure.
# SMOKE_CPU=1 runs the plumbing with llama-cpp-python instead of vLLM (6 keystrokes).
# A machine without internet needs the model in the Hugging Face cache or as a local path;
# codeslm serve then switches vLLM to offline mode by itself.
#
# Prints, per case: vLLM start time, TTFT and end-to-end p50/p95, decode tokens/s, prefix-cache
# hit rate (from vLLM's /metrics over the run), n-gram acceptance, GPU memory, the machine and
# the git commit; writes OUT/<case>.json and OUT/summary.md.
set -euo pipefail

SMOKE_CPU="${SMOKE_CPU:-0}"
VLLM_CPU="${VLLM_CPU:-0}"
if [[ "$SMOKE_CPU" == 1 ]]; then
  MODEL="${1:-qwen2.5-coder-0.5b}"; SERVE_BACKEND=llama-cpp; CLIENT_BACKEND=openai-compatible
  KEYSTROKES="${KEYSTROKES:-6}"; EDITORS="${EDITORS:-3}"
elif [[ "$VLLM_CPU" == 1 ]]; then
  MODEL="${1:-qwen2.5-coder-0.5b}"; SERVE_BACKEND=vllm; CLIENT_BACKEND=vllm
  KEYSTROKES="${KEYSTROKES:-8}"; EDITORS="${EDITORS:-4}"
else
  MODEL="${1:-Qwen/Qwen2.5-Coder-1.5B}"; SERVE_BACKEND=vllm; CLIENT_BACKEND=vllm
fi
PYTHON="${PYTHON:-python3}"
PORT="${PORT:-8765}"
KEYSTROKES="${KEYSTROKES:-80}"
EDITORS="${EDITORS:-32}"
MAX_TOKENS="${MAX_TOKENS:-32}"
GPU_UTIL="${GPU_UTIL:-0.35}"
MAX_MODEL_LEN="${MAX_MODEL_LEN:-4096}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="${OUT:-$(mktemp -d /tmp/codeslm-gpu-vllm.XXXXXX)}"
DEADLINE=$((SECONDS + 570))
mkdir -p "$OUT"

say() { printf '%s\n' "$*" >&2; }
left() { echo $((DEADLINE - SECONDS)); }

if [[ "$SMOKE_CPU" != 1 && "$VLLM_CPU" != 1 ]]; then
  command -v nvidia-smi >/dev/null || {
    say "error: nvidia-smi not found: this benchmark needs an NVIDIA GPU (VLLM_CPU=1: the CPU build)"; exit 2; }
  "$PYTHON" -c "import codeslm, vllm" 2>/dev/null || {
    say "error: $PYTHON cannot import codeslm and vllm (pip install -e '.[vllm]')"; exit 2; }
fi
if [[ "$VLLM_CPU" == 1 ]]; then
  "$PYTHON" -m codeslm.runtime.vllm_env show >/dev/null 2>&1 || {
    say "error: no vLLM CPU build (python3 -m codeslm.runtime.vllm_env install)"; exit 2; }
fi

if [[ "$SMOKE_CPU" != 1 && "$VLLM_CPU" != 1 ]]; then export CODESLM_HOME="$OUT/home"; fi
export CODESLM_SERVE__MAX_MODEL_LEN="$MAX_MODEL_LEN"
export CODESLM_SERVE__GPU_MEMORY_UTILIZATION="$GPU_UTIL"
export CODESLM_SERVE__STARTUP_TIMEOUT_S=300
URL="http://127.0.0.1:$PORT"
SERVE_PID=""

stop_server() {
  if [[ -n "$SERVE_PID" ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$SERVE_PID" 2>/dev/null || true
  fi
  SERVE_PID=""
}
trap stop_server EXIT INT TERM

run_case() {
  local name="$1" flag="$2" editors="${3:-1}"
  say "== $name: starting $SERVE_BACKEND ($MODEL, $flag) — $(left) s left"
  local started=$SECONDS
  (cd "$REPO" && exec "$PYTHON" -m codeslm serve --backend "$SERVE_BACKEND" --model "$MODEL" \
      --port "$PORT" --no-self-test "$flag") >"$OUT/$name.serve.out" 2>"$OUT/$name.serve.err" &
  SERVE_PID=$!
  until grep -q '^ready: ' "$OUT/$name.serve.out" 2>/dev/null; do
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
      say "error: codeslm serve exited:"; tail -5 "$OUT/$name.serve.err" >&2; exit 1
    fi
    if (( $(left) < 90 )); then say "error: the server was not ready in time"; exit 1; fi
    sleep 1
  done
  local startup=$((SECONDS - started))
  say "   ready after ${startup} s; replaying $KEYSTROKES keystrokes"
  local budget=$(( $(left) - 30 ))
  (( budget >= 10 )) || budget=10  # `timeout 0` would mean no limit at all
  timeout "$budget" "$PYTHON" "$HERE/replay_typing.py" --backend "$CLIENT_BACKEND" \
      --url "$URL" \
      --keystrokes "$KEYSTROKES" --max-tokens "$MAX_TOKENS" --editors "$editors" --label "$name" \
      --json "$OUT/$name.json" | tee "$OUT/$name.txt"
  local gpu_mem
  gpu_mem="n/a"
  if command -v nvidia-smi >/dev/null; then
    gpu_mem="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader | head -1)"
  fi
  say "   GPU memory in use: $gpu_mem"
  (cd "$REPO" && "$PYTHON" -m codeslm doctor --backend "$CLIENT_BACKEND" --url "$URL" --no-speed) \
      >"$OUT/$name.doctor.txt" 2>&1 || true
  grep -E 'prefix cache|first token|speculation|FIM self-test' "$OUT/$name.doctor.txt" >&2 || true
  "$PYTHON" - "$OUT/$name.json" "$startup" "$gpu_mem" <<'EOF'
import json, sys
path, startup, gpu = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = json.load(open(path))
data.update(vllm_startup_s=startup, gpu_memory_used=gpu)
json.dump(data, open(path, "w"), indent=2)
EOF
  stop_server
}

run_case baseline --no-ngram
run_case ngram --ngram
run_case editors --no-ngram "$EDITORS"

"$PYTHON" - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = [json.loads((out / f"{c}.json").read_text()) for c in ("baseline", "ngram", "editors")]
def ms(v): return "n/a" if v is None else f"{v * 1000:.0f}"
def pct(v): return "n/a" if v is None else f"{v:.0%}"
print(f"{rows[0]['backend']}, {rows[0]['served_model']}, {rows[0]['source']}, max_tokens {rows[0]['max_tokens']}")
print(f"machine: {rows[0]['machine']}; commit {rows[0]['commit']}\n")
print("| case | editors | server start | TTFT p50 / p95 (ms) | end-to-end p50 / p95 (ms) | decode tok/s p50 | "
      "prefix-cache hits | n-gram acceptance | GPU memory |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['label']} | {r.get('editors', 1)} | {r['vllm_startup_s']} s | {ms(r['ttft_p50_s'])} / {ms(r['ttft_p95_s'])} "
          f"| {ms(r['e2e_p50_s'])} / {ms(r['e2e_p95_s'])} | {r['decode_tokens_per_s_p50']:.0f} "
          f"| {pct(r['prefix_cache_hit_rate'])} | {pct(r['spec_acceptance'])} | {r['gpu_memory_used']} |")
EOF
say "results: $OUT (total ${SECONDS} s)"
