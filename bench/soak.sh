#!/usr/bin/env bash
# soak.sh: the whole public corpus uploaded over HTTP into one `sluiced`
# with the default `use` embedder, so the backlog lasts far longer than
# jobs.stale_s: every job must complete, none be re-driven, and the blobs
# of refused uploads be taken back by the collector.
#
# Figures: time, pages/s, the longest a job went without an event, broker
# submits at fetch (= documents: no re-drive multiplied a message), the
# re-driver's outcomes, peak RSS, junk uploaded vs reclaimed, the data
# folder at the end. Writes "## Soak" in bench/RESULTS.md.
# The same run is made against BASE (default: the last commit before the
# liveness change), built from a temporary worktree, as the baseline.
# Usage: bash bench/soak.sh   (REFUSED=50 junk uploads, STALE=5 s, BASE=rev)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CORPUS=${SLUICE_SHARED_DIR:-$ROOT/../shared}/corpus
REFUSED=${REFUSED:-50}
STALE=${STALE:-5}
BASE=${BASE:-6399811}
[ -d "$CORPUS" ] || { echo "soak.sh: corpus not found at $CORPUS" >&2; exit 1; }
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-rel -j2 --target sluiced >/dev/null
TMP=$(mktemp -d); trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$TMP"' EXIT
FILES=("$CORPUS"/pdf/*.pdf "$CORPUS"/html/*.html "$CORPUS"/text/*)
export SLUICE_MODEL_DIR=${SLUICE_MODEL_DIR:-$ROOT/models}
git worktree add -q --detach "$TMP/base" "$BASE"
cmake -S "$TMP/base" -B "$TMP/base/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$TMP/base/build" -j2 --target sluiced >/dev/null
trap 'pkill -P $$ 2>/dev/null || true; git worktree remove --force "$TMP/base" 2>/dev/null; rm -rf "$TMP"' EXIT

soak () {   # $1: sluiced binary; prints the driver's line
  local http=$((20000 + RANDOM % 6000)) broker=$((26000 + RANDOM % 6000)) data="$TMP/data$RANDOM"
  "$1" --data "$data" --set log.level=warn --set http.port=$http \
      --set broker.bind=tcp://127.0.0.1:$broker --set jobs.stale_s=$STALE --set jobs.redrive_interval_s=1 \
      --set storage.gc_interval_s=5 --set storage.gc_grace_s=5 > "$data.log" 2>&1 &
  local pid=$!
  SOAK_GC_WAIT=15 /usr/bin/python3 bench/soak_driver.py $http $broker $pid "$data" "$REFUSED" "${FILES[@]}"
  kill -TERM $pid; wait $pid || true
}
LINE=$(soak ./build-rel/actors/sluiced); echo "$LINE"
BASELINE=$(soak "$TMP/base/build/actors/sluiced"); echo "base: $BASELINE"
f () { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $LINE"; }
b () { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $BASELINE"; }
SECTION=$(cat <<MD
## Soak: the whole corpus through one sluiced, backlog far past jobs.stale_s

Run \`bash bench/soak.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)):
one \`sluiced\` (every role, defaults, the pretrained \`use\` embedder), \`jobs.stale_s=$STALE\`,
\`jobs.redrive_interval_s=1\`, collector every 5 s with a 5 s grace. Every file of
\`shared/corpus\` ($(f files) files, $(f pages) pages) uploaded over HTTP as fast as the edge takes
them, then $REFUSED uploads of 256 KiB of random bytes named \`.txt\` (accepted, then failed by parse:
their blobs are garbage).

| what | this build | baseline \`$BASE\` (same run) |
|---|---:|---:|
| jobs by final state | $(f states) | $(b states) |
| documents stored | $(f documents) | $(b documents) |
| jobs completed whose document was since overwritten by another upload | $(f completed_but_gone) | $(b completed_but_gone) |
| jobs failed as "abandoned" by the re-driver | $(f jobs_abandoned) | $(b jobs_abandoned) |
| re-drives (sum of the jobs' attempts) | $(f job_redrives) | $(b job_redrives) |
| broker submits at fetch (accepted jobs: $(f jobs)) | $(f fetch_submitted) | $(b fetch_submitted) |
| re-driver asked, broker still held the job (not re-driven) | $(f held) | – |
| time to the last job's end | $(f seconds) s ($(f pages_per_sec) pages/s) | $(b seconds) s ($(b pages_per_sec) pages/s) |
| the longest a job went without an event (waiting in a queue) | $(f longest_silence_s) s | $(b longest_silence_s) s |
| peak RSS of the process | $(f peak_rss_mib) MiB | $(b peak_rss_mib) MiB |
| junk uploaded → reclaimed by the collector | $(f junk_mib) MiB → $(f reclaimed_mib) MiB in $(f reclaimed_files) files | nothing reclaimed (no collector) |
| data folder at the end | $(f disk_end_mib) MiB | $(b disk_end_mib) MiB |

The baseline names uploads by base name only (\`?name=\` did not exist: every upload was
\`upload:upload\`), so its document count also shows the overwrites this change removed. Its shorter time is not
speed: half its documents were failed as abandoned (or overwritten) instead of ingested, and
its pages/s counts only the pages of documents that survived.
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
