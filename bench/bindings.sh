#!/usr/bin/env bash
# bindings.sh: the client bindings against one running sluiced (all roles,
# default settings, so the real embedder): submit -> completed latency of a
# small text document through libsluice (ZeroMQ; bytes through the upload
# service's one-shot put; completion seen on a watch) and through the HTTP edge (POST
# /v1/ingest; completion seen on the job's SSE stream), p50 and p99; then
# submissions per second from one sequential client, both ways.
#
#   bash bench/bindings.sh
#
# libsluice is installed into a temporary prefix and bench/bench_bindings.c
# is compiled against that install with pkg-config (the way a user builds),
# plus libcurl and jansson for the HTTP side.
#
# Rewrites the "## Bindings" section of bench/RESULTS.md; other sections are
# left as they are. Knobs: N_LATENCY (200 documents each way), N_RATE (500),
# BUILD (build-bindings-bench), NO_BUILD=1. About 2 minutes on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bindings-bench}
SLUICED="$BUILD/actors/sluiced"
RESULTS=${RESULTS:-$ROOT/bench/RESULTS.md}
N_LATENCY=${N_LATENCY:-200}
N_RATE=${N_RATE:-500}
PY=/usr/bin/python3

if [ -z "${NO_BUILD:-}" ]; then
  echo "bindings.sh: building sluiced and libsluice (Release) in $BUILD" >&2
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target sluiced sluice_lib >/dev/null
fi
[ -x "$SLUICED" ] || { echo "bindings.sh: no sluiced at $SLUICED" >&2; exit 1; }

TMP=$(mktemp -d /tmp/sluice-bench-bindings-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Build the benchmark the way a user would: against an installed libsluice
cmake --install "$BUILD/bindings/c" --prefix "$TMP/prefix" >/dev/null
PCDIR=$(dirname "$(ls "$TMP"/prefix/lib*/pkgconfig/sluice.pc)")
export PKG_CONFIG_PATH="$PCDIR"
cc -O2 -o "$TMP/bench_bindings" "$ROOT/bench/bench_bindings.c" \
   $(pkg-config --cflags --libs sluice libcurl jansson) -Wl,-rpath,"$(dirname "$PCDIR")"

# Two consecutive free ports for the broker (+1: events), one for HTTP
ports=$($PY - <<'PY'
import random, socket
def free(n):
    for _ in range(200):
        p = random.randint(20000, 32000)
        try:
            socks = []
            for q in range(p, p + n):
                s = socket.socket(); s.bind(("127.0.0.1", q)); socks.append(s)
            for s in socks: s.close()
            return p
        except OSError:
            for s in socks: s.close()
    raise SystemExit("no free port")
print(free(2), free(1))
PY
)
read -r BPORT HPORT <<<"$ports"
mkdir -p "$TMP/data"
"$SLUICED" --role all --data "$TMP/data" --set log.level=warn --set broker.metrics_port=0 \
  --set worker.health_port=0 --set broker.bind=tcp://127.0.0.1:$BPORT --set http.port=$HPORT \
  >"$TMP/sluiced.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HPORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$HPORT/readyz" >/dev/null || { echo "bindings.sh: sluiced not ready" >&2; tail "$TMP/sluiced.log" >&2; exit 1; }

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
"$TMP/bench_bindings" "tcp://127.0.0.1:$BPORT" "http://127.0.0.1:$HPORT" "$N_LATENCY" "$N_RATE" > "$TMP/out"
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
cat "$TMP/out" >&2
PROVIDER=$(curl -sf "http://127.0.0.1:$HPORT/v1/status" | $PY -c 'import json,sys; print(json.load(sys.stdin).get("model",""))')

export RESULTS N_LATENCY N_RATE LOAD_BEFORE LOAD_AFTER TMP PROVIDER
$PY - <<'PY'
import datetime, os, re, subprocess
env = os.environ
v = dict(line.split() for line in open(os.path.join(env["TMP"], "out")) if line.strip())
f = lambda k: float(v[k])
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                     text=True).stdout.strip()
section = """## Bindings

`bash bench/bindings.sh` ({date}; {cpu}, {cores} cores; load {lb} before, {la} after; embedder `{model}`).
One `sluiced --role all` with default settings; one client, sequential. A small text document
(~330 bytes, each one distinct) from submission to completion: through **libsluice** (ZeroMQ:
`upload/put`, then `intake/ingest`; completion seen on a `sluice_watch_t`) and
through the **HTTP edge** (`POST /v1/ingest` with the raw bytes; completion seen on the job's SSE
stream), {n} documents each way, alternating, after 5 warm-up rounds each. The benchmark program is
built against an installed libsluice with `pkg-config --cflags --libs sluice`.

| path | submit → completed p50 | p99 |
|---|---|---|
| C client (libsluice) | {cp50:.1f} ms | {cp99:.1f} ms |
| HTTP edge (libcurl, SSE) | {hp50:.1f} ms | {hp99:.1f} ms |

Submissions per second from one client ({m} sequential submissions; accepted, not completed):

| what | submissions/s |
|---|---|
| C client, bytes (`sluice_client_ingest_bytes`: 2 round trips) | {cb:.0f} |
| C client, URL (`sluice_client_ingest_url`: 1 round trip) | {cu:.0f} |
| HTTP edge, bytes (`POST /v1/ingest`, keep-alive) | {hb:.0f} |

Almost all of the latency is the pipeline itself (fetch, parse, chunk, embed, store and the
journal's events); the client path adds little either way. A document's bytes cost one more round
trip than a URL (`upload/put` before `intake/ingest`) and, like an HTTP upload, two fsyncs (the
blob and its directory) before the job may refer to it: that, not the transport, is what
separates the bytes rows from the URL row. Documents over 1 MiB go as `begin`, parts, `commit`.
""".format(date=datetime.date.today().isoformat(), cpu=cpu, cores=os.cpu_count(), lb=env["LOAD_BEFORE"],
           la=env["LOAD_AFTER"], model=env.get("PROVIDER") or "?", n=env["N_LATENCY"], m=env["N_RATE"],
           cp50=f("c_p50_ms"), cp99=f("c_p99_ms"), hp50=f("http_p50_ms"), hp99=f("http_p99_ms"),
           cb=f("c_bytes_per_s"), cu=f("c_url_per_s"), hb=f("http_bytes_per_s"))
path = env["RESULTS"]
text = open(path).read() if os.path.exists(path) else "# Sluice benchmark results\n"
pattern = re.compile(r"^## Bindings\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda m: section + "\n", text)
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
print(section)
PY
