#!/usr/bin/env bash
# Offline validation of deploy/ (ARCHITECTURE §9, issue 8). CTest runs it as
# deploy_manifests (label "deploy"); it needs no cluster and no Docker.
#   1. yamllint --strict on the sources (deploy/k8s/.yamllint)
#   2. kubectl kustomize renders overlays/dev and overlays/production
#   3. check_manifests.py: the invariants on the rendered YAML (probes,
#      resources, ports vs raceway.toml, images, HPA/PDB targets, security
#      context, drain timing, NetworkPolicy, migration ordering labels), and
#      its --self-test (injected violations must be caught)
#   4. check_manifests.py --rules: the optional PrometheusRule file
#   5. check_dockerfile.py: deploy/Dockerfile vs scripts/packages.txt (and the
#      built binaries' shared libraries when a build tree is found), and its
#      --self-test
# Prints one line per step and a final summary line; exits 1 on any violation.
# Tools (scripts/packages.txt, "# -- deploy validation"): kubectl, yamllint,
# python3-yaml. KUBECTL=/path/to/kubectl overrides the kubectl binary.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/deploy
K8S=$ROOT/deploy/k8s
PY=/usr/bin/python3
KUBECTL=${KUBECTL:-kubectl}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

failed=()
fail() { failed+=("$1"); }

missing=()
command -v "$KUBECTL" >/dev/null || missing+=("kubectl")
command -v yamllint >/dev/null || missing+=("yamllint")
"$PY" -c 'import yaml, tomllib' 2>/dev/null || missing+=("python3-yaml (for $PY, Python >= 3.11)")
if ((${#missing[@]})); then
  echo "validate.sh: missing ${missing[*]}: run scripts/setup"
  echo "deploy validation: FAILED (missing tools)"
  exit 1
fi

echo "== yamllint ($(yamllint --version))"
if yamllint --strict -c "$K8S/.yamllint" "$K8S"; then
  echo "yamllint: clean"
else
  fail yamllint
fi

kver=$("$KUBECTL" version --client 2>/dev/null | grep -Eo '(Kustomize Version: v[0-9.]+|GitVersion:"v[0-9.]+)' | head -1)
echo "== kubectl kustomize (${kver:-unknown version})"
rendered=()
for overlay in dev production; do
  out=$WORK/$overlay.yaml
  if "$KUBECTL" kustomize "$K8S/overlays/$overlay" >"$out" 2>"$WORK/$overlay.err"; then
    # The sources stay compatible with kustomize v2.0.3 (Debian 12's
    # kubernetes-client), so newer kustomize warns about bases/commonLabels/
    # patchesStrategicMerge; anything else on stderr is shown.
    grep -v "is deprecated. Please use" "$WORK/$overlay.err" || true
    echo "rendered overlays/$overlay: $(grep -c '^kind:' "$out") objects"
    rendered+=("$out")
  else
    cat "$WORK/$overlay.err"
    fail "render overlays/$overlay"
  fi
done

echo "== manifest invariants"
if ((${#rendered[@]})); then
  "$PY" "$HERE/check_manifests.py" --config-source "$ROOT/libs/service/config.cc" "${rendered[@]}" ||
    fail "manifest invariants"
  "$PY" "$HERE/check_manifests.py" --config-source "$ROOT/libs/service/config.cc" --self-test \
    "${rendered[@]}" || fail "manifest checker self-test"
fi
"$PY" "$HERE/check_manifests.py" --config-source "$ROOT/libs/service/config.cc" \
  --rules "$K8S/base/prometheus-rules.yaml" --kustomization "$K8S/base/kustomization.yaml" ||
  fail "prometheus rules"

echo "== Dockerfile"
# The build tree: CTest runs this from <build>/tests/deploy.
binaries=()
dir=$PWD
while [[ "$dir" != / && ! -f "$dir/CMakeCache.txt" ]]; do dir=$(dirname "$dir"); done
if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -Eq '^RACEWAY_SANITIZE:STRING=.+' "$dir/CMakeCache.txt"; then
  for b in raceway raceway-ingest raceway-query; do
    f=$(find "$dir" -maxdepth 4 -type f -name "$b" -perm -u+x 2>/dev/null | head -1)
    [[ -n "$f" ]] && binaries+=(--binary "$f")
  done
fi
"$PY" "$HERE/check_dockerfile.py" "${binaries[@]}" "$ROOT/deploy/Dockerfile" "$ROOT/scripts/packages.txt" ||
  fail "Dockerfile"
"$PY" "$HERE/check_dockerfile.py" --self-test "$ROOT/deploy/Dockerfile" "$ROOT/scripts/packages.txt" ||
  fail "Dockerfile checker self-test"

if ((${#failed[@]})); then
  echo "deploy validation: FAILED: $(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')"
  exit 1
fi
echo "deploy validation: OK (yamllint, ${#rendered[@]} overlays rendered and checked, self-tests, Dockerfile)"
