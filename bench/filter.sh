#!/usr/bin/env bash
# filter.sh: search latency with a filter on 100k chunks against without.
#
#   bash bench/filter.sh            (DOCS=2000 CHUNKS=100000 DIM=384 QUERIES=200)
#
# Builds bench_filter (Release, build-rel), fills a fresh SQLite store in a
# temp folder with DOCS documents of CHUNKS/DOCS chunks each (random unit
# vectors, random words, attributes group/half/year), then times QUERIES
# searches per mode with no filter, {"group": 7} (1 % of the documents) and
# {"half": true} (50 %), interleaved. Prints median / p95 ms and the ratio
# to the unfiltered search of the same mode.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${DOCS:-2000}
CHUNKS=${CHUNKS:-100000}
DIM=${DIM:-384}
QUERIES=${QUERIES:-200}
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-rel -j2 --target bench_filter >/dev/null
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
echo "== bench_filter: $DOCS documents, $CHUNKS chunks, dim $DIM, $QUERIES queries per filter"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
OPENBLAS_NUM_THREADS=1 ./build-rel/bench/bench_filter "$TMP" "$DOCS" "$CHUNKS" "$DIM" "$QUERIES"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
