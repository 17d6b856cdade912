#!/usr/bin/env bash
# edge.sh: POST /v1/ingest on Sluice's HTTP edge, beside the same endpoint
# built the common way (FastAPI + uvicorn, jobs enqueued in Redis:
# bench/baseline_fastapi.py), in the same run; then 1000 concurrent uploads
# of real PDFs through the whole pipeline.
#
#   bash bench/edge.sh
#
# wrk drives both servers with the same Lua scripts: small JSON bodies naming
# one (always different) URL (bench/wrk_ingest_url.lua) and small multipart
# uploads (bench/wrk_upload.lua), at 64 and 256 connections, in interleaved
# rounds (a burst of load from elsewhere hits both alike); the median of the
# rounds is reported. Both sides only *accept* work: Sluice runs the roles an
# accept needs (broker, intake, journal, query, edge) and no stage consumes
# the queue, the baseline has no consumer either; every run starts empty
# (fresh data folder, FLUSHALL).
#
# Then bench/edge_uploads.py sends N_UPLOADS concurrent PDF uploads to a full
# `sluiced` (all roles) under /usr/bin/time -v and checks that every upload is
# answered 202 or 429 and every accepted job completes.
#
# Rewrites the "## HTTP edge" section of bench/RESULTS.md; other sections
# are left as they are. Knobs: RUNS (3), DURATION (10 s), N_UPLOADS (1000),
# BUILD (build-bench), NO_BUILD=1 (use the sluiced already in BUILD). Takes
# about 5 minutes on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
SLUICED="$BUILD/actors/sluiced"
RESULTS=${RESULTS:-$ROOT/bench/RESULTS.md}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
N_UPLOADS=${N_UPLOADS:-1000}
PY=/usr/bin/python3
CORPUS="${SLUICE_SHARED_DIR:-$ROOT/../shared}/corpus/pdf"

for tool in cmake wrk redis-server redis-cli /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "edge.sh: $tool not found (run scripts/setup-deps.sh)" >&2; exit 1; }
done
$PY -c 'import fastapi, uvicorn, redis, multipart' 2>/dev/null \
  || { echo "edge.sh: python3-fastapi/uvicorn/redis/multipart missing (run scripts/setup-deps.sh)" >&2; exit 1; }

if [ -z "${NO_BUILD:-}" ]; then
  echo "edge.sh: building sluiced (Release) in $BUILD" >&2
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target sluiced >/dev/null
fi
[ -x "$SLUICED" ] || { echo "edge.sh: no sluiced at $SLUICED" >&2; exit 1; }

TMP=$(mktemp -d /tmp/sluice-bench-edge-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Two consecutive free ports (the broker's events socket is its port + 1),
# outside the ephemeral range so no client connection takes one meanwhile
free_pair() {
  $PY -c '
import random, socket
while True:
    p = random.randint(20000, 30000); ok = True
    for q in (p, p + 1):
        s = socket.socket()
        try: s.bind(("127.0.0.1", q))
        except OSError: ok = False
        s.close()
    if ok: print(p); break'
}

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
  --daemonize no --logfile "$TMP/redis.log" &
PIDS+=($!)
for _ in $(seq 50); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done

wait_http() {      # wait_http URL LOG
  for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "edge.sh: $1 did not come up:" >&2; tail -5 "$2" >&2; return 1
}

SERVER_PID=
start_sluice() {   # accept path only: no stage consumes the queue
  local port=$1
  rm -rf "$TMP/sluice"
  "$SLUICED" --role broker,journal,query,intake,edge --data "$TMP/sluice" --set log.level=warn \
    --set "broker.bind=tcp://127.0.0.1:$(free_pair)" --set "http.port=$port" \
    --set jobs.max_pending=100000000 --set jobs.redrive=false >"$TMP/sluice.log" 2>&1 &
  SERVER_PID=$!
  wait_http "http://127.0.0.1:$port/readyz" "$TMP/sluice.log"
}
start_baseline() {
  local port=$1
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  rm -rf "$TMP/blobs"
  REDIS_PORT=$REDIS_PORT BLOB_DIR="$TMP/blobs" $PY -m uvicorn baseline_fastapi:app --app-dir "$ROOT/bench" \
    --host 127.0.0.1 --port "$port" --workers 2 --no-access-log --log-level warning >"$TMP/uvicorn.log" 2>&1 &
  SERVER_PID=$!
  sleep 1
  wait_http "http://127.0.0.1:$port/docs" "$TMP/uvicorn.log"
}
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# run_wrk NAME URL SCRIPT CONNS -> appends "NAME rps p99_ms non2xx errors" to $TMP/runs
run_wrk() {
  local name=$1 url=$2 script=$3 conns=$4 out
  out=$(cd "$ROOT/bench" && wrk -t2 -c"$conns" -d"${DURATION}s" --timeout 10s --latency ${script:+-s "$script"} "$url" 2>&1)
  echo "$out" >"$TMP/wrk-$name.txt"
  $PY -c '
import re, sys
text = open(sys.argv[2]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print(sys.argv[1], rps, p99, non2xx.group(1) if non2xx else 0, (errors.group(1) if errors else "none").replace(" ", ""))
' "$name" "$TMP/wrk-$name.txt" >>"$TMP/runs"
  echo "  $name: $(tail -1 "$TMP/runs")" >&2
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
: >"$TMP/runs"
SPORT=$(free_pair)
BPORT=$(free_pair)
for round in $(seq "$RUNS"); do
  echo "edge.sh: round $round/$RUNS" >&2
  for conns in 64 256; do
    for work in url upload; do
      script=wrk_ingest_url.lua; [ "$work" = upload ] && script=wrk_upload.lua
      SPORT=$(free_pair)
      start_sluice "$SPORT"
      run_wrk "sluice-$work-$conns" "http://127.0.0.1:$SPORT" "$script" "$conns"
      stop_server
      BPORT=$(free_pair)
      start_baseline "$BPORT"
      run_wrk "fastapi-$work-$conns" "http://127.0.0.1:$BPORT" "$script" "$conns"
      stop_server
    done
  done
  # Diagnostics: the edge alone, and an edge -> broker -> query round trip
  SPORT=$(free_pair)
  start_sluice "$SPORT"
  run_wrk "diag-healthz-256" "http://127.0.0.1:$SPORT/healthz" "" 256
  JOB=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"url":"http://127.0.0.1:9/x"}' \
        "http://127.0.0.1:$SPORT/v1/ingest" | $PY -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
  run_wrk "diag-jobget-64" "http://127.0.0.1:$SPORT/v1/jobs/$JOB" "" 64
  stop_server
done

echo "edge.sh: $N_UPLOADS concurrent PDF uploads through the whole pipeline" >&2
UPLOADS="{}"
if [ -d "$CORPUS" ]; then
  UPLOADS=$($PY "$ROOT/bench/edge_uploads.py" "$SLUICED" "$CORPUS" "$N_UPLOADS" || true)
  echo "  $UPLOADS" >&2
else
  echo "edge.sh: no corpus at $CORPUS: skipping the upload run" >&2
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - START ))

export RESULTS RUNS DURATION N_UPLOADS LOAD_BEFORE LOAD_AFTER ELAPSED UPLOADS TMP
$PY - <<'PY'
import json, os, re, statistics, subprocess, datetime
env = os.environ
runs = {}
for line in open(os.path.join(env["TMP"], "runs")):
    name, rps, p99, non2xx, errors = line.split()
    runs.setdefault(name, []).append((float(rps), float(p99), int(non2xx), errors))

def cell(name):
    r = runs.get(name)
    if not r:
        return None
    rps = statistics.median(x[0] for x in r)
    p99 = statistics.median(x[1] for x in r)
    bad = sum(x[2] for x in r)
    return rps, p99, bad, ", ".join("%.0f" % x[0] for x in r)

cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                     text=True).stdout.strip()
rows = []
for work, label in (("url", "JSON URL body"), ("upload", "multipart upload, 2 KiB")):
    for conns in (64, 256):
        s, f = cell("sluice-%s-%d" % (work, conns)), cell("fastapi-%s-%d" % (work, conns))
        if not s or not f:
            continue
        rows.append("| %s | %d | %s | %s | %.1f | %.1f | %.2fx | %s / %s |" % (
            label, conns, "{:,.0f}".format(s[0]), "{:,.0f}".format(f[0]), s[1], f[1], s[0] / f[0],
            s[3], f[3]))
        if s[2] or f[2]:
            rows[-1] += " non-2xx: %d / %d" % (s[2], f[2])
diag = []
for name, label in (("diag-healthz-256", "GET /healthz (edge alone), 256 connections"),
                    ("diag-jobget-64", "GET /v1/jobs/{id} (edge -> broker -> query -> SQLite), 64 connections")):
    c = cell(name)
    if c:
        diag.append("| %s | %s | %.1f |" % (label, "{:,.0f}".format(c[0]), c[1]))
try:
    up = json.loads(env.get("UPLOADS") or "{}")
except ValueError:
    up = {}
lines = ["## HTTP edge", "",
 "POST /v1/ingest on the Sluice edge beside the same endpoint built the common way:",
 "FastAPI + uvicorn (2 workers, uvloop + httptools) recording each job in Redis (a hash",
 "plus RPUSH onto a list, one pipeline): `bench/baseline_fastapi.py`. Same wrk Lua",
 "scripts for both (`bench/wrk_ingest_url.lua`: a small JSON body naming one, always",
 "different, URL; `bench/wrk_upload.lua`: a ~2 KiB multipart file part), `wrk -t2`,",
 "%s s per run, %s interleaved rounds, median shown. Both sides only accept: Sluice runs" % (env["DURATION"], env["RUNS"]),
 "the roles an accept needs (`--role broker,journal,query,intake,edge`), nothing consumes",
 "the queues, every run starts from an empty data folder / FLUSHALL.",
 "",
 "Run `bash bench/edge.sh` on %s: %d cores (%s), load average %s before, %s after;" % (
     datetime.date.today().isoformat(), os.cpu_count(), cpu, env["LOAD_BEFORE"], env["LOAD_AFTER"]),
 "%s s in all." % env["ELAPSED"],
 "",
 "| Body | Connections | Sluice req/s | FastAPI+Redis req/s | Sluice p99 ms | FastAPI p99 ms | Sluice / FastAPI | runs, req/s (Sluice / FastAPI) |",
 "|---|---:|---:|---:|---:|---:|---:|---|"] + rows + ["",
 "Where the time goes (same run, Sluice only):", "",
 "| Request | req/s | p99 ms |", "|---|---:|---:|"] + diag + ["",
 "What differs, so the figures are read fairly:",
 "- A Sluice 202 means the job is in SQLite (WAL, synchronous=NORMAL: survives a",
 "  process crash) and its first pipeline message and `job_started` event are queued;",
 "  intake then refuses with 429 when `jobs.max_pending` jobs are unfinished (a count",
 "  refreshed once a second, exact near the limit). The baseline's 202 means two",
 "  Redis commands were sent to a Redis without persistence: nothing survives a crash,",
 "  and nothing bounds the queue.",
 "- The edge itself is not the limit: it answers GET /healthz at the rate in the",
 "  diagnostic table, and a broker round trip to `query` at the second diagnostic",
 "  row. An ingest is an edge -> broker -> intake (SQLite write, pending count) ->",
 "  broker -> journal round trip; intake runs `intake.concurrency` (4) handlers.",
 "- Tried: writing `job_started` in intake instead of through the journal (one broker hop",
 "  less) changed neither req/s nor CPU per request in an A/B; the accept path is CPU-bound",
 "  across the HTTP, libzmq I/O, broker and intake threads, about 0.4 ms of CPU per accept.",
 ""]
if up:
    lines += ["### %d concurrent PDF uploads" % up.get("uploads", 0), "",
     "`bench/edge_uploads.py`: %d clients start at once (a barrier), each uploading one real PDF" % up.get("uploads", 0),
     "from the corpus (4-17 pages, 140-240 KiB; a unique comment appended after `%%EOF` so no",
     "upload is a duplicate) as multipart to a full `sluiced` (all roles, defaults, under",
     "`/usr/bin/time -v`), then waits until every accepted job has finished.", "",
     "| What | Result |", "|---|---|",
     "| HTTP answers | %s |" % ", ".join("%s: %d" % (k, v) for k, v in sorted(up.get("statuses", {}).items())),
     "| accepted jobs, final states | %d: %s |" % (up.get("accepted", 0),
         ", ".join("%s %d" % (k, v) for k, v in sorted(up.get("job_states", {}).items()))),
     "| time to answer (p50 / p99) | %.2f s / %.2f s |" % (up.get("answer_p50_s") or 0, up.get("answer_p99_s") or 0),
     "| all answered after / all jobs finished after | %s s / %s s |" % (up.get("all_answered_s"), up.get("all_done_s")),
     "| peak threads of sluiced (one per HTTP connection + actors) | %s |" % up.get("peak_threads"),
     "| peak RSS of sluiced (whole pipeline) | %s MiB |" % up.get("peak_rss_mb"),
     "| every upload 202 or 429, every accepted job completed | %s |" % ("yes" if up.get("ok") else "NO"), ""]
lines += ["Commands: `bash bench/edge.sh` (knobs RUNS, DURATION, N_UPLOADS, BUILD); the baseline alone:",
 "`REDIS_PORT=<port> python3 -m uvicorn baseline_fastapi:app --app-dir bench --workers 2`.", ""]
section = "\n".join(lines)
path = env["RESULTS"]
text = open(path).read() if os.path.exists(path) else "# Sluice benchmark results\n"
pattern = re.compile(r"^## HTTP edge\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda m: section + "\n", text)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
print(section)
PY
