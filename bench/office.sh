#!/usr/bin/env bash
# office.sh: DOCX and XLSX text extraction by Sluice's parse library beside
# pandoc (DOCX -> plain text) and LibreOffice headless (DOCX -> txt, XLSX ->
# csv), on the same generated files, same run, timed with hyperfine; then
# the words each tool found, compared (the goal: >= 10x faster, same text).
#
#   big.docx: 150 sections (heading, 4 paragraphs, a 3-item list, a 6x4
#             table), python3-docx;  big.xlsx: one sheet, 20,000 x 8 cells,
#             python3-openpyxl (tests/office_docs.py makes both).
# Sluice's figure is bench_office (sl_parse_file on the file, text
# discarded); LibreOffice's includes its start-up, as a conversion costs
# that every time it is run this way.
# Usage: bash bench/office.sh   (RUNS=5 by default). Not part of the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-5}
PY=/usr/bin/python3
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-rel -j2 --target bench_office >/dev/null
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
$PY -c "import sys; sys.path.insert(0, '$ROOT/tests'); import office_docs as o; \
o.make_big_docx('$TMP/big.docx'); o.make_big_xlsx('$TMP/big.xlsx')"
LO="soffice -env:UserInstallation=file://$TMP/lo --headless"
BENCH=$ROOT/build-rel/bench/bench_office
ls -l "$TMP/big.docx" "$TMP/big.xlsx"

echo "== DOCX"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$TMP/docx.json" \
  -n sluice "$BENCH $TMP/big.docx" \
  -n pandoc "pandoc -t plain $TMP/big.docx -o $TMP/pandoc.txt" \
  -n libreoffice "$LO --convert-to txt:Text --outdir $TMP/lo-docx $TMP/big.docx"
echo "== XLSX"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$TMP/xlsx.json" \
  -n sluice "$BENCH $TMP/big.xlsx" \
  -n libreoffice "$LO --convert-to csv --outdir $TMP/lo-xlsx $TMP/big.xlsx"

echo "== same text (word sets)"
"$BENCH" -p "$TMP/big.docx" > "$TMP/sluice-docx.txt"
"$BENCH" -p "$TMP/big.xlsx" > "$TMP/sluice-xlsx.txt"
$PY - "$TMP" <<'PYEOF'
import json, re, sys
tmp = sys.argv[1]
def words(path):
    # markup (#, |, ---) and punctuation are not words; numbers are
    return set(re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", open(path, errors="replace").read().lower()))
def mean(name, tool):
    for r in json.load(open("%s/%s.json" % (tmp, name)))["results"]:
        if r["command"] == tool:
            return r["mean"]
for name, ours, others in (("docx", "sluice-docx.txt", (("pandoc", "pandoc.txt"), ("libreoffice", "lo-docx/big.txt"))),
                           ("xlsx", "sluice-xlsx.txt", (("libreoffice", "lo-xlsx/big.csv"),))):
    a = words("%s/%s" % (tmp, ours))
    s = mean(name, "sluice")
    for tool, out in others:
        b = words("%s/%s" % (tmp, out))
        t = mean(name, tool)
        print("%s: sluice %.1f ms, %s %.1f ms: %.0fx faster; words: sluice %d, %s %d, common %d, "
              "only sluice %s, only %s %s" % (name, s * 1000, tool, t * 1000, t / s, len(a), tool, len(b),
              len(a & b), sorted(a - b)[:8], tool, sorted(b - a)[:8]))
PYEOF
