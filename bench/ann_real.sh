#!/usr/bin/env bash
# ann_real.sh: the vector index on real chunk vectors, up to 1M (issue 17).
#
#   bash bench/ann_real.sh                  (N=1000000 QUERIES=1000, all under /tmp/annreal)
#   N=200000 bash bench/ann_real.sh         (a smaller index from the same shards)
#   STOP_AFTER=embed bash bench/ann_real.sh (collect, chunk and embed only)
#
# Real text a Debian machine installs, no network:
#   1. collect: one text file per source document under $WORK/text/ --
#      English man pages (/usr/share/man/man*/*.gz, troff requests and
#      escapes stripped crudely), /usr/share/doc/** (.gz changelogs,
#      READMEs, .txt, .html with tags stripped; binary files skipped) and
#      the docstrings + comments of /usr/lib/python3*/**/*.py.
#   2. chunk: bench_use chunk (Sluice's own chunker, default target of 100
#      use tokens), FILES_PER_SHARD documents at a time, two processes.
#   3. dedup: exact-duplicate chunk texts dropped (first kept), the rest
#      shuffled (seed 17) so the held-out queries are a random sample of
#      all sources, cut to N + QUERIES rows, written as embed shards of
#      SHARD chunks ($WORK/embed/shard-NNN.json).
#   4. embed: bench_use embed --precision bf16 --batch 128 per shard, two
#      processes (the use encoder is single-threaded), vectors to
#      shard-NNN.f32 (n x 512 float32); only the first shards that
#      N + QUERIES rows need; a finished shard is skipped on a rerun, so
#      progress survives an interruption and a smaller N reuses a prefix.
#   5. bench: the shards concatenated (in order) into $WORK/vectors.f32;
#      bench_ann N 512 0 GRAPH QUERIES vectors.f32 -- the last QUERIES rows
#      are the queries, the rows before them (up to N) the index. If fewer
#      shards are embedded than asked for, the run uses what there is and
#      prints the N it got.
# Everything heavy runs under nice -n 19. Each stage is skipped when its
# output exists (delete $WORK/<stage> to redo it).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
QUERIES=${QUERIES:-1000}
WORK=${WORK:-/tmp/annreal}
SHARD=${SHARD:-25000}
FILES_PER_SHARD=${FILES_PER_SHARD:-400}
JOBS=${JOBS:-2}
STOP_AFTER=${STOP_AFTER:-}
MODEL=${MODEL:-models/use-lite}
NICE="nice -n 19"
mkdir -p "$WORK"
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
$NICE cmake --build build-rel -j2 --target bench_ann bench_use >/dev/null
BENCH_USE=$PWD/build-rel/bench/bench_use
BENCH_ANN=$PWD/build-rel/bench/bench_ann
log () { echo "== $(date -u +%H:%M:%S) $*"; }

# -- 1. collect -----------------------------------------------------------
if [ ! -f "$WORK/text/.done" ]; then
    log "collect -> $WORK/text"
    rm -rf "$WORK/text"
    mkdir -p "$WORK/text"
    $NICE python3 - "$WORK/text" <<'EOF'
import ast, glob, gzip, html, io, os, re, sys, tokenize
out = sys.argv[1]
count = {"man": 0, "doc": 0, "py": 0}
size = {"man": 0, "doc": 0, "py": 0}

def write(kind, name, text):
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if len(text) < 200:
        return
    d = os.path.join(out, kind)
    os.makedirs(d, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", name)[:180]
    with open(os.path.join(d, "%06d-%s.txt" % (count[kind], name)), "w") as f:
        f.write(text + "\n")
    count[kind] += 1
    size[kind] += len(text)

def decode(data):
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")

# man pages: requests dropped, text-carrying macros keep their arguments
TEXT_MACROS = set("SH SS B I BI BR IB IR RB RI SB SM TP IP HP OP UR MT Nm Nd Fl Ar Op Oo Oc Xr Pa "
                  "Ev Va Fn Fa Ft Cm Dv Er Ic Li Ms Sy Em Qq Dq Sq Ql Pq Ad An At Bx Ux Lk Mt It "
                  "Dl D1 Sh Ss Tn St Vt Xo Xc".split())
def strip_troff(src):
    lines, skip_def = [], False
    for line in src.split("\n"):
        if skip_def:
            if line.startswith(".."):
                skip_def = False
            continue
        if line.startswith((".\\\"", "'\\\"", '.\\"')):
            continue
        if line.startswith((".", "'")):
            parts = line[1:].strip().split(None, 1)
            if not parts:
                continue
            mac = parts[0]
            if mac in ("de", "de1", "am", "ig"):
                skip_def = True
                continue
            if mac in ("SH", "SS", "Sh", "Ss", "PP", "LP", "P", "sp", "TP", "IP", "HP", "Pp"):
                lines.append("")
            if mac in TEXT_MACROS and len(parts) > 1:
                args = parts[1]
                if mac == "IP":
                    args = args.split('"')[1] if args.startswith('"') else args.split()[0]
                line = args.replace('"', "")
            else:
                continue
        line = re.sub(r'\\".*$', "", line)
        line = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", line)
        line = re.sub(r"\\\*(\[[^\]]*\]|\(..|.)", "", line)
        line = re.sub(r"\\n(\[[^\]]*\]|\(..|.)", "", line)
        line = re.sub(r"\\s[+-]?\d", "", line)
        line = re.sub(r"\\[hvwlLDbox]'[^']*'", "", line)
        line = line.replace("\\(em", "--").replace("\\(en", "-").replace("\\(bu", "*")
        line = line.replace("\\(lq", '"').replace("\\(rq", '"').replace("\\(aq", "'")
        line = re.sub(r"\\\[[a-z]+\]", "", line)
        line = re.sub(r"\\\(..", "", line)
        line = line.replace("\\-", "-").replace("\\e", "\\\\").replace("\\ ", " ")
        line = re.sub(r"\\[&|^%c:acdrtuz0~,/]", "", line)
        line = line.replace("\\\\", "\\")
        lines.append(line)
    return "\n".join(lines)

for path in sorted(glob.glob("/usr/share/man/man*/*.gz")):
    try:
        src = decode(gzip.open(path).read())
    except (OSError, EOFError):
        continue
    if src is None or src.lstrip().startswith(".so "):
        continue
    write("man", os.path.basename(path)[:-3], strip_troff(src))

def strip_html(src):
    src = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", src)
    src = re.sub(r"(?is)<!--.*?-->", " ", src)
    src = re.sub(r"(?i)<(br|p|div|h[1-6]|li|tr|pre|dt|dd)\b[^>]*>", "\n", src)
    src = re.sub(r"(?s)<[^>]+>", "", src)
    return html.unescape(src)

SKIP = re.compile(r"\.(png|jpe?g|gif|svg|ico|pdf|ps|eps|bz2|xz|zip|tgz|jar|pyc|so|mo|gmo|woff2?|ttf|otf|js|css|json|inv|pickle|doctree|map)(\.gz)?$", re.I)
for root, dirs, files in os.walk("/usr/share/doc"):
    dirs.sort()
    for fname in sorted(files):
        path = os.path.join(root, fname)
        if os.path.islink(path) or SKIP.search(fname):
            continue
        try:
            data = open(path, "rb").read()
            if fname.endswith(".gz"):
                data = gzip.decompress(data)
        except (OSError, EOFError):
            continue
        text = decode(data)
        if text is None:
            continue
        if re.search(r"\.x?html?(\.gz)?$", fname, re.I):
            text = strip_html(text)
        rel = os.path.relpath(path, "/usr/share/doc")
        write("doc", rel.replace("/", "__"), text)

for base in sorted(glob.glob("/usr/lib/python3*/")):
    for root, dirs, files in os.walk(base):
        dirs.sort()
        for fname in sorted(files):
            if not fname.endswith(".py"):
                continue
            path = os.path.join(root, fname)
            try:
                src = open(path, "rb").read().decode("utf-8")
                tree = ast.parse(src)
            except Exception:
                continue
            parts = []
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        parts.append(doc)
            comment = []
            try:
                for tok in tokenize.generate_tokens(io.StringIO(src).readline):
                    if tok.type == tokenize.COMMENT:
                        c = tok.string.lstrip("#").strip()
                        if c and not c.startswith("!"):
                            comment.append(c)
                    elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT) and comment:
                        parts.append(" ".join(comment))
                        comment = []
            except (tokenize.TokenError, SyntaxError):
                pass
            if comment:
                parts.append(" ".join(comment))
            write("py", os.path.relpath(path, "/usr/lib").replace("/", "__"), "\n\n".join(parts))

for k in count:
    print("collect %s: %d documents, %.1f MB of text" % (k, count[k], size[k] / 1e6))
EOF
    touch "$WORK/text/.done"
fi
[ "$STOP_AFTER" = collect ] && exit 0

# -- 2. chunk -------------------------------------------------------------
if [ ! -f "$WORK/chunks/.done" ]; then
    log "chunk -> $WORK/chunks ($FILES_PER_SHARD documents a process, $JOBS processes)"
    rm -rf "$WORK/chunks"
    mkdir -p "$WORK/chunks/lists"
    find "$WORK/text" -name '*.txt' | sort > "$WORK/chunks/all-files"
    split -d -a 4 -l "$FILES_PER_SHARD" "$WORK/chunks/all-files" "$WORK/chunks/lists/"
    ls "$WORK/chunks/lists" | $NICE xargs -P "$JOBS" -I{} sh -c \
        'xargs -a "$1/lists/$2" "$3" chunk --model "$4" --max 100000000 --out "$1/$2.json" 2>>"$1/chunk.log"' \
        _ "$WORK/chunks" {} "$BENCH_USE" "$MODEL"
    touch "$WORK/chunks/.done"
fi
[ "$STOP_AFTER" = chunk ] && exit 0

# -- 3. dedup + shuffle + shard ---------------------------------------------
if [ ! -f "$WORK/embed/.done" ]; then
    log "dedup -> $WORK/embed (shards of $SHARD)"
    rm -rf "$WORK/embed"
    mkdir -p "$WORK/embed"
    $NICE python3 - "$WORK/chunks" "$WORK/embed" "$((N + QUERIES))" "$SHARD" <<'EOF'
import glob, json, random, sys
src, dst, want, shard = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
seen, texts, total = set(), [], 0
for path in sorted(glob.glob(src + "/[0-9]*.json")):
    for t in json.load(open(path))["texts"]:
        total += 1
        if t not in seen:
            seen.add(t)
            texts.append(t)
print("dedup: %d chunks, %d distinct (%d exact duplicates dropped)" % (total, len(texts), total - len(texts)))
random.Random(17).shuffle(texts)
texts = texts[:want]
print("dedup: %d rows kept (asked %d), %d shards" % (len(texts), want, (len(texts) + shard - 1) // shard))
for i in range(0, len(texts), shard):
    with open("%s/shard-%03d.json" % (dst, i // shard), "w") as f:
        json.dump({"texts": texts[i:i + shard]}, f)
EOF
    touch "$WORK/embed/.done"
fi
[ "$STOP_AFTER" = dedup ] && exit 0

# -- 4. embed ---------------------------------------------------------------
# Only the shards N + QUERIES rows need (a smaller N reuses a prefix).
NSHARDS=$(( (N + QUERIES + SHARD - 1) / SHARD ))
log "embed (bf16, batch 128, $JOBS processes, $NSHARDS shards)"
ls "$WORK/embed" | grep '^shard-.*\.json$' | sed 's/\.json$//' | head -n "$NSHARDS" | $NICE xargs -P "$JOBS" -I{} sh -c \
    '[ -f "$1/$2.f32" ] || { "$3" embed --model "$4" --in "$1/$2.json" --batch 128 --seconds 0 \
        --precision bf16 --vectors "$1/$2.f32.tmp" > "$1/$2.log" 2>&1 && mv "$1/$2.f32.tmp" "$1/$2.f32" \
        && echo "== $(date -u +%H:%M:%S) $2 $(cat "$1/$2.log")"; }' \
    _ "$WORK/embed" {} "$BENCH_USE" "$MODEL"
[ "$STOP_AFTER" = embed ] && exit 0

# -- 5. bench_ann -------------------------------------------------------------
# The shards in order, up to the first one missing (an interrupted embed).
rm -f "$WORK/vectors.f32"
for j in $(ls "$WORK"/embed/shard-*.json | head -n "$NSHARDS"); do
    v=${j%.json}.f32
    [ -f "$v" ] || break
    cat "$v" >> "$WORK/vectors.f32"
done
ROWS=$(( $(stat -c %s "$WORK/vectors.f32") / 2048 ))
INDEX=$(( ROWS - QUERIES < N ? ROWS - QUERIES : N ))
mkdir -p "$WORK/graphs"
log "bench_ann: $ROWS rows embedded -> $INDEX indexed + $QUERIES queries"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
/usr/bin/time -f "peak_rss_kb %M" $NICE env OPENBLAS_NUM_THREADS=1 "$BENCH_ANN" \
  "$INDEX" 512 0 "$WORK/graphs/real-$INDEX.hnsw" "$QUERIES" "$WORK/vectors.f32" 2>&1
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
