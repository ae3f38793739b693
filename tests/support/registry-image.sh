#!/usr/bin/env bash
# Builds bootstrap-test/registry:latest, a real image registry for the local-registry tests (no
# image can be pulled here): Debian's docker-registry package holds distribution's `registry`
# server; the image is that binary, the shared libraries ldd lists for it and a config serving
# plain HTTP on :5000 from /var/lib/registry (as the registry:3 image kind's guide runs does),
# on FROM scratch. Rebuilt when the binary changed.
set -euo pipefail
bin=${REGISTRY_BIN:-/usr/bin/docker-registry}
[ -x "$bin" ] || { echo "registry-image: $bin is missing (apt-get install docker-registry)" >&2; exit 1; }
sum=$(sha256sum "$bin" | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "bin-sum"}}' bootstrap-test/registry:latest 2>/dev/null)" = "$sum" ]; then
  exit 0
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/usr/bin" "$ctx/root/etc/docker/registry" "$ctx/root/var/lib/registry" "$ctx/root/tmp"
cp "$bin" "$ctx/root/usr/bin/registry"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$ctx/root$(dirname "$lib")"
  cp -L "$lib" "$ctx/root$lib"
done
cat > "$ctx/root/etc/docker/registry/config.yml" <<'YAML'
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
YAML
cat > "$ctx/Dockerfile" <<DOCKER
FROM scratch
COPY root/ /
LABEL bin-sum=$sum
EXPOSE 5000
ENTRYPOINT ["/usr/bin/registry", "serve", "/etc/docker/registry/config.yml"]
DOCKER
DOCKER_BUILDKIT=0 docker build -q -t bootstrap-test/registry:latest "$ctx" >/dev/null 2>&1 || docker build -q -t bootstrap-test/registry:latest "$ctx" >/dev/null
echo "built bootstrap-test/registry:latest ($sum)"
