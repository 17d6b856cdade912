#!/usr/bin/env bash
# run.sh: install what Sluice needs, build it, and start everything in one
# process (the embedded default): broker + every actor as threads, SQLite
# in ./data, HTTP on http://127.0.0.1:8080. Extra arguments go to sluiced,
# e.g.  bash scripts/run.sh --set http.port=9090
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target sluiced sluice
mkdir -p data
echo "Starting Sluice (Ctrl-C to stop). Data in $PWD/data"
exec ./build/actors/sluiced --data ./data "$@"
