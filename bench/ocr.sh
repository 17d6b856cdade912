#!/usr/bin/env bash
# ocr.sh: accuracy and speed of the ocr stage's library beside ocrmypdf,
# on the same scans, in the same run.
#
#   1. PAGES clean English manual pages (tests/corpus.py, the "intro"
#      manual: Helvetica 10 pt, ~300 words each) written as a text PDF;
#   2. rendered at 300 dpi grayscale (mutool draw) and wrapped into an
#      image-only PDF (img2pdf): the scan both OCR engines read;
#   3. the reference is the text layer of the same pages (mutool draw -F txt);
#   4. ours: bench_ocr (sl_ocr: MuPDF render at 300 dpi + Tesseract C API,
#      one thread, one loaded TessBaseAPI); ocrmypdf --force-ocr -j 1 as
#      installed (default output: PDF/A), and ocrmypdf with its own PDF
#      work cut down (--output-type pdf --optimize 0), each with a sidecar
#      text file for the accuracy figure;
#   5. character error rate (Levenshtein / reference length, whitespace
#      runs collapsed) over all pages, pages/s of wall time, and pages per
#      CPU-second (user + system, children included: a core's throughput,
#      robust on a shared machine).
# Both run with OMP_THREAD_LIMIT=1 (Debian's advice for libtesseract; one
# core each). Prints a Markdown section for bench/RESULTS.md.
# Usage: bash bench/ocr.sh   (PAGES=10 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAGES=${PAGES:-10}
export OMP_THREAD_LIMIT=1
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-rel -j2 --target bench_ocr >/dev/null
BENCH=$ROOT/build-rel/bench/bench_ocr
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

/usr/bin/python3 - "$TMP/text.pdf" "$PAGES" <<'PY'
import sys
sys.path.insert(0, "tests")
from corpus import make_pdf, page_text
path, pages = sys.argv[1], int(sys.argv[2])
make_pdf(path, [page_text("intro.pdf", 1 + (p % 13)) for p in range(pages)], title="OCR bench")
PY
mutool draw -q -F txt -o "$TMP/ref-%d.txt" "$TMP/text.pdf" 2>/dev/null
mutool draw -q -r 300 -c gray -o "$TMP/scan-%03d.png" "$TMP/text.pdf" 2>/dev/null
img2pdf --output "$TMP/scan.pdf" "$TMP"/scan-*.png
SCAN_MB=$(du -m "$TMP/scan.pdf" | cut -f1)

# cer DIR PREFIX: CER of DIR/PREFIX<n>.txt against the reference, all pages
cer () {
  local edits=0 chars=0 out
  for p in $(seq "$PAGES"); do
    out=$("$BENCH" cer "$TMP/ref-$p.txt" "$1/$2$p.txt")
    edits=$((edits + $(sed -n 's/.*edits=\([0-9]*\).*/\1/p' <<<"$out")))
    chars=$((chars + $(sed -n 's/.*ref_chars=\([0-9]*\).*/\1/p' <<<"$out")))
  done
  echo "$edits $chars" | awk '{printf "%.2f", 100 * $1 / $2}'
}

# timed NAME CMD...: wall seconds and CPU seconds (children included)
timed () {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$TMP/$name.time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" \
    || { echo "ocr.sh: $name failed:" >&2; tail -5 "$TMP/$name.err" >&2; exit 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$TMP/$name.time"
}

# split_sidecar FILE DIR: ocrmypdf's sidecar has one page per form feed
split_sidecar () {
  mkdir -p "$2"
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
pages = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\f")
for i, text in enumerate(pages[:-1] if pages[-1].strip() == "" else pages, 1):
    open("%s/page-%d.txt" % (sys.argv[2], i), "w").write(text)
PY
}

echo "== ours (sl_ocr, 300 dpi)"
read -r OURS_WALL OURS_CPU < <(timed ours "$BENCH" ocr 300 "$TMP/scan.pdf" "$TMP/ours")
cat "$TMP/ours.out"
OURS_CER=$(cer "$TMP/ours" page-)

echo "== ocrmypdf --force-ocr -j 1 (defaults: PDF/A output)"
read -r OMP_WALL OMP_CPU < <(timed ocrmypdf ocrmypdf --force-ocr -j 1 -l eng --sidecar "$TMP/side.txt" \
  "$TMP/scan.pdf" "$TMP/ocrmypdf.pdf")
split_sidecar "$TMP/side.txt" "$TMP/omp"
OMP_CER=$(cer "$TMP/omp" page-)

echo "== ocrmypdf --force-ocr -j 1 --output-type pdf --optimize 0"
read -r LEAN_WALL LEAN_CPU < <(timed lean ocrmypdf --force-ocr -j 1 -l eng --output-type pdf --optimize 0 \
  --sidecar "$TMP/side-lean.txt" "$TMP/scan.pdf" "$TMP/lean.pdf")
split_sidecar "$TMP/side-lean.txt" "$TMP/lean"
LEAN_CER=$(cer "$TMP/lean" page-)

rate () { echo "$PAGES $1" | awk '{printf "%.3f", $1 / $2}'; }
OURS_PS=$(rate "$OURS_WALL"); OURS_PC=$(rate "$OURS_CPU")
OMP_PS=$(rate "$OMP_WALL"); OMP_PC=$(rate "$OMP_CPU")
LEAN_PS=$(rate "$LEAN_WALL"); LEAN_PC=$(rate "$LEAN_CPU")
ratio () { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }

cat <<MD

## OCR (ocr stage beside ocrmypdf)

$PAGES clean English manual pages (tests/corpus.py, Helvetica 10 pt) rendered at
300 dpi grayscale and wrapped by img2pdf into one image-only PDF ($SCAN_MB MiB); the
reference is the text layer of the same pages. One core each (-j 1, one
thread, OMP_THREAD_LIMIT=1), same run. Tesseract $(tesseract --version 2>&1 | head -1 | cut -d' ' -f2),
ocrmypdf $(ocrmypdf --version), $(getconf _NPROCESSORS_ONLN) cores shared with other work.

| engine | CER | pages/s (wall) | pages per CPU-second |
|---|---|---|---|
| Sluice ocr (sl_ocr: MuPDF 300 dpi + Tesseract C API) | ${OURS_CER} % | ${OURS_PS} | ${OURS_PC} |
| ocrmypdf --force-ocr -j 1 (default PDF/A output) | ${OMP_CER} % | ${OMP_PS} | ${OMP_PC} |
| ocrmypdf --force-ocr -j 1 --output-type pdf --optimize 0 | ${LEAN_CER} % | ${LEAN_PS} | ${LEAN_PC} |

Sluice / ocrmypdf (default): $(ratio "$OURS_PS" "$OMP_PS")x pages/s, $(ratio "$OURS_PC" "$OMP_PC")x per CPU-second.
Sluice / ocrmypdf (lean): $(ratio "$OURS_PS" "$LEAN_PS")x pages/s, $(ratio "$OURS_PC" "$LEAN_PC")x per CPU-second.
Goals (issue 13): CER <= 2 %, >= 1.5x ocrmypdf's pages/s.
Command: \`PAGES=$PAGES bash bench/ocr.sh\`
MD
