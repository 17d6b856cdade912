#!/usr/bin/env bash
# broker.sh: reliable round trips per second through the Sluice broker, beside
# raw libzmq (the ceiling) and a Redis list queue (what people use instead).
#
#   bash bench/broker.sh
#
# Builds bench_broker (Release, in build-bench), starts a private redis-server
# on a free loopback port (no persistence, temp dir, stopped on exit), runs
# every variant RUNS times in interleaved rounds (so a burst of load from
# elsewhere hits every variant alike), takes the median, prints a markdown
# table and rewrites the "## Broker round trips" section of bench/RESULTS.md.
# Other sections of that file are left as they are.
#
# Knobs (environment): RUNS (3), N_BROKER (100000), N_ZMQ (200000),
# N_REDIS (30000), CREDIT (8), WINDOW (1000). Takes about 2-3 minutes on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-bench"
BIN="$BUILD/bench/bench_broker"
RESULTS="$ROOT/bench/RESULTS.md"
RUNS=${RUNS:-3}
N_BROKER=${N_BROKER:-100000}
N_ZMQ=${N_ZMQ:-200000}
N_REDIS=${N_REDIS:-30000}
CREDIT=${CREDIT:-8}
WINDOW=${WINDOW:-1000}

for tool in cmake redis-server redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "broker.sh: $tool not found (run scripts/setup-deps.sh)" >&2; exit 1; }
done

echo "broker.sh: building bench_broker (Release) in $BUILD" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bench_broker >/dev/null
[ -x "$BIN" ] || { echo "broker.sh: $BIN was not built (is libhiredis-dev installed?)" >&2; exit 1; }

# A private Redis: loopback only, nothing written to disk, gone on exit
TMP=$(mktemp -d /tmp/sluice-bench-XXXXXX)
REDIS_PID=
cleanup() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
  --daemonize no --logfile "$TMP/redis.log" &
REDIS_PID=$!
for _ in $(seq 50); do
  [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
[ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] || { echo "broker.sh: redis-server did not start" >&2; cat "$TMP/redis.log" >&2; exit 1; }
REDIS_VERSION=$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')

# Variants: key|label|arguments (the port is filled in at run time)
VARIANTS=(
  "sluice-inproc-1|Sluice broker, inproc, 1 worker|sluice --transport inproc --workers 1 --credit $CREDIT --window $WINDOW --messages $N_BROKER"
  "sluice-inproc-2|Sluice broker, inproc, 2 workers|sluice --transport inproc --workers 2 --credit $CREDIT --window $WINDOW --messages $N_BROKER"
  "sluice-tcp-1|Sluice broker, tcp, 1 worker|sluice --transport tcp --workers 1 --credit $CREDIT --window $WINDOW --messages $N_BROKER"
  "sluice-tcp-2|Sluice broker, tcp, 2 workers|sluice --transport tcp --workers 2 --credit $CREDIT --window $WINDOW --messages $N_BROKER"
  "inline-inproc-1|Sluice broker, inproc, 1 inline worker|sluice --transport inproc --workers 1 --worker inline --credit $CREDIT --window $WINDOW --messages $N_BROKER"
  "inline-tcp-1|Sluice broker, tcp, 1 inline worker|sluice --transport tcp --workers 1 --worker inline --credit $CREDIT --window $WINDOW --messages $N_BROKER"
  "inline-tcp-2|Sluice broker, tcp, 2 inline workers|sluice --transport tcp --workers 2 --worker inline --credit $CREDIT --window $WINDOW --messages $N_BROKER"
  "zmq-inproc|libzmq PUSH/PULL, inproc (ceiling)|zmq --transport inproc --messages $N_ZMQ"
  "zmq-tcp|libzmq PUSH/PULL, tcp (ceiling)|zmq --transport tcp --messages $N_ZMQ"
  "redis-1|Redis list queue, 1 consumer|redis --port @PORT@ --consumers 1 --window $WINDOW --messages $N_REDIS"
  "redis-2|Redis list queue, 2 consumers|redis --port @PORT@ --consumers 2 --window $WINDOW --messages $N_REDIS"
  "redis-$CREDIT|Redis list queue, $CREDIT consumers (in flight as 1 Sluice worker)|redis --port @PORT@ --consumers $CREDIT --window $WINDOW --messages $N_REDIS"
  "redis-$((2 * CREDIT))|Redis list queue, $((2 * CREDIT)) consumers (in flight as 2 Sluice workers)|redis --port @PORT@ --consumers $((2 * CREDIT)) --window $WINDOW --messages $N_REDIS"
  "raw-inproc-1|Diagnostic: broker with a protocol-level worker, inproc, credit 64|sluice --transport inproc --workers 1 --worker raw --credit 64 --window $WINDOW --messages $N_BROKER"
)

declare -A RATES
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
for round in $(seq "$RUNS"); do
  for v in "${VARIANTS[@]}"; do
    IFS='|' read -r key label args <<<"$v"
    args=${args//@PORT@/$PORT}
    # shellcheck disable=SC2086
    if ! line=$("$BIN" $args 2>"$TMP/stderr"); then
      echo "broker.sh: $key failed:" >&2
      cat "$TMP/stderr" >&2
      exit 1
    fi
    rate=$(sed -n 's/.*msgs_per_sec=\([0-9]*\).*/\1/p' <<<"$line")
    RATES[$key]="${RATES[$key]:-} $rate"
    printf 'round %d  %-16s %10s msgs/s\n' "$round" "$key" "$rate" >&2
  done
done
ELAPSED=$(( $(date +%s) - START ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Medians, ratios, the table and the file are done in python (below)
export RESULTS RUNS N_BROKER N_ZMQ N_REDIS CREDIT WINDOW LOAD_BEFORE LOAD_AFTER ELAPSED REDIS_VERSION
NPROC=$(nproc)
CPU=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
ZMQ_VERSION=$(pkg-config --modversion libzmq)
export NPROC CPU ZMQ_VERSION
export RATES_FILE="$TMP/rates"
for v in "${VARIANTS[@]}"; do
  IFS='|' read -r key label args <<<"$v"
  printf '%s|%s|%s|%s\n' "$key" "$label" "$args" "${RATES[$key]}"
done >"$RATES_FILE"

python3 - <<'PY'
import datetime, os, re, statistics

env = os.environ
credit = int(env["CREDIT"])
rows = []
for line in open(env["RATES_FILE"]):
    key, label, args, rates = line.rstrip("\n").split("|")
    runs = [int(r) for r in rates.split()]
    rows.append(dict(key=key, label=label, args=args, runs=runs, median=statistics.median(runs)))
by = {r["key"]: r["median"] for r in rows}

def times(a, b):
    x = by[a] / by[b]
    if x >= 1:
        return f"{x:.1f}x"
    return f"{x:.2f}x" if x >= 0.2 else f"1/{1 / x:.0f} ({x:.3f}x)"

table = ["| Variant | msgs/s (median) | runs, msgs/s | broker / Redis, same consumers "
         "| broker / Redis, same in flight | broker / libzmq, same transport |",
         "|---|---:|---|---:|---:|---:|"]
for r in rows:
    same = inflight = zmq = ""
    m = re.match(r"(?:sluice|inline)-(inproc|tcp)-(\d)$", r["key"])
    if m:
        t, w = m.group(1), int(m.group(2))
        same = times(r["key"], f"redis-{w}")
        if f"redis-{w * credit}" in by:
            inflight = times(r["key"], f"redis-{w * credit}")
        zmq = times(r["key"], f"zmq-{t}")
    if r["key"].startswith("raw-"):
        zmq = times(r["key"], "zmq-inproc")
    runs = ", ".join(f"{x:,}" for x in r["runs"])
    table.append(f"| {r['label']} | {r['median']:,.0f} | {runs} | {same or '-'} "
                 f"| {inflight or '-'} | {zmq or '-'} |")

def span(keys_a, keys_b):
    xs = [by[a] / by[b] for a, b in zip(keys_a, keys_b)]
    return min(xs), max(xs)
lo_r, hi_r = span(["sluice-inproc-1", "sluice-inproc-2", "sluice-tcp-1", "sluice-tcp-2"],
                  ["redis-1", "redis-2", "redis-1", "redis-2"])
lo_i, hi_i = span(["inline-inproc-1", "inline-tcp-1", "inline-tcp-2"],
                  [f"redis-{credit}", f"redis-{credit}", f"redis-{2 * credit}"])
lo_z, hi_z = span(["sluice-inproc-1", "sluice-inproc-2", "sluice-tcp-1", "sluice-tcp-2"],
                  ["zmq-inproc", "zmq-inproc", "zmq-tcp", "zmq-tcp"])
tcp_r = by["sluice-tcp-2"] / by[f"redis-{2 * credit}"] if f"redis-{2 * credit}" in by else None

today = datetime.date.today().isoformat()
cmds = "\n".join(f"    build-bench/bench/bench_broker {r['args'].replace('@PORT@', '<port>')}"
                 for r in rows)
section = f"""## Broker round trips

Reliable round trips per second with 1 KiB bodies. A Sluice round trip is
SUBMIT → ACCEPTED → DELIVER → handler → ACK, counted when the broker has
settled the ACK (its `completed` stat reaches N). Beside it, in the same run:
raw libzmq PUSH→PULL of 1 KiB messages (one way, no acknowledgement: the
ceiling) and a Redis list used as a reliable queue (producer pipelines RPUSH
in batches of 100; each consumer, on its own connection, does
`BLMOVE q processing LEFT LEFT` then `LREM processing 1 <job>` as the ack).

Run `bash bench/broker.sh` on {today}: {env['NPROC']} cores ({env['CPU']}),
libzmq {env['ZMQ_VERSION']}, Redis {env['REDIS_VERSION']} (private server on
loopback, no persistence). Load average {env['LOAD_BEFORE']} before,
{env['LOAD_AFTER']} after; {env['ELAPSED']} s of benchmarking. Each variant ran
{env['RUNS']} times in interleaved rounds; the median is shown.

{chr(10).join(table)}

Summary of this run: the broker did {lo_r:.1f}-{hi_r:.1f}x the Redis queue's
rate with the same number of consumers{f', {tcp_r:.1f}x with the same number in flight (tcp, 2 workers vs 16 consumers)' if tcp_r else ''}, and
{1 / hi_z:.0f}-{1 / lo_z:.0f}x below the one-way libzmq ceiling. With inline
workers (`concurrency 0`: the handler runs on the worker's actor thread, no
hand-off; prefetch keeps the same credit), the broker did
{lo_i:.1f}-{hi_i:.1f}x the Redis queue with the same number of messages in flight.

Settings, so the comparison is fair and repeatable:
- Everything runs in one process per variant (broker thread, worker
  threads, submitter), talking over the named transport; Redis is a separate
  process on loopback tcp. All share the same {env['NPROC']} cores.
- Sluice workers are `sl_worker` with {credit} handler threads each, so credit
  = {credit} per worker; the handler only checks the body size and returns
  SL_DONE. Default heartbeats (1 s, liveness 3); runtime stage events off
  (the `sl_worker` default; `--stage-events on` measures them).
- Sluice and Redis producers keep at most {env['WINDOW']} messages between sent and
  handled, so queues stay bounded and both measure steady state.
- A Redis consumer holds one job at a time (two blocking round trips per job),
  a Sluice worker up to {credit}: the "same in flight" column compares W Sluice
  workers with W x {credit} Redis consumers.
- The libzmq ceiling is one hop; a Sluice round trip is six ZeroMQ messages
  (SUBMIT, ACCEPTED, DELIVER, ACK, and the hand-off to and from the handler
  thread inside the worker), each with msgpack headers and envelope checks.
- The diagnostic row replaces `sl_worker` by a single-threaded worker that
  speaks the protocol directly with credit 64: the gap between it and the
  1-worker row is the worker runtime's share, the rest is the broker's.
- Every run checks that all N messages arrived intact (body size, Redis
  lists empty, broker completed = N) and fails instead of reporting.

Commands (N: {env['N_BROKER']} broker, {env['N_ZMQ']} libzmq, {env['N_REDIS']} Redis; `<port>` is the private
redis-server's):

{cmds}
"""

path = env["RESULTS"]
if os.path.exists(path):
    text = open(path).read()
else:
    text = ("# Sluice benchmark results\n\n"
            "Figures are from a shared 2-core machine where other work may run at the\n"
            "same time, so absolute numbers move between runs; compare the ratios within\n"
            "one run (every section states how its figures were taken and the command\n"
            "that reproduces them).\n")
pattern = re.compile(r"^## Broker round trips\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda m: section + "\n", text, count=1)
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text.rstrip("\n") + "\n")
print("\n".join(table))
print(f"\nbroker.sh: wrote the 'Broker round trips' section of {path}")
PY
