#!/usr/bin/env bash
# Builds bootstrap-test/kind-node:latest, the image the kind double runs as a "node": the
# kind-node-double binary (crates/testkit) plus the shared libraries ldd lists for it, on
# FROM scratch (no image can be pulled here). Rebuilt when the binary changed; the binary is
# brought up to date first (`cargo test` of the root package does not build testkit's binaries).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Where cargo puts it: $CARGO_TARGET_DIR when set (a relative one is relative to the checkout).
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/kind-node-double}"
# Always build: cargo does nothing when the binary is current, and a stale one would be imaged.
[ -n "${1:-}" ] || cargo build -q -p testkit --bin kind-node-double
sum=$(sha256sum "$bin" | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "bin-sum"}}' bootstrap-test/kind-node:latest 2>/dev/null)" = "$sum" ]; then
  docker image inspect bootstrap-test/kind-node:v2 >/dev/null 2>&1 || docker tag bootstrap-test/kind-node:latest bootstrap-test/kind-node:v2
  exit 0
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/out"
cp "$bin" "$ctx/root/kind-node-double"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$ctx/root$(dirname "$lib")"
  cp -L "$lib" "$ctx/root$lib"
done
cat > "$ctx/Dockerfile" <<DOCKER
FROM scratch
COPY root/ /
LABEL bin-sum=$sum
ENTRYPOINT ["/kind-node-double"]
DOCKER
DOCKER_BUILDKIT=0 docker build -q -t bootstrap-test/kind-node:latest "$ctx" >/dev/null 2>&1 || docker build -q -t bootstrap-test/kind-node:latest "$ctx" >/dev/null
docker tag bootstrap-test/kind-node:latest bootstrap-test/kind-node:v2
echo "built bootstrap-test/kind-node:latest ($sum)"
