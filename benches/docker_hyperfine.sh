#!/usr/bin/env bash
# Independent timing of `bootstrap up` (converged) and `bootstrap status` with hyperfine, against
# `docker ps` as the baseline, on a cluster made by the kind double. Needs Docker, hyperfine
# (apt-get install hyperfine) and a built binary: BOOTSTRAP_BIN (default target/release/bootstrap).
# `up` exits 1 in this build after the cluster step (later steps not landed), hence -i.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BOOTSTRAP_BIN:-target/release/bootstrap}
command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$bin" ] || { echo "$bin is missing: cargo build --release" >&2; exit 1; }
tests/support/make-images.sh >/dev/null
work=$(mktemp -d)
name=bthf$$
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0",0)); print(s.getsockname()[1])'; }
api=$(free_port) https=$(free_port)
cat >"$work/envs.yaml" <<YAML
apiVersion: bootstrap/v1alpha1
router: {httpsPort: $https}
cluster:
  name: $name
  nodeImage: bootstrap-test/busybox:latest
  apiServer: {address: 127.0.0.1, port: $api}
YAML
export BOOTSTRAP_KIND=$PWD/tests/doubles/kind BOOTSTRAP_FILE=$work/envs.yaml HOME=$work KUBECONFIG=$work/kubeconfig
cleanup() { "$bin" down >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
out=$("$bin" up 2>&1 || true)
grep -q "created" <<<"$out" || { echo "could not create the bench cluster: $out" >&2; exit 1; }
hyperfine -N -w 3 -r 30 -i \
  -n "docker ps (baseline)" "docker ps" \
  -n "bootstrap up (converged)" "$bin up" \
  -n "bootstrap status" "$bin status" \
  -n "bootstrap status -o json" "$bin status -o json"
