#!/usr/bin/env bash
# Data-parallel benchmark of the tagger (issue 13), one run after the other:
#   (a) 1 process,  RAYON_NUM_THREADS=2
#   (b) mpirun -np 2, RAYON_NUM_THREADS=1 per rank, one fused allreduce per step
#   (c) the same with --no-fusion (one allreduce per gradient)
# each `pos_chunk --mode joint --epochs 1` (same seed, same global batch of 32 sentences), then
# one summary table: training tokens/s (global) and the allreduce time per step.
#
#   scripts/mpi_bench.sh            # needs Open MPI (openmpi-bin, libopenmpi-dev, libclang-dev)
#   EPOCHS=2 scripts/mpi_bench.sh
#
# Builds `--features mpi` into $CARGO_TARGET_DIR (default target/mpi, kept between runs).
# Timings are only meaningful on an otherwise idle machine. Extra arguments go to pos_chunk.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/mpi}"
epochs="${EPOCHS:-1}"
command -v mpirun >/dev/null || { echo "mpi_bench: mpirun not found (apt-get install openmpi-bin libopenmpi-dev libclang-dev)" >&2; exit 2; }
cargo build --release --features mpi --example pos_chunk
exe="$CARGO_TARGET_DIR/release/examples/pos_chunk"
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
args=(--mode joint --epochs "$epochs" --log-every 0 "$@")

echo "mpi_bench: (a) 1 process x 2 threads" >&2
RAYON_NUM_THREADS=2 "$exe" "${args[@]}" --out "$out/a" | tee "$out/a.log" | tail -n 1 >&2
echo "mpi_bench: (b) 2 ranks x 1 thread, fused allreduce" >&2
RAYON_NUM_THREADS=1 "${mpi[@]}" -x RAYON_NUM_THREADS "$exe" "${args[@]}" --out "$out/b" | tee "$out/b.log" | tail -n 1 >&2
echo "mpi_bench: (c) 2 ranks x 1 thread, one allreduce per gradient" >&2
RAYON_NUM_THREADS=1 "${mpi[@]}" -x RAYON_NUM_THREADS "$exe" "${args[@]}" --no-fusion --out "$out/c" | tee "$out/c.log" | tail -n 1 >&2

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
runs = [("a", "1 process x 2 threads"), ("b", "2 ranks x 1 thread, fused"),
        ("c", "2 ranks x 1 thread, no fusion")]
res = {}
for key, _ in runs:
    line = open(f"{out}/{key}.log").read().strip().splitlines()[-1]
    res[key] = json.loads(line)
steps = res["b"]["allreduce_calls"]  # fused: one call per step
base = res["a"]["results"]["joint"]["tokens_per_s"]
print()
print("| run | tokens/s | vs (a) | allreduce calls/step | allreduce ms/step | allreduce share of step |")
print("|---|---|---|---|---|---|")
for key, name in runs:
    r = res[key]
    tps = r["results"]["joint"]["tokens_per_s"]
    secs = r["results"]["joint"]["seconds"]
    if r.get("ranks", 1) > 1 and steps:
        calls = r["allreduce_calls"] / steps
        ms = 1e3 * r["allreduce_s"] / steps
        share = r["allreduce_s"] / secs if secs else float("nan")
        print(f"| ({key}) {name} | {tps:.0f} | {tps / base:.2f}x | {calls:.0f} | {ms:.2f} | {100 * share:.0f}% |")
    else:
        print(f"| ({key}) {name} | {tps:.0f} | 1.00x | - | - | - |")
print(f"\n{steps} steps of a global batch of 32 sentences per run; the allreduce "
      "time includes waiting for the other rank.")
PY
