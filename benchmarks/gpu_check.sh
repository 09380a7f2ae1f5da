#!/usr/bin/env bash
# One command for anyone with a GPU (under 10 minutes): the CUDA tests, then step times on
# the GPU with the share of its peak, and the CUDA-graph step. Without CUDA, or with
# --dry-run, the same code runs on the CPU at a tiny size and the CUDA part is reported as
# not run.
#
#   bash benchmarks/gpu_check.sh [--dry-run] [--out FILE] [--peak-tflops X] [--steps N]
#
# Results: a markdown table in FILE (default benchmarks/results/gpu_check.md).
set -uo pipefail
cd "$(dirname "$0")/.."

out="benchmarks/results/gpu_check.md"
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --dry-run) bench_args+=("--dry-run"); shift ;;
    --peak-tflops|--steps) bench_args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-python}
export PYROGEN_DATA="${PYROGEN_DATA:-../shared/data}"

echo "== pytest -m cuda"
tests_log=$(mktemp)
"$python" -m pytest -m cuda -q -p no:cacheprovider tests 2>&1 | tee "$tests_log"
tests_rc=${PIPESTATUS[0]}
# pytest exits 5 when it selects nothing: not a failure of the check
[ "$tests_rc" -eq 5 ] && tests_rc=0

echo "== step benchmark"
"$python" benchmarks/gpu_check.py --out "$out" "${bench_args[@]}"
bench_rc=$?

{
  echo
  echo "## pytest -m cuda"
  echo
  echo '```'
  grep -E "passed|failed|skipped|error|no tests ran" "$tests_log" | tail -n 5
  echo '```'
} >> "$out"
rm -f "$tests_log"
echo "wrote $out"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
