#!/usr/bin/env bash
# bench_precision.sh: the `use` embedder in fp32 (OpenBLAS sgemm) against
# bf16 (sl_matmul's AVX512-BF16 kernel) on the same chunks, in one run.
#
#   bash bench/bench_precision.sh
#
# Same texts as bench/bench_use.sh: real chunks of the shared corpus (five
# PDF manuals as text, the plain-text READMEs) cut by Sluice's chunker at 100
# model tokens. First the agreement: every chunk embedded both ways, cosine
# per chunk (lowest, mean). Then the rate: B chunks per call, in order, for
# SECONDS each, at B = 1, 8, 32, 128, fp32 and bf16 back to back in RUNS
# interleaved rounds (outside load hits both alike); medians shown, with
# the ratio of the CPU medians (the steadier figure on a shared machine). THREADS
# sets OPENBLAS_NUM_THREADS for both (the bf16 kernel splits a product over
# as many threads as OpenBLAS would use); "" leaves OpenBLAS's default (the
# cores), as sluiced runs. Prints a markdown section on stdout; writes no
# file in the tree.
#
# Needs: the model (scripts/setup-model.sh), mutool, Debian's python3.
# Knobs (environment): RUNS (3), CHUNKS (512), SECONDS (5), BATCHES
# ("1 8 32 128"), THREADS (""). About 2 minutes on 2 cores with defaults.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-bench"
MODEL=${SLUICE_MODEL_DIR:-$ROOT/models}/use-lite
RUNS=${RUNS:-3}
CHUNKS=${CHUNKS:-512}
SECONDS_EACH=${SECONDS:-5}
BATCHES=${BATCHES:-"1 8 32 128"}
THREADS=${THREADS:-}
PY=/usr/bin/python3
CORPUS=${SLUICE_SHARED_DIR:-$ROOT/../shared}/corpus

say() { echo "bench_precision.sh: $*" >&2; }
for tool in cmake cc pkg-config mutool; do
  command -v "$tool" >/dev/null || { say "$tool not found (run scripts/setup-deps.sh)"; exit 1; }
done
[ -d "$CORPUS/pdf" ] || { say "no corpus in $CORPUS (set SLUICE_SHARED_DIR)"; exit 1; }
[ -f "$MODEL/model.json" ] || bash "$ROOT/scripts/setup-model.sh"
grep -qw avx512_bf16 /proc/cpuinfo || { say "this CPU has no avx512_bf16: bf16 cannot run here"; exit 1; }

say "building bench_use (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bench_use >/dev/null

TMP=$(mktemp -d /tmp/sluice-bench-precision-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

DOCS=()
for pdf in mpman libtasn1 shared-mime-info-spec mpintro mplibapi; do
  mutool draw -q -F txt -o "$TMP/$pdf.txt" "$CORPUS/pdf/$pdf.pdf" 2>/dev/null
  DOCS+=("$TMP/$pdf.txt")
done
for txt in "$CORPUS"/text/*; do DOCS+=("$txt"); done
"$BUILD/bench/bench_use" chunk --model "$MODEL" --out "$TMP/chunks.json" --max "$CHUNKS" --target 100 "${DOCS[@]}"

run() {   # precision batch seconds [extra args]
  local p=$1 b=$2 s=$3; shift 3
  if [ -n "$THREADS" ]; then
    OPENBLAS_NUM_THREADS=$THREADS "$BUILD/bench/bench_use" embed --model "$MODEL" --in "$TMP/chunks.json" \
      --batch "$b" --seconds "$s" --precision "$p" "$@"
  else
    "$BUILD/bench/bench_use" embed --model "$MODEL" --in "$TMP/chunks.json" --batch "$b" --seconds "$s" \
      --precision "$p" "$@"
  fi
}

say "agreement: every chunk both ways"
run fp32 32 0 --vectors "$TMP/fp32.f32" >/dev/null
run bf16 32 0 --vectors "$TMP/bf16.f32" >/dev/null

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
: >"$TMP/runs.jsonl"
for round in $(seq "$RUNS"); do
  for b in $BATCHES; do
    say "round $round/$RUNS, batch $b"
    for p in fp32 bf16; do
      run "$p" "$b" "$SECONDS_EACH" | sed "s/^{/{\"precision\": \"$p\", /" >>"$TMP/runs.jsonl"
    done
  done
done
ELAPSED=$(( $(date +%s) - START ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')

"$PY" - "$TMP" <<EOF
import json, math, statistics, struct, sys
tmp = sys.argv[1]
def vecs(name):
    data = open(f"{tmp}/{name}.f32", "rb").read()
    n = len(data) // 4 // 512
    flat = struct.unpack(f"{n * 512}f", data)
    return [flat[i * 512:(i + 1) * 512] for i in range(n)]
a, b = vecs("fp32"), vecs("bf16")
cos = []
for x, y in zip(a, b):
    xx, yy = sum(v * v for v in x), sum(v * v for v in y)
    if xx and yy:
        cos.append(sum(p * q for p, q in zip(x, y)) / math.sqrt(xx * yy))
chunks = json.load(open(f"{tmp}/chunks.json"))
runs = [json.loads(l) for l in open(f"{tmp}/runs.jsonl") if l.strip()]
med = lambda xs: statistics.median(xs) if xs else float("nan")
pick = lambda p, bs, k: [r[k] for r in runs if r["precision"] == p and r["batch"] == bs]
print("## Embeddings (use): fp32 and bf16")
print()
print(f"Run \`bash bench/bench_precision.sh\` (THREADS='$THREADS', RUNS=$RUNS, SECONDS=$SECONDS_EACH) on 2 cores")
print(f"($CPU). Load average $LOAD_BEFORE before, $LOAD_AFTER after; ${ELAPSED} s of benchmarking.")
print(f"Texts: {chunks['chunks']} real chunks ({chunks['mean_tokens']:.1f} tokens on average, {chunks['max_tokens']} at most).")
print()
print(f"Agreement over {len(cos)} chunks: cosine bf16 vs fp32 lowest {min(cos):.6f}, mean {statistics.mean(cos):.6f}.")
print()
print("| Batch | fp32 chunks/s | bf16 chunks/s | bf16 / fp32 | CPU ms per chunk fp32 | bf16 | fp32 / bf16 CPU |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for bs in [int(x) for x in "$BATCHES".split()]:
    f, h = pick("fp32", bs, "chunks_per_s"), pick("bf16", bs, "chunks_per_s")
    ratio = med([y / x for x, y in zip(f, h)])
    cf, ch = med(pick('fp32', bs, 'cpu_ms_per_chunk')), med(pick('bf16', bs, 'cpu_ms_per_chunk'))
    print(f"| {bs} | {med(f):,.1f} | {med(h):,.1f} | {ratio:.2f}x | {cf:.2f} | {ch:.2f} | {cf / ch:.2f}x |")
print()
print("Rounds, chunks/s (fp32 / bf16):")
print()
for bs in [int(x) for x in "$BATCHES".split()]:
    print(f"- batch {bs}: " + "; ".join(f"{x:,.1f} / {y:,.1f}" for x, y in
                                        zip(pick("fp32", bs, "chunks_per_s"), pick("bf16", bs, "chunks_per_s"))))
models = sorted({r["model"] for r in runs})
print()
print("Model ids: " + ", ".join(f"\`{m}\`" for m in models))
EOF
