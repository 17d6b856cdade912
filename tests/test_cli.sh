#!/usr/bin/env bash
# test_cli: the `sluice` command-line client end to end, against a real
# `sluiced` on loopback: every command, --json output, --wait with plain
# lines and with progress bars (under a pseudo-terminal), and every exit
# code the help promises (0 ok, 1 job failed, 2 usage/refused, 3 server
# unreachable, 4 not found, 5 rate-limited after retries).
#
# Env: SLUICED and SLUICE_CLI (binaries; default build/...).
# Ends with "N passed, N failed"; exits 1 if anything failed.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SLUICED="${SLUICED:-$ROOT/build/actors/sluiced}"
CLI="${SLUICE_CLI:-$ROOT/build/bindings/cli/sluice}"
PY=/usr/bin/python3
TMP="$(mktemp -d /tmp/sluice-cli-XXXXXX)"
PIDS=()
passed=0
failed=0

cleanup () {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

ok () { passed=$((passed + 1)); echo "ok   $1"; }
bad () { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2" | tail -20; }

# expect CODE NAME -- command...: run, compare the exit code, keep output in $OUT
expect () {
    local want="$1" name="$2"; shift 3
    OUT="$("$@" 2>&1)"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name (exit $rc)"; else bad "$name: exit $rc, wanted $want" "$OUT"; fi
}

# contains NAME NEEDLE: $OUT must contain NEEDLE
contains () {
    if grep -qF -- "$2" <<<"$OUT"; then ok "$1"; else bad "$1: no '$2' in output" "$OUT"; fi
}

# Ports come from tests/ports.py (below Linux's ephemeral range, 32768-60999,
# where the outgoing connections of the other tests land; a probe only here:
# its reservation ends with the python process).
free_port () {
    $PY "$(dirname "$0")/ports.py" 2
}

# start_sluiced NAME [--set k=v ...]: sets PORT_<NAME>, waits for /readyz.
# A parallel test can still take a probed port first: then start again on
# new ports (only for "Address already in use", anything else fails).
start_sluiced () {
    local name="$1"; shift
    local http broker pid try
    for try in 1 2 3; do
        http="$(free_port)"; broker="$(free_port)"
        "$SLUICED" --data "$TMP/$name" --set log.level=warn --set "http.port=$http" \
            --set "broker.bind=tcp://127.0.0.1:$broker" --set fetch.allow_cidrs=127.0.0.1/32 "$@" \
            >"$TMP/$name.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 100); do
            if curl -sf "http://127.0.0.1:$http/readyz" >/dev/null 2>&1; then
                PIDS+=("$pid")
                eval "PID_$name=$pid"
                eval "PORT_$name=$http"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        grep -q "Address already in use" "$TMP/$name.log" || break
        echo "# $name: port taken, starting again ($try)"
    done
    echo "sluiced $name did not get ready:"; tail -20 "$TMP/$name.log"
    return 1
}

[ -x "$SLUICED" ] || { echo "no sluiced at $SLUICED"; exit 2; }
[ -x "$CLI" ] || { echo "no sluice CLI at $CLI"; exit 2; }

# A document server: /docs/* from a folder, /stall/* never answers, others 404
mkdir -p "$TMP/www"
echo '<html><head><title>Otters</title></head><body><p>River otters juggle pebbles at dusk.</p></body></html>' \
    >"$TMP/www/otters.html"
WWW_PORT="$(free_port)"
$PY - "$TMP/www" "$WWW_PORT" <<'EOF' &
import http.server, os, sys, time
root, port = sys.argv[1], int(sys.argv[2])
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k): super().__init__(*a, directory=root, **k)
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/stall/"):
            time.sleep(120); return
        return super().do_GET()
s = http.server.ThreadingHTTPServer(("127.0.0.1", port), H); s.daemon_threads = True
s.serve_forever()
EOF
PIDS+=($!)
WWW="http://127.0.0.1:$WWW_PORT"

start_sluiced main || exit 1
export SLUICE_SERVER="http://127.0.0.1:$PORT_main"
unset SLUICE_KEY

# --- usage -----------------------------------------------------------------
expect 0 "help" -- "$CLI" --help
contains "help documents exit codes" "5  still rate-limited (429) after the retries"
expect 2 "no command" -- "$CLI"
expect 2 "unknown command" -- "$CLI" frobnicate
expect 2 "unknown option" -- "$CLI" --bogus ls
expect 2 "bad -k" -- "$CLI" search x -k zero
expect 2 "bad --mode" -- "$CLI" search x --mode fuzzy
contains "bad --mode explained" "unknown search mode"
expect 2 "missing file" -- "$CLI" ingest "$TMP/does-not-exist.pdf"
expect 2 "bad state" -- "$CLI" jobs --state done

# --- ingest a directory, plain lines (stdout is not a terminal) -------------
mkdir -p "$TMP/dir/sub/deeper"
echo "Alpha notes: the quartz harmonica hums in winter." >"$TMP/dir/a.txt"
printf '# Beta\n\nBeta talks about sailing barges on the Thames.\n' >"$TMP/dir/sub/b.md"
echo "Gamma: tortoises prefer dandelions to lettuce." >"$TMP/dir/sub/deeper/c.txt"
expect 0 "ingest DIR --wait" -- "$CLI" ingest "$TMP/dir" --wait
n=$(grep -c " completed " <<<"$OUT")
[ "$n" -eq 3 ] && ok "three documents completed (recursively)" || bad "expected 3 completed lines, got $n" "$OUT"
# (stage_started/stage_completed: the journal keeps those even when the job
# completed before they reached it, which a loaded machine makes common;
# stage_progress of a finished job is dropped by design)
contains "plain progress lines" "stage_completed"

expect 0 "ingest --json" -- "$CLI" --json ingest "$WWW/otters.html" --wait
st=$($PY -c 'import json,sys; d=json.load(sys.stdin); print(d["documents"][0]["status"])' <<<"$OUT" 2>&1)
[ "$st" = "completed" ] && ok "--json ingest result" || bad "--json ingest status '$st'" "$OUT"

expect 0 "ls" -- "$CLI" ls
contains "ls lists documents" "(4 documents)"
expect 0 "ls --json" -- "$CLI" --json ls
DOC=$($PY -c 'import json,sys; d=json.load(sys.stdin); print([x["id"] for x in d["documents"] if "Otters" in (x.get("title") or "")][0])' <<<"$OUT" 2>/dev/null)
[ -n "$DOC" ] && ok "ls --json parses" || bad "no Otters document in ls --json" "$OUT"
expect 0 "jobs" -- "$CLI" jobs --state completed
n=$(grep -c " completed " <<<"$OUT")
[ "$n" -eq 4 ] && ok "jobs --state completed lists 4" || bad "jobs --state: $n" "$OUT"
expect 0 "show document" -- "$CLI" show "$DOC"
contains "show prints the title" "Otters"
expect 0 "search" -- "$CLI" search river otters juggle pebbles -k 2
contains "search finds the page" "$DOC"
expect 0 "search --mode lexical" -- "$CLI" search --mode lexical OTTERS juggle
contains "lexical hit is the page" "$DOC"
contains "lexical hit says words" "(words)"
expect 0 "search --doc" -- "$CLI" --json search river otters --doc "$DOC"
$PY -c 'import json,sys; d=json.load(sys.stdin); assert d["hits"] and all(h["document_id"]==sys.argv[1] for h in d["hits"])' "$DOC" <<<"$OUT" \
    && ok "search --doc stays in the document" || bad "search --doc" "$OUT"
expect 2 "search --doc bad id is refused (400)" -- "$CLI" search x --doc 'bad id!'
expect 0 "search --json" -- "$CLI" --json search "quartz harmonica"
$PY -c 'import json,sys; d=json.load(sys.stdin); assert "quartz harmonica" in d["hits"][0]["text"]' <<<"$OUT" \
    && ok "search --json top hit" || bad "search --json" "$OUT"
expect 0 "status" -- "$CLI" status
contains "status shows the model" "model"
# workspace chunking: shown, changed, refused with the reason, reset
expect 0 "chunking shown" -- "$CLI" chunking
contains "chunking: the server's settings" "settings        the server's"
expect 0 "chunking changed" -- "$CLI" chunking target_tokens=64 overlap_tokens=8
contains "chunking: new target" "target_tokens   64"
contains "chunking: the workspace's own" "settings        the workspace's own"
expect 2 "chunking: bad overlap refused" -- "$CLI" chunking overlap_tokens=50
contains "chunking: the reason" "half of target_tokens"
expect 2 "chunking: not KEY=VALUE" -- "$CLI" chunking target_tokens
expect 0 "chunking reset" -- "$CLI" chunking reset
contains "chunking: back to the server's" "settings        the server's"
# sections and tables (structure): the hit's section on its own line, [table]
expect 0 "search shows the section" -- "$CLI" search --mode lexical sailing barges -k 1
grep -qx '   Beta' <<<"$OUT" && ok "hit's section line" || bad "no section line '   Beta'" "$OUT"
printf '# Tides\n\n| Port | High water |\n|---|---|\n| Gravesend | 04:12 |\n| Tilbury | 04:20 |\n' >"$TMP/tides.md"
expect 0 "ingest a Markdown table" -- "$CLI" ingest "$TMP/tides.md" --wait
printf 'Ferry timetable for the estuary crossings.\n' >"$TMP/ferries.txt"
expect 0 "ingest with attributes" -- "$CLI" ingest "$TMP/ferries.txt" --wait --meta team=harbour --meta tags=ferry,tide
expect 0 "ls shows attributes" -- "$CLI" ls
grep -q ' team=harbour tags=ferry,tide$\| tags=ferry,tide team=harbour$' <<<"$OUT" \
    && ok "ls: a document's attributes under it" || bad "ls: no attributes line" "$OUT"
expect 0 "search the table" -- "$CLI" search --mode lexical Gravesend -k 1
contains "table badge" "[table]"
grep -qx '   | Port | High water |' <<<"$OUT" && ok "table hit: header row on its own line" \
    || bad "table rows not one per line" "$OUT"
expect 0 "rm" -- "$CLI" rm "$DOC"
expect 4 "rm again is not found" -- "$CLI" rm "$DOC"
expect 4 "show missing" -- "$CLI" show 0123456789abcdef0123456789abcdef

# --- failures ----------------------------------------------------------------
expect 1 "a job that fails exits 1" -- "$CLI" ingest "$WWW/missing.html" --wait
contains "says why it failed" "failed"
printf 'GIF89a' >"$TMP/pic.gif"
expect 2 "unsupported type is refused (415)" -- "$CLI" ingest "$TMP/pic.gif"
contains "415 explained" "unsupported"
expect 3 "unreachable server" -- "$CLI" --server http://127.0.0.1:1 ls

# --- PDF from the generated corpus (tests/corpus.py): page numbers in search --
if CORPUS="$($PY "$ROOT/tests/corpus.py")"; then
    expect 0 "ingest a PDF" -- "$CLI" ingest "$CORPUS/pdf/currency.pdf" --wait
    expect 0 "search the PDF" -- "$CLI" search "official euro symbol is not provided by default" -k 1
    contains "hit on page 3" "p. 3"
else
    bad "tests/corpus.py could not build the test corpus"
fi

# --- a scan goes through the ocr stage, and --wait follows it there ----------
# An image-only PDF, made as tests/test_ocr.py makes them: a text PDF
# (tests/corpus.py make_pdf) drawn to PNG by mutool, wrapped by img2pdf.
if command -v img2pdf >/dev/null && command -v mutool >/dev/null; then
    $PY -c 'import sys; sys.path.insert(0, sys.argv[1]); from corpus import make_pdf
make_pdf(sys.argv[2], ["Field notes on the bittern, which booms from the reeds below the old mill at dusk.",
                       "Field notes on the water rail, which squeals from the ditch beside the towpath."])' \
        "$ROOT/tests" "$TMP/scan-src.pdf"
    mutool draw -q -r 150 -c gray -o "$TMP/scan-%d.png" "$TMP/scan-src.pdf"
    img2pdf --output "$TMP/scan.pdf" "$TMP/scan-1.png"
    # three scanned pages: ocr lasts long enough for a frame of the bar
    # (it redraws every 100 ms, and a loaded machine delivers events in bursts)
    img2pdf --output "$TMP/scan-tty.pdf" "$TMP/scan-2.png" "$TMP/scan-1.png" "$TMP/scan-2.png"
    expect 0 "ingest a scan --wait" -- "$CLI" ingest "$TMP/scan.pdf" --wait
    contains "--wait follows the ocr stage" "stage_completed scan.pdf: ocr done in"
    # on a terminal the bar goes on from parse's 40% through ocr (15% of its own)
    if command -v script >/dev/null; then
        OUT="$(script -qec "$CLI ingest $TMP/scan-tty.pdf --wait" /dev/null 2>&1)"
        grep -qE 'scan-tty\.pdf +\[[#.]{20}\] +(4[0-9]|5[0-5])%  ocr' <<<"$OUT" \
            && ok "terminal: the bar shows the ocr stage" || bad "no ocr bar line on a tty" "$OUT"
    fi
else
    bad "img2pdf and mutool are needed to make a scan"
fi

# --- progress bars on a terminal (script(1) gives the CLI a pty) ------------
if command -v script >/dev/null; then
    echo "Delta: a terminal shows bars." >"$TMP/d.txt"
    OUT="$(script -qec "$CLI ingest $TMP/d.txt --wait" /dev/null 2>&1)"
    grep -q "✓.*d.txt: document" <<<"$OUT" && ok "terminal: final tick line" || bad "no tick line on a tty" "$OUT"
    grep -q "following" <<<"$OUT" && ok "terminal: progress mode" || bad "no progress mode on a tty" "$OUT"
fi

# --- folder-relative names: `ingest d` names files d/a/n.txt, d/b/n.txt ------
# Two different files with the same base name are two documents: the CLI
# sends the path relative to the folder's parent, and a source names one
# document (docs/architecture.md, "Identity").
mkdir -p "$TMP/names/d/a" "$TMP/names/d/b"
echo "Lantern notes: alpha, kept in the first folder." >"$TMP/names/d/a/n.txt"
echo "Lantern notes: beta, kept in the second folder." >"$TMP/names/d/b/n.txt"
expect 0 "ingest d --wait (relative folder)" -- bash -c "cd '$TMP/names' && '$CLI' ingest d --wait"
contains "d/a/n.txt named from the folder" "d/a/n.txt"
contains "d/b/n.txt named from the folder" "d/b/n.txt"
expect 0 "jobs --json after ingest d" -- "$CLI" --json jobs --limit 100
$PY -c 'import json,sys; s={j["source"] for j in json.load(sys.stdin)["jobs"]}; assert {"upload:d/a/n.txt","upload:d/b/n.txt"} <= s, s' <<<"$OUT" \
    && ok "the requests carried d/a/n.txt and d/b/n.txt" || bad "job sources are not the relative paths" "$OUT"
expect 0 "ingest an absolute folder path" -- "$CLI" --json ingest "$TMP/names/d/a/"
$PY -c 'import json,sys; d=json.load(sys.stdin)["documents"]; assert [x["name"] for x in d]==["a/n.txt"], d' <<<"$OUT" \
    && ok "an absolute path is named from its last folder" || bad "absolute folder naming" "$OUT"
expect 0 "ls --json after ingest d" -- "$CLI" --json ls --limit 1000
listed=$($PY -c 'import json,sys
d=json.load(sys.stdin)["documents"]
names={x.get("name") or (x.get("source") or "").replace("upload:","",1) for x in d}
print(len({"d/a/n.txt","d/b/n.txt"} & names))' <<<"$OUT" 2>&1)
if [ "$listed" = "2" ]; then
    ok "d/a/n.txt and d/b/n.txt are both listed"
else
    bad "d/a/n.txt and d/b/n.txt both listed" "$listed of 2: $OUT"
fi

# --- keys --------------------------------------------------------------------
start_sluiced keyed --set auth.keys=cli-key-123456:clispace || exit 1
KEYED="http://127.0.0.1:$PORT_keyed"
expect 2 "missing key is refused" -- "$CLI" --server "$KEYED" ls
contains "401 explained" "401"
expect 0 "--key" -- "$CLI" --server "$KEYED" --key cli-key-123456 ls
expect 0 "SLUICE_KEY" -- env SLUICE_KEY=cli-key-123456 "$CLI" --server "$KEYED" jobs

# --- rate limit: one pending job allowed, and it is stalled ------------------
start_sluiced limited --set jobs.max_pending=1 || exit 1
LIMITED="http://127.0.0.1:$PORT_limited"
expect 0 "first stalled job accepted" -- "$CLI" --server "$LIMITED" ingest "$WWW/stall/one.html"
expect 5 "second is rate-limited after retries" -- "$CLI" --server "$LIMITED" --retries 1 ingest "$WWW/stall/two.html"
contains "retry announced" "retrying in"

# --- the server goes away mid-wait -----------------------------------------
expect 0 "stalled job accepted on main" -- "$CLI" ingest "$WWW/stall/three.html"
kill -9 "$PID_main"; wait "$PID_main" 2>/dev/null
expect 3 "server gone" -- "$CLI" jobs

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
