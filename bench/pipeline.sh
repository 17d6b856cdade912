#!/usr/bin/env bash
# pipeline.sh: parse and end-to-end throughput on the public corpus.
#
#   1. parse pages/s: the parse library with 1 and 2 threads (as 1 and 2
#      parse actors) beside `mutool draw -F txt` (MuPDF's own text
#      extraction, the ceiling) on the same PDFs, same run;
#   2. end to end: a fresh `sluiced --role all` ingests the corpus folder
#      (pages/s, chunks/s, embed stage chunks/s, peak RSS);
#   3. peak RSS of a fresh sluiced ingesting the largest PDF we can make
#      (9 copies of mpman.pdf merged: 1026 pages);
#   4. beside the end to end figure, in the same run: `mutool draw -F txt`
#      two files at a time (the extraction ceiling on two cores) and
#      bench/baseline_pipeline.py (the Python pipeline: PyMuPDF, a
#      recursive splitter, numpy hashing, SQLite + FTS5, two processes;
#      needs Debian's python3-fitz, installed here if missing and root);
#      and with BASELINE_SLUICED=path, that binary's end to end too (a
#      before and after of a change, runs interleaved).
# Writes the "## Pipeline (<embedder> embedder)" section of bench/RESULTS.md,
# keeping its "### " subsections.
# Usage: bash bench/pipeline.sh   (RUNS=3 by default; EMBED=hash|use)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
EMBED=${EMBED:-hash}
CORPUS=${SLUICE_SHARED_DIR:-$ROOT/../shared}/corpus/pdf
[ -d "$CORPUS" ] || { echo "pipeline.sh: corpus not found at $CORPUS" >&2; exit 1; }
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-rel -j2 --target sluiced bench_parse bench_use >/dev/null
TMP=$(mktemp -d); trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$TMP"' EXIT
PDFS=("$CORPUS"/*.pdf)
median () { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field () { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ratio () { echo "scale=2; $1 / $2" | bc -l; }

echo "== parse"
for t in 1 2; do
  for r in $(seq "$RUNS"); do ./build-rel/bench/bench_parse "$t" "${PDFS[@]}" | field pages_per_sec; done | median > "$TMP/parse$t"
done
PAGES=$(./build-rel/bench/bench_parse 1 "${PDFS[@]}" | field pages)
for r in $(seq "$RUNS"); do
  s=$(date +%s.%N)
  for f in "${PDFS[@]}"; do mutool draw -q -F txt -o /dev/null "$f" 2>/dev/null; done
  e=$(date +%s.%N)
  echo "$PAGES / ($e - $s)" | bc -l
done | median > "$TMP/mutool"
for r in $(seq "$RUNS"); do
  s=$(date +%s.%N)
  printf '%s\0' "${PDFS[@]}" | xargs -0 -P2 -I{} mutool draw -q -F txt -o /dev/null {} 2>/dev/null
  e=$(date +%s.%N)
  echo "$PAGES / ($e - $s)" | bc -l
done | median > "$TMP/mutool2"
printf 'parse 1 thread %.0f p/s, 2 threads %.0f p/s, mutool %.0f p/s, mutool 2 at a time %.0f p/s\n' \
  "$(cat "$TMP/parse1")" "$(cat "$TMP/parse2")" "$(cat "$TMP/mutool")" "$(cat "$TMP/mutool2")"

echo "== Python baseline"
if ! /usr/bin/python3 -c 'import fitz' 2>/dev/null; then
  [ "$(id -u)" = 0 ] && apt-get install -y -q python3-fitz >/dev/null
fi
for r in $(seq "$RUNS"); do
  rm -f "$TMP/baseline.db"*
  /usr/bin/python3 bench/baseline_pipeline.py "$TMP/baseline.db" "${PDFS[@]}"
done | tee "$TMP/python"
PY_PAGES=$(field pages_per_sec < "$TMP/python" | median)
PY_CHUNKS=$(field chunks_per_sec < "$TMP/python" | median)

run_sluiced () {   # $1: data dir, rest: files (SLUICED_BIN: the binary)
  local data=$1; shift
  local port=$((20000 + RANDOM % 12000))
  "${SLUICED_BIN:-./build-rel/actors/sluiced}" --data "$data" --set log.level=warn --set broker.bind=tcp://127.0.0.1:$port \
      --set fetch.file_roots="$CORPUS:$TMP" --set embed.provider="$EMBED" > "$data.log" 2>&1 &
  local pid=$!
  /usr/bin/python3 bench/pipeline_driver.py "$port" "$pid" "$@"
  kill -TERM "$pid"; wait "$pid" || true
}

echo "== end to end ($EMBED embedder)"
for r in $(seq "$RUNS"); do
  run_sluiced "$TMP/e2e$r" "${PDFS[@]}" | tee -a "$TMP/e2e"
  if [ -n "${BASELINE_SLUICED:-}" ]; then
    SLUICED_BIN=$BASELINE_SLUICED run_sluiced "$TMP/before$r" "${PDFS[@]}" | tee -a "$TMP/before"
  fi
done
E2E_PAGES=$(field pages_per_sec < "$TMP/e2e" | median)
E2E_CHUNKS=$(field chunks_per_sec < "$TMP/e2e" | median)
E2E_EMBED=$(field embed_chunks_per_stage_sec < "$TMP/e2e" | median)
E2E_RSS=$(field peak_rss_mib < "$TMP/e2e" | median)
# Beside the end to end figure: the extraction ceiling and the Python
# pipeline, which hash the same way (with use they would compare an encoder
# with a hash)
BESIDE=""
if [ "$EMBED" = hash ]; then
  BESIDE="; $(ratio "$E2E_PAGES" "$(cat "$TMP/mutool2")")× \`mutool draw -F txt\` two files at a time ($(printf %.0f "$(cat "$TMP/mutool2")") pages/s), $(ratio "$E2E_PAGES" "$PY_PAGES")× the Python pipeline"
fi
ENCODER_ROW=""
if [ "$EMBED" = use ]; then
  # The encoder alone on the same texts, as the embed stage runs it: one
  # one-thread encoder per core at once (embed.threads), their rates summed.
  # The texts are what the first end to end run embedded (its store: each
  # chunk's context, a blank line and its text), 600 of them
  echo "== the encoder alone"
  /usr/bin/python3 - "$TMP/e2e1/sluice.db" "$TMP/chunks.json" <<'PY'
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT context, text FROM chunks ORDER BY rid LIMIT 600").fetchall()
json.dump({"texts": [(c + "\n\n" + t) if c else t for c, t in rows]}, open(sys.argv[2], "w"))
PY
  for r in $(seq "$RUNS"); do
    for c in $(seq "$(nproc)"); do
      OPENBLAS_NUM_THREADS=1 ./build-rel/bench/bench_use embed --model "${SLUICE_MODEL_DIR:-$ROOT/models}/use-lite" \
          --in "$TMP/chunks.json" --batch 64 --seconds 8 > "$TMP/enc$c.json" &
    done
    wait
    cat "$TMP"/enc*.json | sed -n 's/.*"chunks_per_s": \([0-9.]*\).*/\1/p' | paste -sd+ | bc -l
  done | median > "$TMP/encoder"
  ENCODER_ROW="| the encoder alone ($(nproc) one-thread \`bench_use embed\` at once, batch 64, 600 of the chunks the run above embedded) | $(printf %.0f "$(cat "$TMP/encoder")") chunks/s | end to end is $(ratio "$E2E_CHUNKS" "$(cat "$TMP/encoder")")× of it |
"
fi
BEFORE_ROW=""
if [ -n "${BASELINE_SLUICED:-}" ]; then
  BEFORE_ROW="| end to end, the binary before the change (\`$BASELINE_SLUICED\`) | $(field pages_per_sec < "$TMP/before" | median) pages/s, $(field chunks_per_sec < "$TMP/before" | median) chunks/s | runs interleaved with the row above |
"
fi

echo "== largest PDF"
mutool merge -o "$TMP/big.pdf" $(for i in $(seq 9); do echo "$CORPUS/mpman.pdf"; done)
BIG=$(run_sluiced "$TMP/big" "$TMP/big.pdf" | tee /dev/stderr)
BIG_PAGES=$(echo "$BIG" | field pages); BIG_RSS=$(echo "$BIG" | field peak_rss_mib)
BIG_RATE=$(echo "$BIG" | field pages_per_sec)

SECTION=$(cat <<MD
## Pipeline ($EMBED embedder)

Run \`bash bench/pipeline.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)),
embedder \`$EMBED\`, corpus: the ${#PDFS[@]} public PDFs in \`shared/corpus/pdf\` ($PAGES pages),
median of $RUNS runs.

| what | figure | beside it (same run) |
|---|---:|---|
| parse, 1 thread (one parse actor) | $(printf %.0f "$(cat "$TMP/parse1")") pages/s | \`mutool draw -F txt\` on the same files: $(printf %.0f "$(cat "$TMP/mutool")") pages/s (ratio $(ratio "$(cat "$TMP/parse1")" "$(cat "$TMP/mutool")")) |
| parse, 2 threads (two parse actors) | $(printf %.0f "$(cat "$TMP/parse2")") pages/s | ratio to mutool $(ratio "$(cat "$TMP/parse2")" "$(cat "$TMP/mutool")") |
| end to end, \`sluiced --role all\`, corpus folder | $E2E_PAGES pages/s, $E2E_CHUNKS chunks/s | fetch → parse → chunk → embed → store, all committed$BESIDE |
| the Python pipeline (\`bench/baseline_pipeline.py\`, two processes) | $PY_PAGES pages/s, $PY_CHUNKS chunks/s | PyMuPDF, recursive splitter, numpy hashing, SQLite + FTS5 |
${BEFORE_ROW}| embed stage | $E2E_EMBED chunks/s | chunks / summed embed-stage time |
${ENCODER_ROW}| peak RSS, corpus run | $E2E_RSS MiB | whole process (broker + every actor) |
| largest PDF ($BIG_PAGES pages) | $BIG_RATE pages/s end to end, peak RSS $BIG_RSS MiB | memory stays flat: pages are streamed to disk, never held together (it is 9 copies of one manual: an embedder that is cached, such as \`use\`, embeds 1 chunk in 9; \`embed.cache=auto\` leaves \`hash\` uncached) |

\`mutool\` is timed as a process per file (its start-up is included, as a user running it would
pay it); the parse library is timed in-process. Two threads share 2 cores with nothing else
of ours running.
MD
)
python3 - "$SECTION" "$EMBED" <<'PY'
import re, sys
section = sys.argv[1].rstrip() + "\n"
path = "bench/RESULTS.md"
text = open(path).read()
pattern = re.compile(r"^## Pipeline \(%s embedder\)\n.*?(?=^## |\Z)" % re.escape(sys.argv[2]), re.S | re.M)
m = pattern.search(text)
if m:
    # the section's "### " subsections (notes of earlier work) stay
    old = m.group(0)
    keep = old[old.index("\n### "):].strip("\n") + "\n\n" if "\n### " in old else ""
    text = text[:m.start()] + section + "\n" + keep + text[m.end():]
else:
    text = text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
echo "bench/RESULTS.md updated"
