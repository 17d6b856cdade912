#!/usr/bin/env bash
# ann.sh: the vector index exact and through its HNSW graph, one run each.
#
#   bash bench/ann.sh               (N=1000000 DIM=512 CLUSTERS=1000 QUERIES=1000)
#   CLUSTERS=0 bash bench/ann.sh    (uniform noise: the worst case of a graph)
#
# Builds bench_ann (Release, build-rel) and runs it on N generated unit
# vectors: exact load rate and p50/p99, the graph's build rate (one thread),
# memory per vector of each, recall@10 of the graph against exact at several
# search widths, p50/p99 and the speed-up, filtered searches (1 % / 10 % of
# the rows by id, 10 % by tag), and restart-to-ready: reading and checking
# the graph file against building it. The graph file is kept in GRAPHS
# (default /tmp/sluice-ann) so a second run reads it instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
DIM=${DIM:-512}
CLUSTERS=${CLUSTERS:-1000}
QUERIES=${QUERIES:-1000}
GRAPHS=${GRAPHS:-/tmp/sluice-ann}
mkdir -p "$GRAPHS"
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-rel -j2 --target bench_ann >/dev/null
echo "== bench_ann: $N x $DIM, $CLUSTERS clusters, $QUERIES queries"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
/usr/bin/time -f "peak_rss_mb %M" env OPENBLAS_NUM_THREADS=1 ./build-rel/bench/bench_ann \
  "$N" "$DIM" "$CLUSTERS" "$GRAPHS/graph-$N-$DIM-$CLUSTERS.hnsw" "$QUERIES" 2>&1
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
