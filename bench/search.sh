#!/usr/bin/env bash
# search.sh: search latency and exact-word retrieval, vector vs hybrid vs
# lexical, on the public corpus, in one run.
#
#   bash bench/search.sh        (EMBED=use by default; ROUNDS=5; SEED=7)
#
# Starts a fresh `sluiced --role all` (Release build in build-rel), ingests
# the corpus PDFs with bench/pipeline_driver.py, then bench/search_driver.py
# asks the same queries in every mode, interleaved, through the broker's
# query service (what the HTTP edge calls): natural-language questions, five
# consecutive words of a stored chunk (is that chunk first / in the top 5?),
# and rare words (identifiers, codes: is a chunk holding the word in the top
# 5?). The query sets come from the stored chunks with a fixed seed.
# Rewrites the "## Search" section of bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EMBED=${EMBED:-use}
ROUNDS=${ROUNDS:-5}
SEED=${SEED:-7}
CORPUS=${SLUICE_SHARED_DIR:-$ROOT/../shared}/corpus/pdf
[ -d "$CORPUS" ] || { echo "search.sh: corpus not found at $CORPUS" >&2; exit 1; }
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-rel -j2 --target sluiced >/dev/null
TMP=$(mktemp -d); trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$TMP"' EXIT
PDFS=("$CORPUS"/*.pdf)
PORT=$((20000 + RANDOM % 12000))
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
./build-rel/actors/sluiced --data "$TMP/data" --set log.level=warn --set broker.bind=tcp://127.0.0.1:$PORT \
    --set fetch.file_roots="$CORPUS" --set embed.provider="$EMBED" > "$TMP/sluiced.log" 2>&1 &
PID=$!
echo "== ingest (${#PDFS[@]} PDFs, $EMBED embedder)"
/usr/bin/python3 bench/pipeline_driver.py "$PORT" "$PID" "${PDFS[@]}" | tee "$TMP/ingest"
echo "== search ($ROUNDS rounds)"
/usr/bin/python3 bench/search_driver.py "$PORT" "$ROUNDS" "$SEED" | tee "$TMP/search"
kill -TERM "$PID"; wait "$PID" || true
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

field () { sed -n "s/.*$1=\([0-9./]*\).*/\1/p"; }
row () {   # mode
  local line; line=$(grep "mode=$1 " "$TMP/search")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(echo "$line" | field p50_ms)" "$(echo "$line" | field p95_ms)" \
    "$(echo "$line" | field words_at1)" "$(echo "$line" | field words_at5)" "$(echo "$line" | field rare_at5)"
}
P50V=$(grep "mode=vector " "$TMP/search" | field p50_ms)
P50H=$(grep "mode=hybrid " "$TMP/search" | field p50_ms)
CHUNKS=$(grep "mode=vector " "$TMP/search" | field chunks)
QUERIES=$(grep "mode=vector " "$TMP/search" | field queries)
SECTION=$(cat <<MD
## Search

Run \`bash bench/search.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, load $LOAD_BEFORE before, $LOAD_AFTER after),
embedder \`$EMBED\`, the ${#PDFS[@]} corpus PDFs ingested into one workspace ($CHUNKS chunks), seed $SEED.
Every query in every mode through the broker's query service (what the HTTP edge calls),
$ROUNDS interleaved rounds, $QUERIES queries per mode; latency includes embedding the query.

| mode | p50 ms | p95 ms | 5 words of a chunk: that chunk first | …in the top 5 | rare word: a chunk with it in the top 5 |
|---|---:|---:|---:|---:|---:|
$(row vector)
$(row hybrid)
$(row lexical)

Hybrid / vector latency at p50: $(echo "scale=2; $P50H / $P50V" | bc -l)x.

How to read it:
- "5 words of a chunk": five consecutive words cut from a stored chunk, as a person pastes a
  remembered sentence; "rare word": one identifier, code or long word from a chunk. Both
  query sets are drawn from the stored chunks with the seed above (\`bench/search_driver.py\`).
- A pretrained sentence encoder embeds meaning, so a fragment of a sentence or an identifier
  lands near many chunks about the same subject; hybrid adds the chunks holding every
  significant query word (SQLite FTS5 here) through reciprocal rank fusion, which is what
  the two right-hand columns measure. The lexical mode alone misses paraphrases (no word in
  common), which is why it is not the default.
- Five words can occur in more than one chunk (overlapping chunks, repeated text), so "that
  chunk first" undercounts what a person would call a right answer, equally for every mode.
MD
)
python3 - "$SECTION" <<'PY'
import re, sys
section = sys.argv[1].rstrip() + "\n"
path = "bench/RESULTS.md"
text = open(path).read()
pattern = re.compile(r"^## Search\n.*?(?=^## |\Z)", re.S | re.M)
text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
echo "bench/RESULTS.md updated"
