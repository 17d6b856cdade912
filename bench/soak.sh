#!/usr/bin/env bash
# soak.sh: the whole public corpus uploaded over HTTP into one `sluiced`
# with the default `use` embedder, so the backlog lasts far longer than
# jobs.stale_s: every job must complete, none be re-driven, and the blobs
# of refused uploads be taken back by the collector.
#
# Figures: time, pages/s, the longest a job waited in a queue, broker
# submits at fetch (= documents: no re-drive multiplied a message), the
# re-driver's outcomes, peak RSS, disk used after ingest and after the
# collector, bytes reclaimed. Writes "## Soak" in bench/RESULTS.md.
# Usage: bash bench/soak.sh   (REFUSED=50 junk uploads, STALE=5 s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CORPUS=${SLUICE_SHARED_DIR:-$ROOT/../shared}/corpus
REFUSED=${REFUSED:-50}
STALE=${STALE:-5}
[ -d "$CORPUS" ] || { echo "soak.sh: corpus not found at $CORPUS" >&2; exit 1; }
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-rel -j2 --target sluiced >/dev/null
TMP=$(mktemp -d); trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$TMP"' EXIT
FILES=("$CORPUS"/pdf/*.pdf "$CORPUS"/html/*.html "$CORPUS"/text/*)
HTTP=$((20000 + RANDOM % 6000)); BROKER=$((26000 + RANDOM % 6000))
./build-rel/actors/sluiced --data "$TMP/data" --set log.level=warn --set http.port=$HTTP \
    --set broker.bind=tcp://127.0.0.1:$BROKER --set jobs.stale_s=$STALE --set jobs.redrive_interval_s=1 \
    --set storage.gc_interval_s=5 --set storage.gc_grace_s=5 > "$TMP/sluiced.log" 2>&1 &
PID=$!
LINE=$(SOAK_GC_WAIT=15 /usr/bin/python3 bench/soak_driver.py $HTTP $BROKER $PID "$TMP/data" "$REFUSED" "${FILES[@]}")
kill -TERM $PID; wait $PID || true
echo "$LINE"
f () { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $LINE"; }
SECTION=$(cat <<MD
## Soak: the whole corpus through one sluiced, backlog far past jobs.stale_s

Run \`bash bench/soak.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)):
one \`sluiced\` (every role, defaults, the pretrained \`use\` embedder), \`jobs.stale_s=$STALE\`,
\`jobs.redrive_interval_s=1\`, collector every 5 s with a 5 s grace. Every file of
\`shared/corpus\` ($(f files) files, $(f pages) pages) uploaded over HTTP as fast as the edge takes
them, then $REFUSED uploads of 256 KiB of random bytes named \`.txt\` (accepted, then failed by parse:
their blobs are garbage).

| what | figure |
|---|---:|
| jobs by final state | $(f states) |
| documents stored | $(f documents) |
| time to the last job's end | $(f seconds) s ($(f pages_per_sec) pages/s) |
| the longest a job waited before fetch took it | $(f longest_queue_wait_s) s (jobs.stale_s = $STALE) |
| broker submits at fetch | $(f fetch_submitted) (one per accepted job: nothing sent twice) |
| re-driver: re-driven / held (asked, broker still had it) / abandoned | $(f redriven) / $(f held) / $(f abandoned) |
| peak RSS of the process | $(f peak_rss_mib) MiB |
| data folder after ingest → after the collector | $(f disk_after_ingest_mib) MiB → $(f disk_after_gc_mib) MiB |
| reclaimed by the collector | $(f reclaimed_mib) MiB in $(f reclaimed_files) files |

Before the liveness change, the same run failed jobs as "abandoned after 3 attempts" once the
backlog passed \`jobs.stale_s\` (the re-driver took a silent job for a dead one), and each re-drive
added a message to the backlog.
MD
)
/usr/bin/python3 - "$SECTION" <<'PY'
import re, sys
path = "bench/RESULTS.md"
text = open(path).read()
section = sys.argv[1].rstrip() + "\n"
head = section.splitlines()[0]
pat = re.compile(r"^## Soak.*?(?=^## |\Z)", re.S | re.M)
text = pat.sub(section + "\n", text) if pat.search(text) else text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
