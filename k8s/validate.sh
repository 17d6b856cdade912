#!/usr/bin/env bash
# validate.sh: render every kustomize target in k8s/ (base, overlays/dev,
# overlays/prod) and check the results offline, without a cluster:
# Kubernetes API schemas (npm kubernetes-models, @kubernetes-models/keda),
# unknown fields, references, pod security, probes and drain periods per
# role, sluiced settings against the C sources, KEDA triggers, a
# NetworkPolicy reachability matrix, and the Dockerfile's structure. Then it
# breaks the dev and prod renders in known ways and checks that every break
# is caught. tools/validate.mjs has the list.
#
#   bash k8s/validate.sh            failures only, then "N passed, N failed"
#   bash k8s/validate.sh -v         every check
#
# Needs kubectl >= 1.27 (or a standalone kustomize 5), Node.js >= 18 and
# npm; the first run installs the pinned npm packages into
# k8s/tools/node_modules with `npm ci` (the npm registry). Exit codes: 0 all
# passed, 1 a check failed, 77 skipped (a tool is missing; says which).
set -euo pipefail

K8S=$(cd "$(dirname "$0")" && pwd -P)
REPO=$(dirname "$K8S")
TOOLS="$K8S/tools"
VERBOSE=()
[ "${1:-}" = "-v" ] && VERBOSE=(--verbose)

skip() { echo "k8s: SKIP: $*"; exit 77; }

# --- the renderer: kustomize 5 (components, labels) -------------------------
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  RENDER=(kubectl kustomize)
  KVER=$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"kustomizeVersion": *"v\{0,1\}\([0-9][0-9]*\).*/\1/p')
elif command -v kustomize >/dev/null 2>&1; then
  RENDER=(kustomize build)
  KVER=$(kustomize version 2>/dev/null | sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p' | head -n 1)
else
  skip "neither kubectl nor kustomize is installed (kubectl >= 1.27 bundles kustomize 5; Debian bookworm's kubernetes-client 1.20 is too old)"
fi
[ "${KVER:-0}" -ge 5 ] 2>/dev/null \
  || skip "${RENDER[*]} bundles kustomize ${KVER:-unknown}; components and labels need kustomize 5 (kubectl >= 1.27)"

# --- Node.js and the pinned packages ----------------------------------------
command -v node >/dev/null 2>&1 || skip "node is not installed (Node.js >= 18)"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 18 ] || skip "Node.js $NODE_MAJOR is too old (>= 18)"
STAMP="$TOOLS/node_modules/.sluice-package-lock.json"
if ! cmp -s "$TOOLS/package-lock.json" "$STAMP" 2>/dev/null; then
  command -v npm >/dev/null 2>&1 || skip "npm is not installed (needed once, to install k8s/tools' packages)"
  echo "k8s: installing the validator's packages (npm ci in k8s/tools)"
  if ! (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "k8s: FAIL: npm ci in $TOOLS failed (is the npm registry reachable?)"
    echo "0 passed, 1 failed"
    exit 1
  fi
  cp "$TOOLS/package-lock.json" "$STAMP"
fi

# --- render ------------------------------------------------------------------
TMP=$(mktemp -d /tmp/sluice-k8s-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
TARGETS=()
for target in base overlays/dev overlays/prod; do
  name=$(basename "$target")
  if ! "${RENDER[@]}" "$K8S/$target" >"$TMP/$name.yaml" 2>"$TMP/$name.err"; then
    echo "k8s: FAIL: ${RENDER[*]} $target:"
    sed 's/^/    /' "$TMP/$name.err"
    : >"$TMP/$name.yaml"        # an empty render fails its "rendered" check
  fi
  TARGETS+=("$name=$TMP/$name.yaml")
done

# --- check ---------------------------------------------------------------------
exec node "$TOOLS/validate.mjs" --repo "$REPO" "${VERBOSE[@]}" \
  --external "prod=$K8S/overlays/prod/external-secrets.txt" \
  --selftest dev --selftest prod \
  "${TARGETS[@]}"
