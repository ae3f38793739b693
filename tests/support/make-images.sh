#!/usr/bin/env bash
# Builds the local test images (no registry is reachable): an image holding only Debian's
# busybox-static, imported from a tarball. Idempotent: an existing image is left as is.
#   bootstrap-test/busybox:latest  what the kind double runs as a "node"
#   bootstrap-test/node:v2         the same bits under another name, to make node-image drift
set -euo pipefail
BUSYBOX=${BUSYBOX:-/bin/busybox}
have() { docker image inspect "$1" >/dev/null 2>&1; }
if ! have bootstrap-test/busybox:latest; then
  [ -x "$BUSYBOX" ] || { echo "make-images: $BUSYBOX is missing (apt-get install busybox-static)" >&2; exit 1; }
  # A static busybox is required: the image has no libc.
  if ldd "$BUSYBOX" >/dev/null 2>&1; then echo "make-images: $BUSYBOX is not static (install busybox-static)" >&2; exit 1; fi
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/www"
  cp "$BUSYBOX" "$dir/bin/busybox"
  ln -s busybox "$dir/bin/sh"
  ln -s busybox "$dir/bin/sleep"
  echo ok > "$dir/www/index.html"
  tar -C "$dir" -c . | docker import \
    --change 'CMD ["/bin/busybox","sleep","2147483647"]' - bootstrap-test/busybox:latest >/dev/null
fi
have bootstrap-test/node:v2 || docker tag bootstrap-test/busybox:latest bootstrap-test/node:v2
echo "bootstrap-test/busybox:latest bootstrap-test/node:v2"
