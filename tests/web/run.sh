#!/usr/bin/env bash
# run.sh: the browser tests of the web page (tests/web/test_web.mjs).
#
#   tests/web/run.sh [--install] [test_name ...]
#
# Needs Debian's chromium (/usr/bin/chromium) and Node.js with npm; without
# either it installs nothing and exits 77, which ctest reports as skipped.
# playwright-core comes from the npm registry at the version package-lock.json
# pins (npm ci), into tests/web/node_modules (git-ignored); it is only
# reinstalled when that version is not the one already there. --install
# installs and exits (ctest runs it once as a fixture, so tests running in
# parallel never install at the same time).
# Env: SLUICED (the binary), SLUICE_WEB_SHOTS (screenshots).
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: no browser at $CHROMIUM (Debian package chromium)"
  echo "0 passed, 0 failed, 1 skipped"
  exit 77
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed for the browser tests"
  echo "0 passed, 0 failed, 1 skipped"
  exit 77
fi

want=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$want" != "$have" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ "${1:-}" = "--install" ]; then
  exit 0
fi
exec node test_web.mjs "$@"
